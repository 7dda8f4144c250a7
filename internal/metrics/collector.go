// Package metrics exports the dataplane's counters to Prometheus. The
// collector reads the counters when scraped; nothing is counted per packet
// through the Prometheus client.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
)

// Source gives the collector the bridges to report.
type Source interface {
	Bridges() []*dataplane.Bridge
}

// FastPathSource is a Source whose ports may have the eBPF fast path.
type FastPathSource interface {
	FastPathStats(ifindex int) (bpf.PortStats, bool)
}

// SharedSource is a Source with a shared punt receiver: the one socket
// the punts of every fast-path port arrive on.
type SharedSource interface {
	SharedStats() (dataplane.SharedStats, bool)
	SharedKernelDrops() (dataplane.KernelDrops, bool)
}

// TapSource is a Source with a tap: the one socket that receives the
// frames of every AF_PACKET port without the fast path.
type TapSource interface {
	TapStats() (dataplane.SharedStats, dataplane.KernelDrops, bool)
}

var portLabels = []string{"bridge", "port", "domid", "devid"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("xswitch_"+name, help, labels, nil)
}

var (
	rxPackets = desc("port_receive_packets_total", "Frames received from the port (valid or not), whichever path took them: userspace, or the eBPF fast path (forwarded or dropped in the kernel). A frame is counted once.", portLabels...)
	rxBytes   = desc("port_receive_bytes_total", "Bytes of the frames in port_receive_packets_total, as on the wire (VLAN tag included, no FCS).", portLabels...)
	txPackets = desc("port_transmit_packets_total", "Frames sent out of the port, whichever path sent them: userspace, or the eBPF fast path (frames it redirected to the port from another).", portLabels...)
	txBytes   = desc("port_transmit_bytes_total", "Bytes of the frames in port_transmit_packets_total, as on the wire (VLAN tag included, no FCS).", portLabels...)
	rxGSO     = desc("port_receive_gso_packets_total", "Super-frames received from the port: frames with segmentation offload pending, up to 64 KiB, passed on unsegmented.", portLabels...)
	flooded   = desc("port_flooded_packets_total", "Frames received from the port and flooded to every other port (broadcast, multicast, unknown unicast).", portLabels...)
	drops     = desc("port_drops_total", "Frames dropped, by reason, by the userspace path and the fast path together. Ingress reasons (runt, multicast_source, local_destination; spoofed: a source the port's anti-spoofing refuses; vlan: not in a VLAN of the port; isolated: from an isolated port to another; blocked: from a port blocked against a loop; storm: a flood over the port's storm-control limit) count on the receiving port, egress reasons (mtu, tx_error, port_removed) on the port the frame was bound for; ring_full counts frames the kernel could not put in the port's receive ring, truncated frames too long for a ring block.", append(portLabels, "reason")...)
	uplink    = desc("port_info", "Always 1; the port's kind, whether it is the bridge's uplink, and its fast-path mode (xdp, tc or off).", append(portLabels, "kind", "uplink", "fastpath")...)

	fpPackets   = desc("port_fastpath_packets_total", "Frames received from the port and forwarded by the eBPF fast path in the kernel; they are in port_receive_packets_total too.", portLabels...)
	fpBytes     = desc("port_fastpath_bytes_total", "Bytes of the frames in port_fastpath_packets_total.", portLabels...)
	fpXDP       = desc("port_fastpath_xdp_packets_total", "Of port_fastpath_packets_total, the frames native XDP redirected (the others TC did).", portLabels...)
	fpPunts     = desc("port_fastpath_punts_total", "Frames received from the port that the fast path handed to userspace, by reason.", append(portLabels, "reason")...)
	fpRedirErrs = desc("port_fastpath_redirect_errors_total", "XDP redirects from the port that the devmap refused; the frame went on to TC instead.", portLabels...)
	fpPuntErrs  = desc("port_fastpath_punt_errors_total", "Frames from the port that TC could not punt to userspace (a frame of over 16 KB that is no super-frame cannot grow by the punt header): dropped.", portLabels...)

	xskZeroCopy  = desc("port_afxdp_zerocopy", "1 when the AF_XDP port's sockets are bound in zero-copy mode, 0 in copy mode.", portLabels...)
	xskTxNoCopy  = desc("port_afxdp_transmit_uncopied_packets_total", "Frames the AF_XDP port sent from the receiving port's buffer, without a copy.", portLabels...)
	xskSegmented = desc("port_afxdp_segmented_packets_total", "GSO super-frames the AF_XDP port cut into segments in software before sending.", portLabels...)
	xskSegments  = desc("port_afxdp_segments_total", "Segments those super-frames gave.", portLabels...)
	xskCsums     = desc("port_afxdp_checksums_completed_total", "Received frames whose TCP or UDP checksum, left pending by a local stack, the AF_XDP port finished.", portLabels...)

	sockTxErrs   = desc("port_socket_transmit_errors_total", "Sends the port's sockets refused, by reason. AF_PACKET counts frames: too_big (longer than the MTU), busy (send buffer or device queue full), down (link down or gone), invalid, other. AF_XDP counts frames for too_big, no_buffer (no free UMEM frame or TX ring entry) and invalid, and failed wake-ups of the kernel, whose frames stay queued, for device_busy, down and other.", append(portLabels, "reason")...)
	pktFreezes   = desc("port_afpacket_ring_freezes_total", "Times the AF_PACKET port's receive ring ran full and the kernel stopped filling it until the switch handed a block back.", portLabels...)
	pktSockErrs  = desc("port_afpacket_socket_errors_total", "Asynchronous socket errors the AF_PACKET port took while it waited for frames, e.g. ENETDOWN while the link was down; the port goes on when the link comes back.", portLabels...)
	pktLastErrno = desc("port_afpacket_last_socket_error", "The errno of the latest of those socket errors (e.g. 100 for ENETDOWN); 0 if none.", portLabels...)

	fdbEntries  = desc("fdb_entries", "MAC addresses in the bridge's forwarding table.", "bridge")
	fdbMax      = desc("fdb_max_entries", "The bound on the learned MAC addresses of the bridge's table: learning past it evicts the oldest.", "bridge")
	fdbLearned  = desc("fdb_learned_total", "MAC addresses learned.", "bridge")
	fdbMoved    = desc("fdb_moved_total", "MAC addresses seen behind another port than the one they were learned on.", "bridge")
	fdbAged     = desc("fdb_aged_total", "MAC addresses expired after the aging time.", "bridge")
	fdbEvicted  = desc("fdb_evicted_total", "MAC addresses evicted to make room when the table was full.", "bridge")
	fdbRefused  = desc("fdb_refused_total", "Frames whose source MAC was not learned because a limit was reached, in userspace or in the fast path.", "bridge")
	fdbFlushed  = desc("fdb_flushed_total", "MAC addresses removed by a flush (a port removed, or an operator's request).", "bridge")
	bridgePorts = desc("bridge_ports", "Ports attached to the bridge.", "bridge")

	puntPorts   = desc("punt_receiver_ports", "Fast-path ports whose punted frames arrive on the shared punt socket.")
	puntFrames  = desc("punt_receiver_frames_total", "Frames the shared punt socket delivered, of known ports or not; each is also counted on its port.")
	puntUnknown = desc("punt_receiver_unknown_ingress_total", "Frames the shared punt socket delivered from an interface that is no port (one removed a moment before, or not attached yet): dropped.")
	tapPorts    = desc("tap_receiver_ports", "AF_PACKET ports without the fast path whose frames arrive on the shared tap socket.")
	tapFrames   = desc("tap_receiver_frames_total", "Frames the shared tap socket delivered, of known ports or not; each is also counted on its port.")
	tapUnknown  = desc("tap_receiver_unknown_ingress_total", "Frames the shared tap socket delivered from an interface that is no port any more: dropped.")
	tapDrops    = desc("tap_receiver_kernel_drops_total", "Frames of ports without the fast path that the kernel dropped before the shared tap socket saw them, by reason: ring_full (its ring and queue were full), truncated (too long to keep). The port they came from is not known.", "reason")
	puntDrops   = desc("punt_receiver_kernel_drops_total", "Punted frames the kernel dropped before the shared punt socket saw them, by reason: ring_full (its ring and queue were full), truncated (too long to keep). The port they came from is not known.", "reason")
)

// Collector is a prometheus.Collector over the dataplane's counters.
type Collector struct {
	src Source
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{rxPackets, rxBytes, rxGSO, txPackets, txBytes, flooded, drops, uplink,
		fpPackets, fpBytes, fpXDP, fpPunts, fpRedirErrs, fpPuntErrs,
		xskZeroCopy, xskTxNoCopy, xskSegmented, xskSegments, xskCsums,
		sockTxErrs, pktFreezes, pktSockErrs, pktLastErrno,
		fdbEntries, fdbMax, fdbLearned, fdbMoved, fdbAged, fdbEvicted, fdbRefused, fdbFlushed, bridgePorts,
		puntPorts, puntFrames, puntUnknown, puntDrops, tapPorts, tapFrames, tapUnknown, tapDrops, umemFrames, umemInUse} {
		ch <- d
	}
	for _, d := range loopDescs {
		ch <- d
	}
	for _, d := range evpnDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	collectEVPN(c.src, ch)
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, b := range c.src.Bridges() {
		name := b.Name()
		ports := Ports(c.src, b)
		var fpRefused uint64 // the fast path's: frames it forwarded or dropped unlearned
		for _, p := range ports {
			c.collectPort(ch, p)
			if s := p.FastPathStats; s != nil {
				fpRefused += s.FDBRefused
			}
		}
		st := b.FDB().Stats()
		ch <- prometheus.MustNewConstMetric(fdbEntries, prometheus.GaugeValue, float64(st.Entries), name)
		ch <- prometheus.MustNewConstMetric(fdbMax, prometheus.GaugeValue, float64(b.FDB().MaxEntries()), name)
		counter(fdbLearned, st.Learned, name)
		counter(fdbMoved, st.Moved, name)
		counter(fdbAged, st.Aged, name)
		counter(fdbEvicted, st.Evicted, name)
		counter(fdbRefused, st.Refused+fpRefused, name)
		counter(fdbFlushed, st.Flushed, name)
		ch <- prometheus.MustNewConstMetric(bridgePorts, prometheus.GaugeValue, float64(len(ports)), name)
	}
	if sh, ok := c.src.(SharedSource); ok {
		if st, ok := sh.SharedStats(); ok {
			ch <- prometheus.MustNewConstMetric(puntPorts, prometheus.GaugeValue, float64(st.Ports))
			counter(puntFrames, st.Frames)
			counter(puntUnknown, st.Unknown)
		}
		if kd, ok := sh.SharedKernelDrops(); ok {
			counter(puntDrops, kd.RingFull, "ring_full")
			counter(puntDrops, kd.Truncated, "truncated")
		}
	}
	if ts, ok := c.src.(TapSource); ok {
		if st, kd, ok := ts.TapStats(); ok {
			ch <- prometheus.MustNewConstMetric(tapPorts, prometheus.GaugeValue, float64(st.Ports))
			counter(tapFrames, st.Frames)
			counter(tapUnknown, st.Unknown)
			counter(tapDrops, kd.RingFull, "ring_full")
			counter(tapDrops, kd.Truncated, "truncated")
		}
	}
	collectUMEM(ch, c.src)
}

func (c *Collector) collectPort(ch chan<- prometheus.Metric, p Port) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	labels := p.labels()
	v := p.Counters
	if s := p.FastPathStats; s != nil {
		// A frame is in one of the two: the programs count what they
		// forward or drop, userspace what they punt.
		packets, bytes := s.Received()
		v.RxPackets += packets
		v.RxBytes += bytes
	}
	counter(rxPackets, v.RxPackets, labels...)
	counter(rxBytes, v.RxBytes, labels...)
	counter(txPackets, v.TxPackets, labels...)
	counter(txBytes, v.TxBytes, labels...)
	counter(rxGSO, v.RxGSO, labels...)
	counter(flooded, v.Flooded, labels...)
	for _, r := range dataplane.DropReasons() {
		n := v.Drops[r]
		if s := p.FastPathStats; s != nil {
			n += s.Drops[r.String()]
		}
		counter(drops, n, append(labels, r.String())...)
	}
	if kd := p.KernelDrops; kd != nil {
		counter(drops, kd.RingFull, append(labels, "ring_full")...)
		counter(drops, kd.Truncated, append(labels, "truncated")...)
	}
	gauge(uplink, 1, append(labels, p.Kind, strconv.FormatBool(p.Uplink), p.FastPath)...)
	for _, e := range p.TxErrors {
		counter(sockTxErrs, e.Count, append(labels, e.Reason)...)
	}
	if x := p.AFPacket; x != nil {
		counter(pktFreezes, x.RingFreezes, labels...)
		counter(pktSockErrs, x.SocketErrors, labels...)
		gauge(pktLastErrno, float64(x.LastSocketError), labels...)
	}
	if x := p.AFXDP; x != nil {
		zc := 0.0
		if x.ZeroCopy {
			zc = 1
		}
		gauge(xskZeroCopy, zc, labels...)
		counter(xskTxNoCopy, x.TxUncopied, labels...)
		counter(xskSegmented, x.Segmented, labels...)
		counter(xskSegments, x.Segments, labels...)
		counter(xskCsums, x.ChecksumsCompleted, labels...)
	}
	if s := p.FastPathStats; s != nil {
		counter(fpPackets, s.Packets, labels...)
		counter(fpBytes, s.Bytes, labels...)
		counter(fpXDP, s.XDPPackets, labels...)
		counter(fpRedirErrs, s.RedirectErrors, labels...)
		counter(fpPuntErrs, s.PuntErrors, labels...)
		for i, r := range bpf.PuntReasons {
			counter(fpPunts, s.Punts[i], append(labels, r)...)
		}
	}
	c.collectLoop(ch, p, labels)
}

// labels returns the port's label values: bridge, port, domid, devid.
func (p Port) labels() []string {
	domid, devid := "", ""
	if p.Vif != nil {
		domid, devid = strconv.Itoa(p.Vif.DomID), strconv.Itoa(p.Vif.DevID)
	}
	return []string{p.Bridge, p.Name, domid, devid}
}

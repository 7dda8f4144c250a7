// Package metrics exports the dataplane's counters to Prometheus. The
// collector reads the counters when scraped; nothing is counted per packet
// through the Prometheus client.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afxdp"
	"github.com/xswitch/xswitch/internal/xen"
)

// Source gives the collector the bridges to report.
type Source interface {
	Bridges() []*dataplane.Bridge
}

// FastPathSource is a Source whose ports may have the eBPF fast path.
type FastPathSource interface {
	FastPathStats(ifindex int) (bpf.PortStats, bool)
}

var portLabels = []string{"bridge", "port", "domid", "devid"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("xswitch_"+name, help, labels, nil)
}

var (
	rxPackets = desc("port_receive_packets_total", "Frames received from the port (valid or not).", portLabels...)
	rxBytes   = desc("port_receive_bytes_total", "Bytes of the frames received from the port.", portLabels...)
	txPackets = desc("port_transmit_packets_total", "Frames sent out of the port.", portLabels...)
	txBytes   = desc("port_transmit_bytes_total", "Bytes of the frames sent out of the port.", portLabels...)
	rxGSO     = desc("port_receive_gso_packets_total", "Super-frames received from the port: frames with segmentation offload pending, up to 64 KiB, passed on unsegmented.", portLabels...)
	flooded   = desc("port_flooded_packets_total", "Frames received from the port and flooded to every other port (broadcast, multicast, unknown unicast).", portLabels...)
	drops     = desc("port_drops_total", "Frames dropped, by reason. Ingress reasons (runt, multicast_source, local_destination) count on the receiving port, egress reasons (mtu, tx_error, port_removed) on the port the frame was bound for; ring_full counts frames the kernel could not put in the port's receive ring, truncated frames too long for a ring block.", append(portLabels, "reason")...)
	uplink    = desc("port_info", "Always 1; the port's kind, whether it is the bridge's uplink, and its fast-path mode (xdp, tc or off).", append(portLabels, "kind", "uplink", "fastpath")...)

	fpPackets   = desc("port_fastpath_packets_total", "Frames received from the port and forwarded by the eBPF fast path in the kernel; they are not in port_receive_packets_total.", portLabels...)
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

	fdbEntries  = desc("fdb_entries", "MAC addresses in the bridge's forwarding table.", "bridge")
	fdbLearned  = desc("fdb_learned_total", "MAC addresses learned.", "bridge")
	fdbMoved    = desc("fdb_moved_total", "MAC addresses seen behind another port than the one they were learned on.", "bridge")
	fdbAged     = desc("fdb_aged_total", "MAC addresses expired after the aging time.", "bridge")
	fdbEvicted  = desc("fdb_evicted_total", "MAC addresses evicted to make room when the table was full.", "bridge")
	fdbRefused  = desc("fdb_refused_total", "MAC addresses not learned because a limit was reached.", "bridge")
	fdbFlushed  = desc("fdb_flushed_total", "MAC addresses removed by a flush (a port removed, or an operator's request).", "bridge")
	bridgePorts = desc("bridge_ports", "Ports attached to the bridge.", "bridge")
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
		fdbEntries, fdbLearned, fdbMoved, fdbAged, fdbEvicted, fdbRefused, fdbFlushed, bridgePorts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	fps, _ := c.src.(FastPathSource)
	for _, b := range c.src.Bridges() {
		name := b.Name()
		ports := b.Ports()
		for _, p := range ports {
			labels := PortLabels(name, p.Name)
			v := p.Counters
			counter(rxPackets, v.RxPackets, labels...)
			counter(rxBytes, v.RxBytes, labels...)
			counter(txPackets, v.TxPackets, labels...)
			counter(txBytes, v.TxBytes, labels...)
			counter(rxGSO, v.RxGSO, labels...)
			counter(flooded, v.Flooded, labels...)
			for _, r := range dataplane.DropReasons() {
				counter(drops, v.Drops[r], append(labels, r.String())...)
			}
			if kd, ok := p.Port.(dataplane.KernelDropper); ok {
				full, trunc := kd.KernelDrops()
				counter(drops, full, append(labels, "ring_full")...)
				counter(drops, trunc, append(labels, "truncated")...)
			}
			mode := p.FastPath
			if mode == "" {
				mode = "off"
			}
			ch <- prometheus.MustNewConstMetric(uplink, prometheus.GaugeValue, 1, append(labels, p.Kind, strconv.FormatBool(p.Uplink), mode)...)
			if x, ok := p.Port.(*afxdp.Port); ok {
				s := x.Stats()
				zc := 0.0
				if x.ZeroCopy() {
					zc = 1
				}
				ch <- prometheus.MustNewConstMetric(xskZeroCopy, prometheus.GaugeValue, zc, labels...)
				counter(xskTxNoCopy, s.TxZeroCopy, labels...)
				counter(xskSegmented, s.TxSegmented, labels...)
				counter(xskSegments, s.TxSegments, labels...)
				counter(xskCsums, s.RxChecksumsCompleted, labels...)
			}
			if fps == nil || mode == "off" {
				continue
			}
			if s, ok := fps.FastPathStats(p.Ifindex); ok {
				counter(fpPackets, s.Packets, labels...)
				counter(fpBytes, s.Bytes, labels...)
				counter(fpXDP, s.XDPPackets, labels...)
				counter(fpRedirErrs, s.RedirectErrors, labels...)
				counter(fpPuntErrs, s.PuntErrors, labels...)
				for i, r := range bpf.PuntReasons {
					counter(fpPunts, s.Punts[i], append(labels, r)...)
				}
			}
		}
		st := b.FDB().Stats()
		ch <- prometheus.MustNewConstMetric(fdbEntries, prometheus.GaugeValue, float64(st.Entries), name)
		counter(fdbLearned, st.Learned, name)
		counter(fdbMoved, st.Moved, name)
		counter(fdbAged, st.Aged, name)
		counter(fdbEvicted, st.Evicted, name)
		counter(fdbRefused, st.Refused, name)
		counter(fdbFlushed, st.Flushed, name)
		ch <- prometheus.MustNewConstMetric(bridgePorts, prometheus.GaugeValue, float64(len(ports)), name)
	}
}

// PortLabels returns the label values of a port: bridge, port, and the
// domain and device ids a Xen vif name carries (empty for other ports).
func PortLabels(bridge, port string) []string {
	domid, devid := "", ""
	if v, ok := xen.ParseVif(port); ok {
		domid, devid = strconv.Itoa(v.DomID), strconv.Itoa(v.DevID)
	}
	return []string{bridge, port, domid, devid}
}

package metrics

import (
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
)

// socketPort is a port with the figures an AF_PACKET port reports.
type socketPort struct{ *porttest.Port }

func (socketPort) KernelDrops() (uint64, uint64) { return 5, 6 }

func (socketPort) ReportStatus(s *dataplane.PortStatus) {
	s.AFPacket = &dataplane.AFPacketStatus{RingFreezes: 2, SocketErrors: 1, LastSocketError: syscall.ENETDOWN}
	s.TxErrors = []dataplane.ReasonCount{{Reason: "busy", Count: 3}, {Reason: "down", Count: 4}}
}

// xskPort is a port with the figures an AF_XDP port reports.
type xskPort struct{ *porttest.Port }

func (xskPort) ReportStatus(s *dataplane.PortStatus) {
	s.AFXDP = &dataplane.AFXDPStatus{ZeroCopy: true, Queues: 2, TxUncopied: 7}
	s.TxErrors = []dataplane.ReasonCount{{Reason: "no_buffer", Count: 8}}
}

type source struct{ bridges []*dataplane.Bridge }

func (s source) Bridges() []*dataplane.Bridge { return s.bridges }

func (source) FastPathStats(ifindex int) (bpf.PortStats, bool) {
	if ifindex != 3 {
		return bpf.PortStats{}, false
	}
	return bpf.PortStats{Packets: 9, Bytes: 900, PuntErrors: 1, DropBytes: 700, TxPackets: 11, TxBytes: 1100,
		Drops: map[string]uint64{"spoofed": 4, "vlan": 2}}, true
}

func TestCollectPortSections(t *testing.T) {
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0", FDB: fdb.DefaultConfig()}, nil)
	defer br.Close()
	for _, p := range []struct {
		p    dataplane.Port
		info dataplane.PortInfo
	}{
		{socketPort{porttest.New("vif3.1", 8)}, dataplane.PortInfo{Name: "vif3.1", Kind: "afpacket", FastPath: "tc", Ifindex: 3}},
		{xskPort{porttest.New("peth0", 8)}, dataplane.PortInfo{Name: "peth0", Kind: "afxdp", Uplink: true, Ifindex: 4}},
		{porttest.New("tap0", 8), dataplane.PortInfo{Name: "tap0", Kind: "porttest"}},
	} {
		if _, err := br.AddPort(p.p, p.info); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(source{[]*dataplane.Bridge{br}}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{} // name{port,reason} → value
	count := map[string]int{}   // name → series
	for _, f := range families {
		for _, m := range f.Metric {
			key := f.GetName() + "{" + label(m, "port") + "," + label(m, "reason") + "}"
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
			count[f.GetName()]++
		}
	}
	for key, want := range map[string]float64{
		"xswitch_port_socket_transmit_errors_total{vif3.1,busy}":     3,
		"xswitch_port_socket_transmit_errors_total{vif3.1,down}":     4,
		"xswitch_port_socket_transmit_errors_total{peth0,no_buffer}": 8,
		"xswitch_port_afpacket_ring_freezes_total{vif3.1,}":          2,
		"xswitch_port_afpacket_socket_errors_total{vif3.1,}":         1,
		"xswitch_port_afpacket_last_socket_error{vif3.1,}":           float64(syscall.ENETDOWN),
		"xswitch_port_drops_total{vif3.1,ring_full}":                 5,
		"xswitch_port_drops_total{vif3.1,truncated}":                 6,
		"xswitch_port_afxdp_zerocopy{peth0,}":                        1,
		"xswitch_port_afxdp_transmit_uncopied_packets_total{peth0,}": 7,
		"xswitch_port_fastpath_packets_total{vif3.1,}":               9,
		// Received: forwarded 9, dropped 4+2 and 1 that could not be
		// punted; the userspace path received none.
		"xswitch_port_receive_packets_total{vif3.1,}":  16,
		"xswitch_port_receive_bytes_total{vif3.1,}":    1600,
		"xswitch_port_transmit_packets_total{vif3.1,}": 11,
		"xswitch_port_transmit_bytes_total{vif3.1,}":   1100,
		"xswitch_port_transmit_packets_total{peth0,}":  0,
		"xswitch_port_drops_total{vif3.1,spoofed}":     4, // the fast path's
		"xswitch_port_drops_total{vif3.1,vlan}":        2,
		"xswitch_port_drops_total{peth0,spoofed}":      0,
		"xswitch_fdb_max_entries{,}":                   fdb.DefaultMaxEntries,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	// Each section's series only for the ports that have it.
	for name, want := range map[string]int{
		"xswitch_port_socket_transmit_errors_total": 3,
		"xswitch_port_afpacket_ring_freezes_total":  1,
		"xswitch_port_afxdp_zerocopy":               1,
		"xswitch_port_fastpath_packets_total":       1,
		"xswitch_port_info":                         3,
		"xswitch_port_drops_total":                  3*len(dataplane.DropReasons()) + 2,
	} {
		if count[name] != want {
			t.Errorf("%s: %d series, want %d", name, count[name], want)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sharedSource is a source with a shared punt receiver.
type sharedSource struct{ source }

func (sharedSource) SharedStats() (dataplane.SharedStats, bool) {
	return dataplane.SharedStats{Ports: 3, Frames: 40, Batches: 7, Unknown: 2}, true
}

func (sharedSource) SharedKernelDrops() (dataplane.KernelDrops, bool) {
	return dataplane.KernelDrops{RingFull: 5, Truncated: 1}, true
}

func TestCollectSharedReceiver(t *testing.T) {
	want := map[string]float64{
		"xswitch_punt_receiver_ports{}":                              3,
		"xswitch_punt_receiver_frames_total{}":                       40,
		"xswitch_punt_receiver_unknown_ingress_total{}":              2,
		"xswitch_punt_receiver_kernel_drops_total{reason=ring_full}": 5,
		"xswitch_punt_receiver_kernel_drops_total{reason=truncated}": 1,
	}
	for _, c := range []struct {
		name string
		src  Source
		n    int
	}{{"with a shared receiver", sharedSource{}, len(want)}, {"without", source{}, 0}} {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(NewCollector(c.src))
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range families {
			for _, m := range f.Metric {
				key := f.GetName() + "{"
				if r := label(m, "reason"); r != "" {
					key += "reason=" + r
				}
				key += "}"
				if w, ok := want[key]; ok {
					n++
					if v := m.GetCounter().GetValue() + m.GetGauge().GetValue(); v != w {
						t.Errorf("%s: %s = %v, want %v", c.name, key, v, w)
					}
				}
			}
		}
		if n != c.n {
			t.Errorf("%s: %d shared receiver series, want %d", c.name, n, c.n)
		}
	}
}

// tapSource is a source with a tap.
type tapSource struct{ source }

func (tapSource) TapStats() (dataplane.SharedStats, dataplane.KernelDrops, bool) {
	return dataplane.SharedStats{Ports: 2, Frames: 30, Batches: 5, Unknown: 1}, dataplane.KernelDrops{RingFull: 4, Truncated: 0}, true
}

func TestCollectTap(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(tapSource{}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"xswitch_tap_receiver_ports{}":                              2,
		"xswitch_tap_receiver_frames_total{}":                       30,
		"xswitch_tap_receiver_unknown_ingress_total{}":              1,
		"xswitch_tap_receiver_kernel_drops_total{reason=ring_full}": 4,
		"xswitch_tap_receiver_kernel_drops_total{reason=truncated}": 0,
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.Metric {
			key := f.GetName() + "{"
			if r := label(m, "reason"); r != "" {
				key += "reason=" + r
			}
			got[key+"}"] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for k, w := range want {
		if v, ok := got[k]; !ok || v != w {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, w)
		}
	}
}

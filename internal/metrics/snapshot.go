package metrics

import (
	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/xen"
)

// Port is one port as the exporters show it: the bridge's status of it,
// what its name says of a Xen guest, and its fast-path counters. The
// collector and the control API both build it with Ports.
type Port struct {
	Bridge string
	dataplane.PortStatus
	// Vif is set when the name is a Xen vif's.
	Vif *xen.Vif
	// FastPathStats is set when the port has the fast path (FastPath is
	// then not "off") and its counters could be read. What it received
	// (forwarded or dropped) and transmitted is in Counters too, so that
	// those count every frame whichever path took it; its drops are not
	// in Counters.Drops: an exporter adds them to the userspace path's.
	FastPathStats *bpf.PortStats
}

// Ports returns the ports of b, with FastPath "off" where the port has none.
func Ports(src Source, b *dataplane.Bridge) []Port {
	fps, _ := src.(FastPathSource)
	list := b.Ports()
	out := make([]Port, len(list))
	for i, ps := range list {
		p := Port{Bridge: b.Name(), PortStatus: ps}
		if p.FastPath == "" {
			p.FastPath = "off"
		}
		if v, ok := xen.ParseVif(p.Name); ok {
			p.Vif = &v
		}
		if fps != nil && p.FastPath != "off" {
			if s, ok := fps.FastPathStats(p.Ifindex); ok {
				p.FastPathStats = &s
				addFastPath(&p.Counters, s)
			}
		}
		out[i] = p
	}
	return out
}

// addFastPath adds to a port's userspace counters what the programs
// received from it and redirected to it. A frame is in one of the two: the
// programs count what they forward or drop, userspace what they punt.
func addFastPath(c *dataplane.CounterValues, s bpf.PortStats) {
	packets, bytes := s.Received()
	c.RxPackets += packets
	c.RxBytes += bytes
	c.TxPackets += s.TxPackets
	c.TxBytes += s.TxBytes
}

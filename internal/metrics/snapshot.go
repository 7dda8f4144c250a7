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
	// then not "off") and its counters could be read. What it transmitted
	// is in Counters too, so that their transmit half counts every frame
	// sent out of the port whichever path sent it; what it received
	// (PortStats.Received) and its drops are not: an exporter adds them to
	// the userspace path's.
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
// redirected to it, and the frames of the port they flooded.
func addFastPath(c *dataplane.CounterValues, s bpf.PortStats) {
	c.TxPackets += s.TxPackets
	c.TxBytes += s.TxBytes
	c.Flooded += s.Flooded
}

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
	// then not "off") and its counters could be read. Its drops are also
	// in Counters.Drops.
	FastPathStats *bpf.PortStats
	// Runtime says the port was added at run time (the control API).
	Runtime bool
}

// RuntimeSource is a Source whose ports may be added at run time.
type RuntimeSource interface {
	RuntimePort(name string) bool
}

// Ports returns the ports of b, with FastPath "off" where the port has none.
// A port's drops are those of the userspace path and of the fast path,
// summed by reason.
func Ports(src Source, b *dataplane.Bridge) []Port {
	fps, _ := src.(FastPathSource)
	rts, _ := src.(RuntimeSource)
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
				for _, r := range dataplane.DropReasons() {
					p.Counters.Drops[r] += s.Drops[r.String()]
				}
			}
		}
		if rts != nil {
			p.Runtime = rts.RuntimePort(p.Name)
		}
		out[i] = p
	}
	return out
}

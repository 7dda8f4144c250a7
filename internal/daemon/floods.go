package daemon

import (
	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
)

// What a guest that floods cannot take from the others: storm control
// limits the floods each port sends, and the fast path learns no more MACs
// on a port than its table would (fdb max-per-port).

// stormSetter is the fast path's storm control (*bpf.FastPath).
type stormSetter interface {
	SetStorm(ifindex int, l bpf.StormLimits) error
}

// applyStorm gives an attached port of bridge b its storm-control limits:
// to the fast path when its TC program decides on the port's frames, to
// the userspace bridge when they reach it undecided (no fast path, or an
// AF_XDP port, whose XDP program leaves floods to its sockets). Under mu.
func (d *Daemon) applyStorm(idx int, a attachment, b config.Bridge) {
	l := b.Storm(a.name)
	user, kern := dataplane.StormLimits(l), bpf.StormLimits{}
	if a.fastPath != bpf.ModeOff && a.xsk == nil {
		user, kern = dataplane.StormLimits{}, bpf.StormLimits(l)
	}
	if br := d.bridges[a.bridge]; br != nil {
		if err := br.SetStorm(a.name, user); err != nil {
			d.log.Warn("cannot set storm control", "port", a.name, "bridge", a.bridge, "err", err)
		}
	}
	if s, ok := d.fp.(stormSetter); ok && d.fp != nil {
		if err := s.SetStorm(idx, kern); err != nil {
			d.log.Warn("cannot set storm control in the fast path", "port", a.name, "bridge", a.bridge, "err", err)
		}
	}
}

// syncStorms gives every attached port the storm control the configuration
// says; under mu. A reload calls it for the ports it keeps.
func (d *Daemon) syncStorms() {
	for idx, a := range d.attached {
		if b, _, ok := matchPort(d.cfg, a.name); ok && b.Name == a.bridge {
			d.applyStorm(idx, a, b)
		}
	}
}

// macLimit is the most dynamic MACs a port of a bridge with table
// configuration c holds: what the fast path learns on it at most.
func macLimit(c fdb.Config) int {
	if c.MaxPerPort <= 0 {
		return fdb.DefaultMaxPerPort
	}
	return c.MaxPerPort
}

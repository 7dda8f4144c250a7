package dataplane

import (
	"fmt"
	"slices"
)

// MirrorDir says which frames of a port a mirror copies.
type MirrorDir uint8

const (
	MirrorIngress MirrorDir = 1 << iota // the frames the port receives
	MirrorEgress                        // the frames the port sends
	MirrorBoth    = MirrorIngress | MirrorEgress
)

func (d MirrorDir) String() string {
	switch d {
	case MirrorIngress:
		return "ingress"
	case MirrorEgress:
		return "egress"
	case MirrorBoth:
		return "both"
	}
	return fmt.Sprintf("MirrorDir(%d)", uint8(d))
}

// ParseMirrorDir reads "ingress", "egress" or "both".
func ParseMirrorDir(s string) (MirrorDir, error) {
	for _, d := range []MirrorDir{MirrorIngress, MirrorEgress, MirrorBoth} {
		if s == d.String() {
			return d, nil
		}
	}
	return 0, fmt.Errorf("mirror direction %q: want ingress, egress or both", s)
}

// Mirror copies the frames port From receives, sends or both to port To,
// for an intrusion detection guest. As in Open vSwitch, To then takes no
// part in switching: it is sent nothing but the copies, and what it
// receives is dropped (DropMirrorPort).
type Mirror struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	Dir  MirrorDir `json:"-"`
}

// mirrorTargets are the ports that get copies of one port's frames.
type mirrorTargets struct {
	in, out []*port
}

// SetMirrors replaces the bridge's mirrors. They name ports, which need
// not be attached yet: a mirror applies while both its ports are. A port
// cannot both be mirrored and be a mirror's destination, nor mirror to
// itself.
func (b *Bridge) SetMirrors(ms []Mirror) error {
	to := map[string]bool{}
	for _, m := range ms {
		switch {
		case m.From == "" || m.To == "":
			return fmt.Errorf("bridge %s: mirror %q to %q: want both ports", b.name, m.From, m.To)
		case m.From == m.To:
			return fmt.Errorf("bridge %s: mirror of %s: a port cannot mirror to itself", b.name, m.From)
		case m.Dir&MirrorBoth == 0 || m.Dir&^MirrorBoth != 0:
			return fmt.Errorf("bridge %s: mirror of %s: %v: want ingress, egress or both", b.name, m.From, m.Dir)
		}
		to[m.To] = true
	}
	for _, m := range ms {
		if to[m.From] {
			return fmt.Errorf("bridge %s: mirror of %s: %s is a mirror's destination, whose frames are not switched", b.name, m.From, m.From)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mirrors = slices.Clone(ms)
	b.applyMirrors(b.ports.Load())
	b.log.Info("mirrors set", "mirrors", len(ms))
	return nil
}

// Mirrors returns the bridge's mirrors.
func (b *Bridge) Mirrors() []Mirror {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.mirrors)
}

// applyMirrors gives the ports of set their mirror targets. Under b.mu,
// after each change of the mirrors or of the port set.
func (b *Bridge) applyMirrors(set *portSet) {
	byName := make(map[string]*port, len(set.list))
	for _, q := range set.list {
		byName[q.info.Name] = q
	}
	targets := map[*port]*mirrorTargets{}
	dest := map[*port]bool{}
	for _, m := range b.mirrors {
		from, to := byName[m.From], byName[m.To]
		if to != nil {
			dest[to] = true
		}
		if from == nil || to == nil {
			continue
		}
		t := targets[from]
		if t == nil {
			t = &mirrorTargets{}
			targets[from] = t
		}
		if m.Dir&MirrorIngress != 0 {
			t.in = append(t.in, to)
		}
		if m.Dir&MirrorEgress != 0 {
			t.out = append(t.out, to)
		}
	}
	for _, q := range set.list {
		q.mirrorDest.Store(dest[q])
		q.mirrors.Store(targets[q]) // nil when q is not mirrored
	}
}

// mirrorIn sends copies of frames, just received on q, to q's ingress
// mirrors. An in-band tag is moved out of band first (as forwarding would),
// so that the copies and the frames stay whole.
func (q *port) mirrorIn(frames []Frame) {
	t := q.mirrors.Load()
	if t == nil || len(t.in) == 0 {
		return
	}
	for i := range frames {
		if !frames[i].Tagged {
			untagInBand(&frames[i])
		}
	}
	for _, m := range t.in {
		send(m, frames)
	}
}

// mirrorOut sends copies of frames, just sent by q, to q's egress mirrors.
func (q *port) mirrorOut(frames []Frame) {
	if t := q.mirrors.Load(); t != nil && len(t.out) > 0 && len(frames) > 0 {
		for _, m := range t.out {
			send(m, frames)
		}
	}
}

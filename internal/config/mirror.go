package config

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Mirror copies the frames port From receives, sends or both (Direction
// "ingress", "egress" or "both") to port To, which then takes no other part
// in switching.
type Mirror struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Direction string `json:"direction"`
}

// MirrorDirections are the directions a mirror may take.
var MirrorDirections = []string{"ingress", "egress", "both"}

// Check reports what is wrong with m, naming the field, after filling in
// the default direction (both).
func (m *Mirror) Check() error {
	if m.Direction == "" {
		m.Direction = "both"
	}
	switch {
	case checkIfname(m.From) != nil || isGlob(m.From):
		return fmt.Errorf("from %q is not an interface name", m.From)
	case checkIfname(m.To) != nil || isGlob(m.To):
		return fmt.Errorf("to %q is not an interface name", m.To)
	case m.From == m.To:
		return fmt.Errorf("%s cannot mirror to itself", m.From)
	case !slices.Contains(MirrorDirections, m.Direction):
		return fmt.Errorf("direction %q: want ingress, egress or both", m.Direction)
	}
	return nil
}

// CheckMirrors checks a bridge's mirrors together: each on its own, and no
// port both mirrored and a mirror's destination.
func CheckMirrors(ms []Mirror) error {
	to := map[string]bool{}
	for i := range ms {
		if err := ms[i].Check(); err != nil {
			return err
		}
		to[ms[i].To] = true
	}
	for _, m := range ms {
		if to[m.From] {
			return fmt.Errorf("%s is a mirror's destination, whose frames are not switched, and cannot be mirrored", m.From)
		}
	}
	return nil
}

// mirrors reads the mirrors of a bridge.
func (p *parser) mirrors(b *Bridge, fb fileBridge, node *yaml.Node) error {
	b.Mirrors = nil
	to := map[string]bool{}
	for j, fm := range fb.Mirrors {
		m := Mirror{From: fm.From, To: fm.To, Direction: fm.Direction}
		if err := m.Check(); err != nil {
			return p.errAt(seqItemLine(node, "mirrors", j), "bridge %q: mirror: %v", b.Name, err)
		}
		b.Mirrors = append(b.Mirrors, m)
		to[m.To] = true
	}
	for j, m := range b.Mirrors {
		if to[m.From] {
			return p.errAt(seqItemLine(node, "mirrors", j), "bridge %q: mirror of %s: it is a mirror's destination, whose frames are not switched", b.Name, m.From)
		}
	}
	return nil
}

// RuntimeMirror is a mirror added through the control API.
type RuntimeMirror struct {
	Bridge string
	Mirror
}

// SetRuntimeMirror adds m to the runtime mirrors, replacing one of its
// bridge and ports.
func (c *Config) SetRuntimeMirror(m RuntimeMirror) {
	c.DropRuntimeMirror(m.Bridge, m.From, m.To)
	c.RuntimeMirrors = append(c.RuntimeMirrors, m)
}

// DropRuntimeMirror removes a runtime mirror, if there is one.
func (c *Config) DropRuntimeMirror(bridge, from, to string) {
	var out []RuntimeMirror // a new slice: a reloaded configuration may share the old one
	for _, m := range c.RuntimeMirrors {
		if !(m.Bridge == bridge && m.From == from && m.To == to) {
			out = append(out, m)
		}
	}
	c.RuntimeMirrors = out
}

// Mirrors returns the mirrors of bridge b: the file's, then the runtime
// ones (a runtime mirror of the same ports replaces the file's), and for
// each whether it is a runtime one.
func (c *Config) Mirrors(b Bridge) (ms []Mirror, runtime []bool) {
	for _, m := range b.Mirrors {
		if !slices.ContainsFunc(c.RuntimeMirrors, func(r RuntimeMirror) bool { return r.Bridge == b.Name && r.From == m.From && r.To == m.To }) {
			ms, runtime = append(ms, m), append(runtime, false)
		}
	}
	for _, r := range c.RuntimeMirrors {
		if r.Bridge == b.Name {
			ms, runtime = append(ms, r.Mirror), append(runtime, true)
		}
	}
	return ms, runtime
}

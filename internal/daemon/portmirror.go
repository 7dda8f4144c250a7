package daemon

import (
	"fmt"
	"slices"
	"sort"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control"
)

// Mirrors lists the port mirrors of the named bridge, or of all bridges.
func (d *Daemon) Mirrors(bridge string) ([]control.Mirror, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.bridges))
	for name := range d.bridges {
		if bridge == "" || name == bridge {
			names = append(names, name)
		}
	}
	if bridge != "" && len(names) == 0 {
		return nil, notFound("no bridge %q", bridge)
	}
	sort.Strings(names)
	var out []control.Mirror
	for _, name := range names {
		b, _ := d.cfg.LookupBridge(name)
		ms, runtime := d.cfg.Mirrors(b)
		attached := map[string]bool{}
		for _, p := range d.bridges[name].Ports() {
			attached[p.Name] = true
		}
		for i, m := range ms {
			out = append(out, control.Mirror{Bridge: name, From: m.From, To: m.To, Direction: m.Direction,
				Runtime: runtime[i], Active: attached[m.From] && attached[m.To]})
		}
	}
	return out, nil
}

// SetMirror adds a mirror at run time, or changes the direction of one
// added so: idempotent. It is kept in the port state file.
func (d *Daemon) SetMirror(cm control.Mirror) (control.MirrorChange, error) {
	res := control.MirrorChange{Mirror: cm}
	m := config.Mirror{From: cm.From, To: cm.To, Direction: cm.Direction}
	what := fmt.Sprintf("mirror of %s to %s on %s", cm.From, cm.To, cm.Bridge)
	if err := m.Check(); err != nil {
		return res, invalid("%s: %v", what, err)
	}
	res.Direction = m.Direction
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return res, errStopping
	}
	b, ok := d.cfg.LookupBridge(cm.Bridge)
	if !ok {
		return res, notFound("%s: no bridge %q", what, cm.Bridge)
	}
	ms, runtime := d.cfg.Mirrors(b)
	if i := slices.IndexFunc(ms, func(o config.Mirror) bool { return o.From == m.From && o.To == m.To }); i >= 0 {
		switch {
		case !runtime[i]:
			return res, invalid("%s: set by the configuration file; change it there", what)
		case ms[i].Direction == m.Direction:
			res.Message = fmt.Sprintf("%s: already mirrors %s", what, m.Direction)
			return res, nil
		}
	}
	rm := config.RuntimeMirror{Bridge: cm.Bridge, Mirror: m}
	old := slices.Clone(d.cfg.RuntimeMirrors)
	d.cfg.SetRuntimeMirror(rm)
	if ms, _ := d.cfg.Mirrors(b); true {
		if err := config.CheckMirrors(ms); err != nil {
			d.cfg.RuntimeMirrors = old
			return res, invalid("%s: %v", what, err)
		}
	}
	if err := d.savePorts(); err != nil {
		d.cfg.RuntimeMirrors = old
		return res, fmt.Errorf("%s: %w", what, err)
	}
	if err := d.applyMirrors(cm.Bridge); err != nil {
		d.cfg.RuntimeMirrors = old
		d.logSaveErr(d.savePorts())
		return res, fmt.Errorf("%s: %w", what, err)
	}
	res.Changed = true
	res.Message = fmt.Sprintf("%s: mirrors %s", what, m.Direction)
	d.log.Info("mirror set", "bridge", cm.Bridge, "from", m.From, "to", m.To, "direction", m.Direction)
	return res, nil
}

// DeleteMirror removes a mirror added at run time: idempotent.
func (d *Daemon) DeleteMirror(cm control.Mirror) (control.MirrorChange, error) {
	res := control.MirrorChange{Mirror: cm}
	what := fmt.Sprintf("mirror of %s to %s on %s", cm.From, cm.To, cm.Bridge)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return res, errStopping
	}
	b, ok := d.cfg.LookupBridge(cm.Bridge)
	if !ok {
		return res, notFound("%s: no bridge %q", what, cm.Bridge)
	}
	ms, runtime := d.cfg.Mirrors(b)
	i := slices.IndexFunc(ms, func(o config.Mirror) bool { return o.From == cm.From && o.To == cm.To })
	switch {
	case i < 0:
		res.Message = what + ": there is none"
		return res, nil
	case !runtime[i]:
		return res, invalid("%s: set by the configuration file; remove it there", what)
	}
	old := slices.Clone(d.cfg.RuntimeMirrors)
	d.cfg.DropRuntimeMirror(cm.Bridge, cm.From, cm.To)
	if err := d.savePorts(); err != nil {
		d.cfg.RuntimeMirrors = old
		return res, fmt.Errorf("%s: %w", what, err)
	}
	if err := d.applyMirrors(cm.Bridge); err != nil {
		return res, fmt.Errorf("%s: %w", what, err)
	}
	res.Changed, res.Message = true, what+": removed"
	d.log.Info("mirror removed", "bridge", cm.Bridge, "from", cm.From, "to", cm.To)
	return res, nil
}

// applyMirrors gives the named bridge, if it exists, the mirrors of the
// configuration and of the control API; under mu.
func (d *Daemon) applyMirrors(name string) error {
	br, ok := d.bridges[name]
	if !ok {
		return nil
	}
	b, _ := d.cfg.LookupBridge(name)
	ms, _ := d.cfg.Mirrors(b)
	if len(ms) == 0 && len(br.Mirrors()) == 0 {
		return nil
	}
	out := make([]dataplane.Mirror, 0, len(ms))
	for _, m := range ms {
		dir, err := dataplane.ParseMirrorDir(m.Direction)
		if err != nil {
			return err
		}
		out = append(out, dataplane.Mirror{From: m.From, To: m.To, Dir: dir})
	}
	if slices.Equal(out, br.Mirrors()) {
		return nil
	}
	if err := br.SetMirrors(out); err != nil {
		return err
	}
	d.syncFastMirrors(name)
	return nil
}

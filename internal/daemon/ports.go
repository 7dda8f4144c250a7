package daemon

import (
	"errors"
	"fmt"
	"slices"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/policy"
)

// Ports added at run time (the control API, a hotplug script): a runtime
// port names its bridge and settings and wins over the naming rule and the
// file (config.RuntimePort). They are kept in the port state file, so a
// reload and a restart keep them.
//
// A port removed at run time, runtime or not, is not attached again by the
// naming rule or the file until its interface goes away (or is renamed) or
// xswitchd restarts: the operator's word stands over the rule's. A vif that
// a hotplug script removes is about to be deleted anyway.

// requestError is a request the daemon refuses: its message names the port
// or bridge and the cause; it wraps control.ErrInvalid or
// control.ErrNotFound, which the control API answers with 400 or 404.
type requestError struct {
	msg  string
	kind error
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.kind }

func invalid(format string, args ...any) error {
	return &requestError{fmt.Sprintf(format, args...), control.ErrInvalid}
}

func notFound(format string, args ...any) error {
	return &requestError{fmt.Sprintf(format, args...), control.ErrNotFound}
}

// errStopping answers a request that comes while the daemon stops.
var errStopping = errors.New("xswitchd is stopping")

// runtimePort checks a port's spec and reads it; the bridge is looked up
// later.
func runtimePort(name string, spec control.PortSpec) (config.RuntimePort, error) {
	p := config.RuntimePort{Name: name, Bridge: spec.Bridge}
	if err := config.CheckIfname(name); err != nil {
		return p, invalid("port: %v", err)
	}
	if spec.Bridge == "" {
		return p, invalid("port %s: no bridge given", name)
	}
	var err error
	if p.Policy.VLAN, err = policy.ParseVLANs(spec.VLAN); err != nil {
		return p, invalid("port %s: %v", name, err)
	}
	p.Policy.Isolated, p.Policy.AntiSpoof = spec.Isolated, spec.AntiSpoof
	if spec.MAC != "" {
		if p.Policy.MAC, err = config.ParseUnicastMAC(spec.MAC); err != nil {
			return p, invalid("port %s: mac: %v", name, err)
		}
	}
	for _, a := range spec.Allowed {
		ps, err := policy.ParseAllowed(a)
		if err != nil {
			return p, invalid("port %s: %v", name, err)
		}
		p.Policy.Allowed = append(p.Policy.Allowed, ps...)
	}
	if err := p.Policy.Validate(); err != nil {
		return p, invalid("port %s: %v", name, err)
	}
	if spec.FastPath != "" {
		if p.FastPath, err = config.ParseMode(spec.FastPath); err != nil {
			return p, invalid("port %s: %v", name, err)
		}
	}
	if spec.PortType != "" {
		if p.PortType, err = config.ParsePortType(spec.PortType); err != nil {
			return p, invalid("port %s: %v", name, err)
		}
	}
	return p, nil
}

// portSpec is the spec a runtime port reads from, in its canonical form:
// what the state file keeps, and what says whether a request changes it.
func portSpec(p config.RuntimePort) control.PortSpec {
	s := control.PortSpec{Bridge: p.Bridge, Isolated: p.Policy.Isolated, AntiSpoof: p.Policy.AntiSpoof,
		FastPath: string(p.FastPath), PortType: string(p.PortType)}
	if p.Policy.VLAN.Mode != policy.Transparent {
		s.VLAN = p.Policy.VLAN.String()
	}
	if p.Policy.MAC != nil {
		s.MAC = p.Policy.MAC.String()
	}
	for _, a := range p.Policy.Allowed {
		if a.IsSingleIP() {
			s.Allowed = append(s.Allowed, a.Addr().String()) // as Xen's vif "ip" key has it
		} else {
			s.Allowed = append(s.Allowed, a.String())
		}
	}
	return s
}

func sameSpec(a, b control.PortSpec) bool {
	return a.Bridge == b.Bridge && a.VLAN == b.VLAN && a.Isolated == b.Isolated && a.AntiSpoof == b.AntiSpoof &&
		a.MAC == b.MAC && slices.Equal(a.Allowed, b.Allowed) && a.FastPath == b.FastPath && a.PortType == b.PortType
}

// SetPort makes interface name a port of spec.Bridge with spec's settings,
// or brings the runtime port of that name to them: idempotent. A change of
// VLANs, isolation or anti-spoofing only is applied in place; a change of
// bridge, fast-path mode or port type attaches the port again. When the
// port cannot attach, nothing changes and the error says why.
func (d *Daemon) SetPort(name string, spec control.PortSpec) (res control.PortChange, err error) {
	rp, err := runtimePort(name, spec)
	res = control.PortChange{Port: name, Bridge: spec.Bridge}
	if err != nil {
		return res, err
	}
	d.serialized(func() { res, err = d.setPort(rp) })
	return res, err
}

func (d *Daemon) setPort(rp config.RuntimePort) (control.PortChange, error) {
	name := rp.Name
	res := control.PortChange{Port: name, Bridge: rp.Bridge}
	link, linkErr := d.sys.links.LinkByName(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return res, errStopping
	}
	if _, ok := d.cfg.LookupBridge(rp.Bridge); !ok {
		return res, notFound("port %s: bridge %s: no such bridge", name, rp.Bridge)
	}
	if linkErr != nil {
		return res, notFound("port %s: no such interface", name)
	}
	if enslaved(link) {
		return res, invalid("port %s: a port of another device (a kernel bridge or a bond): take it out first", name)
	}
	idx := link.Attrs().Index
	old, had := d.cfg.RuntimePort(name)
	a, attached := d.attached[idx]
	attached = attached && a.name == name
	if had && attached && a.bridge == rp.Bridge && sameSpec(portSpec(old), portSpec(rp)) {
		res.Message = fmt.Sprintf("%s on %s: already so", name, rp.Bridge)
		return res, nil
	}
	before, _ := planPort(d.cfg, name)
	d.cfg.SetRuntimePort(rp)
	undo := func() {
		if had {
			d.cfg.SetRuntimePort(old)
		} else {
			d.cfg.DropRuntimePort(name)
		}
	}
	if err := d.savePorts(); err != nil {
		undo()
		return res, fmt.Errorf("port %s: %w", name, err)
	}
	deleted, wasDeleted := d.deleted[idx]
	delete(d.deleted, idx)
	after, _ := planPort(d.cfg, name)
	res.Changed = true
	why := before.change(after)
	b, _, _ := matchPort(d.cfg, name)
	if attached && why == "" && samePolicy(a.policy, b.Policy(name)) {
		res.Message = fmt.Sprintf("%s on %s: the port was so already; its settings are kept as a runtime port's", name, rp.Bridge)
		return res, nil
	}
	if attached && why == "" {
		if err := d.applyPolicy(idx, a, b); err != nil {
			undo()
			d.logSaveErr(d.savePorts())
			return res, fmt.Errorf("port %s: bridge %s: %w", name, rp.Bridge, err)
		}
		res.Message = fmt.Sprintf("%s on %s: settings changed in place (%s)", name, rp.Bridge, describePolicy(rp.Policy))
		d.log.Info("port settings changed", "port", name, "bridge", rp.Bridge, "vlan", rp.Policy.VLAN.String(),
			"isolated", rp.Policy.Isolated, "antispoof", rp.Policy.AntiSpoof)
		return res, nil
	}
	if attached {
		d.detachLocked(idx, "runtime port settings changed: "+why)
	}
	d.mu.Unlock()
	d.attach(idx, name)
	d.mu.Lock()
	now, ok := d.attached[idx]
	if ok && now.name == name {
		d.mu.Unlock()
		d.uplinkPresent(name)
		d.mu.Lock()
		switch {
		case !attached:
			res.Message = fmt.Sprintf("%s added to %s (%s)", name, rp.Bridge, describePolicy(rp.Policy))
		case a.bridge != rp.Bridge:
			res.Message = fmt.Sprintf("%s moved from %s to %s (%s)", name, a.bridge, rp.Bridge, describePolicy(rp.Policy))
		default:
			res.Message = fmt.Sprintf("%s attached again to %s: %s", name, rp.Bridge, why)
		}
		return res, nil
	}
	cause := d.failed[idx]
	if cause == "" {
		cause = "did not attach"
	}
	// Back to what was: the record, and the port as it was attached.
	undo()
	d.logSaveErr(d.savePorts())
	if wasDeleted {
		d.deleted[idx] = deleted
	}
	if attached {
		d.mu.Unlock()
		d.attach(idx, name)
		d.mu.Lock()
	}
	return res, fmt.Errorf("port %s: bridge %s: %s; nothing changed", name, rp.Bridge, cause)
}

// applyPolicy gives an attached port of bridge b its policy under b in
// place, in the bridge and in the fast path; under mu. When the fast path
// refuses, the bridge goes back to the old policy. The MACs learned on the
// port are forgotten: learned in VLANs the port may have left, or from
// sources its anti-spoofing now refuses. Its static MACs stay.
func (d *Daemon) applyPolicy(idx int, a attachment, b config.Bridge) error {
	p := b.Policy(a.name)
	br := d.bridges[a.bridge]
	if err := br.SetPolicy(a.name, p); err != nil {
		return err
	}
	if a.fastPath != bpf.ModeOff || a.xsk != nil {
		if err := d.fp.SetPolicy(idx, p); err != nil {
			if err := br.SetPolicy(a.name, a.policy); err != nil {
				d.log.Error("cannot restore the policy of a port", "port", a.name, "bridge", a.bridge, "err", err)
			}
			return fmt.Errorf("fast path: %w", err)
		}
	}
	a.policy = p
	d.attached[idx] = a
	br.FDB().FlushPort(a.id)
	d.pinStatics(br, b, a)
	return nil
}

// syncPolicies brings the policy of every attached port to what the
// configuration says, in place; under mu. A reload calls it for the ports
// it keeps.
func (d *Daemon) syncPolicies() {
	for idx, a := range d.attached {
		b, _, ok := matchPort(d.cfg, a.name)
		if !ok || b.Name != a.bridge {
			continue
		}
		want := b.Policy(a.name)
		if samePolicy(a.policy, want) {
			continue
		}
		if err := d.applyPolicy(idx, a, b); err != nil {
			d.log.Error("cannot change the settings of a port", "port", a.name, "bridge", a.bridge, "err", err)
			continue
		}
		d.log.Info("port settings changed", "port", a.name, "bridge", a.bridge, "vlan", want.VLAN.String(), "isolated", want.Isolated, "antispoof", want.AntiSpoof)
	}
}

// RemovePort detaches interface name and forgets its runtime port:
// idempotent. The naming rule and the file do not attach it again until the
// interface goes away. An interface that is already gone is fine.
func (d *Daemon) RemovePort(name string) (res control.PortChange, err error) {
	res = control.PortChange{Port: name}
	if err := config.CheckIfname(name); err != nil {
		return res, invalid("port: %v", err)
	}
	d.serialized(func() { res, err = d.removePort(name) })
	return res, err
}

func (d *Daemon) removePort(name string) (control.PortChange, error) {
	res := control.PortChange{Port: name}
	link, linkErr := d.sys.links.LinkByName(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return res, errStopping
	}
	old, had := d.cfg.RuntimePort(name)
	idx, attached := 0, false
	for i, a := range d.attached {
		if a.name == name {
			idx, attached = i, true
			res.Bridge = a.bridge
		}
	}
	if !had && !attached {
		res.Message = name + " is not a port"
		return res, nil
	}
	if had {
		d.cfg.DropRuntimePort(name)
		if err := d.savePorts(); err != nil {
			d.cfg.SetRuntimePort(old)
			return res, fmt.Errorf("port %s: %w", name, err)
		}
		if res.Bridge == "" {
			res.Bridge = old.Bridge
		}
	}
	if attached {
		d.detachLocked(idx, "removed through the control API")
	}
	if linkErr == nil {
		d.deleted[link.Attrs().Index] = name
	}
	res.Changed = true
	res.Message = fmt.Sprintf("%s removed from %s", name, res.Bridge)
	return res, nil
}

// RuntimePort reports whether the port of that name was added at run time.
func (d *Daemon) RuntimePort(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.cfg.RuntimePort(name)
	return ok
}

// describePolicy says in a few words what a port's policy is.
func describePolicy(p policy.Policy) string {
	s := "vlan " + p.VLAN.String()
	if p.Isolated {
		s += ", isolated"
	}
	if p.AntiSpoof {
		s += ", anti-spoofing"
	}
	return s
}

func samePolicy(a, b policy.Policy) bool {
	return sameSpec(portSpec(config.RuntimePort{Policy: a}), portSpec(config.RuntimePort{Policy: b}))
}

// RuntimePortSpec returns what the runtime port of that name was asked to
// be, in canonical form: a settings change through the control API starts
// from it.
func (d *Daemon) RuntimePortSpec(name string) (control.PortSpec, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.cfg.RuntimePort(name)
	if !ok {
		return control.PortSpec{}, false
	}
	return portSpec(p), true
}

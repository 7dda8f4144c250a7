package daemon

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/hostport"
	"github.com/xswitch/xswitch/internal/takeover"
)

// takeovers runs takeovers and releases (package takeover) inside the
// daemon. They move links the daemon follows, so they take turns with link
// handling: serial is held by each takeover or release, by the handling of
// each link notification and by each resync.
type takeovers struct {
	serial sync.Mutex
	taker  *takeover.Taker // nil until LoadTakeovers
	// failed holds, under serial, the takeovers on record (by interface)
	// whose restore failed in a step: not tried again by themselves, as
	// each try may cut dom0 off for a moment.
	failed map[string]bool
	// noted holds, under serial, why each takeover on record whose
	// restore is tried again at each resync (its interface is not there,
	// or was refused before any change) is not in force: logged once.
	noted map[string]string
}

// serialized runs f while no takeover or release runs.
func (d *Daemon) serialized(f func()) {
	d.takeovers.serial.Lock()
	defer d.takeovers.serial.Unlock()
	f()
}

// LoadTakeovers opens the state file of takeovers at path and gives the
// daemon the bridges of those on record, so that a restarted daemon attaches
// their uplinks, ports and host ports again; its first resync takes over
// again what a reboot gave back (restoreTakeovers). Call it before Run.
func (d *Daemon) LoadTakeovers(path string) error {
	st, err := takeover.OpenStore(path)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range st.Records() {
		d.cfg.SetRuntime(d.cfg.RuntimeBridge(r.Bridge, r.Uplink, append(r.Ports, hostport.Peer(r.HostPort)), r.HostPort))
		d.log.Info("takeover on record", "interface", r.Interface, "kind", r.Kind, "bridge", r.Bridge, "uplink", r.Uplink, "host_port", r.HostPort, "state", path)
	}
	d.takeovers.taker = &takeover.Taker{Store: st, Switch: daemonSwitch{d}}
	d.takeovers.failed, d.takeovers.noted = map[string]bool{}, map[string]string{}
	return nil
}

// ErrNoTakeovers is the answer of Takeover and Release when LoadTakeovers
// did not run.
var ErrNoTakeovers = errors.New("takeovers are off: xswitchd has no state file for them")

// Takeover takes interface iface over (package takeover); failAt > 0 makes
// that step fail, to drill the rollback.
func (d *Daemon) Takeover(iface string, failAt int) (res takeover.Result, err error) {
	if d.takeovers.taker == nil {
		return res, ErrNoTakeovers
	}
	d.serialized(func() {
		res, err = d.takeovers.taker.Takeover(iface, takeover.Options{FailAt: failAt})
		if err == nil {
			d.takeovers.settled(res.Interface)
		}
	})
	d.logTakeover("takeover", iface, res, err)
	return res, err
}

// Release undoes the takeover of iface; failAt as for Takeover.
func (d *Daemon) Release(iface string, failAt int) (res takeover.Result, err error) {
	if d.takeovers.taker == nil {
		return res, ErrNoTakeovers
	}
	d.serialized(func() {
		res, err = d.takeovers.taker.Release(iface, takeover.Options{FailAt: failAt})
		if err == nil {
			d.takeovers.settled(res.Interface)
		}
	})
	d.logTakeover("release", iface, res, err)
	return res, err
}

// restoreTakeovers brings the takeovers on record back in force where they
// are not (takeover.Restore): at start, after a reboot, and at each resync
// for those whose interface was not there yet, or whose host port went.
// Call it under serial.
func (d *Daemon) restoreTakeovers() {
	t := d.takeovers.taker
	if t == nil {
		return
	}
	for _, r := range t.Store.Records() {
		if d.takeovers.failed[r.Interface] {
			continue
		}
		res, err := t.Restore(r, takeover.Options{})
		switch {
		case errors.Is(err, takeover.ErrStep):
			d.log.Error("cannot take over again as on record; not tried again by itself: xswitchctl takeover tries again, xswitchctl release forgets the record",
				"interface", r.Interface, "err", err)
			d.takeovers.failed[r.Interface] = true
		case err != nil:
			if d.takeovers.noted[r.Interface] != err.Error() {
				d.log.Warn(err.Error()+"; tried again at each resync", "interface", r.Interface)
				d.takeovers.noted[r.Interface] = err.Error()
			}
		default:
			delete(d.takeovers.noted, r.Interface)
			if res.Changed {
				d.log.Info(res.Message, "interface", r.Interface, "addresses", res.Addresses, "routes", res.Routes, "steps", len(res.Steps), "outage", res.Outage)
			}
		}
	}
}

// settled forgets what restoreTakeovers noted of the takeover of iface,
// which the operator just took over or released. Call it under serial.
func (t *takeovers) settled(iface string) {
	delete(t.failed, iface)
	delete(t.noted, iface)
}

func (d *Daemon) logTakeover(what, iface string, res takeover.Result, err error) {
	switch {
	case err != nil:
		d.log.Error(what+" failed", "interface", iface, "err", err)
	case res.Changed:
		d.log.Info(res.Message, "interface", iface, "outage", res.Outage, "steps", len(res.Steps))
	default:
		d.log.Info(res.Message, "interface", iface)
	}
}

// daemonSwitch is the daemon as package takeover sees it.
type daemonSwitch struct{ d *Daemon }

// Attach gives the configuration the bridge and attaches its interfaces at
// once, so that dom0's addresses are reachable as soon as they move. An
// interface that does not attach fails the step, with the reason.
func (s daemonSwitch) Attach(b takeover.Bridge) error {
	d := s.d
	d.mu.Lock()
	d.cfg.SetRuntime(d.cfg.RuntimeBridge(b.Name, b.Uplink, b.Ports, b.HostPort))
	d.mu.Unlock()
	var errs []error
	for _, name := range append([]string{b.Uplink}, b.Ports...) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("port %s: %w", name, err))
			continue
		}
		idx := l.Attrs().Index
		d.linkPresent(idx, name)
		d.mu.Lock()
		a, ok := d.attached[idx]
		why := d.failed[idx]
		d.mu.Unlock()
		switch {
		case ok && a.bridge != b.Name:
			errs = append(errs, fmt.Errorf("port %s did not attach to %s: it is a port of bridge %s", name, b.Name, a.bridge))
		case !ok && why != "":
			errs = append(errs, fmt.Errorf("port %s did not attach to %s: %s", name, b.Name, why))
		case !ok:
			errs = append(errs, fmt.Errorf("port %s did not attach to %s: no bridge takes it, or xswitchd is stopping", name, b.Name))
		}
	}
	return errors.Join(errs...)
}

// Detach takes the bridge out of the configuration and detaches its
// interfaces, also those the naming rule would keep: they leave the switch
// (a released kernel bridge enslaves them, which keeps them off).
func (s daemonSwitch) Detach(b takeover.Bridge) error {
	d := s.d
	d.mu.Lock()
	d.cfg.DropRuntime(b.Name)
	d.mu.Unlock()
	for _, name := range append([]string{b.Uplink}, b.Ports...) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			continue
		}
		idx := l.Attrs().Index
		d.mu.Lock()
		a, ok := d.attached[idx]
		d.mu.Unlock()
		if ok && a.bridge == b.Name {
			d.detach(idx, "released from bridge "+b.Name)
		}
	}
	return nil
}

// Ports returns the interfaces attached to bridge name.
func (s daemonSwitch) Ports(name string) []string {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, a := range d.attached {
		if a.bridge == name {
			out = append(out, a.name)
		}
	}
	return out
}

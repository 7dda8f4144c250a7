package daemon

import (
	"bytes"
	"fmt"
	"net"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/policy"
)

// Static MACs added at run time are pinned as the file's are: in the
// bridge's table (and so in the fast path's MAC map) while their port is
// attached, and again each time it attaches. The port state file keeps them.

// runtimeStatic checks a static MAC of the control API and reads it; port
// says whether it must name a port (PUT) or not (DELETE).
func runtimeStatic(s control.Static, port bool) (config.RuntimeStatic, error) {
	what := fmt.Sprintf("static %s", s.MAC)
	mac, err := config.ParseUnicastMAC(s.MAC)
	if err != nil {
		return config.RuntimeStatic{}, invalid("static: %v", err)
	}
	if s.VLAN > policy.MaxVID {
		return config.RuntimeStatic{}, invalid("%s: VLAN %d: want 0 to %d", what, s.VLAN, policy.MaxVID)
	}
	if s.Bridge == "" {
		return config.RuntimeStatic{}, invalid("%s: no bridge given", what)
	}
	if port {
		if err := config.CheckIfname(s.Port); err != nil {
			return config.RuntimeStatic{}, invalid("%s: port: %v", what, err)
		}
	}
	return config.RuntimeStatic{Bridge: s.Bridge, Static: config.Static{MAC: mac, VLAN: s.VLAN, Port: s.Port}}, nil
}

func staticOf(s config.RuntimeStatic) control.Static {
	return control.Static{Bridge: s.Bridge, MAC: s.MAC.String(), VLAN: s.VLAN, Port: s.Port}
}

// fileStatic says whether the file pins that MAC on bridge b: the control
// API leaves those alone.
func fileStatic(b config.Bridge, mac net.HardwareAddr, vlan uint16) bool {
	for _, st := range b.Static {
		if st.VLAN == vlan && bytes.Equal(st.MAC, mac) {
			return true
		}
	}
	return false
}

// SetStatic pins a MAC to a port of a bridge: idempotent. The port need not
// be attached yet; the MAC is pinned when it attaches to the bridge.
func (d *Daemon) SetStatic(s control.Static) (control.StaticChange, error) {
	res := control.StaticChange{Static: s}
	st, err := runtimeStatic(s, true)
	if err != nil {
		return res, err
	}
	res.Static = staticOf(st)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return res, errStopping
	}
	b, what, err := d.staticBridge(st)
	if err != nil {
		return res, err
	}
	if fileStatic(b, st.MAC, st.VLAN) {
		return res, invalid("%s: pinned by the configuration file; change it there", what)
	}
	old, had := d.cfg.RuntimeStatic(st.Bridge, st.MAC, st.VLAN)
	if had && old.Port == st.Port {
		res.Message = what + ": already pinned to " + st.Port
		return res, nil
	}
	d.cfg.SetRuntimeStatic(st)
	if err := d.savePorts(); err != nil {
		if had {
			d.cfg.SetRuntimeStatic(old)
		} else {
			d.cfg.DropRuntimeStatic(st.Bridge, st.MAC, st.VLAN)
		}
		return res, fmt.Errorf("%s: %w", what, err)
	}
	res.Changed = true
	k := fdb.MakeKey(st.VLAN, st.MAC)
	br, a, attached := d.attachedTo(st.Bridge, st.Port)
	switch {
	case attached:
		if err := br.FDB().AddStatic(k, a.id); err != nil {
			return res, fmt.Errorf("%s: %w", what, err)
		}
		res.Message = what + ": pinned to " + st.Port
	default:
		if had && br != nil {
			br.FDB().Delete(k) // off the old port
		}
		res.Message = fmt.Sprintf("%s: pinned to %s when it attaches to %s", what, st.Port, st.Bridge)
	}
	d.log.Info("static MAC set", "bridge", st.Bridge, "mac", st.MAC.String(), "vlan", st.VLAN, "port", st.Port, "attached", attached)
	return res, nil
}

// DeleteStatic removes a static MAC set at run time: idempotent.
func (d *Daemon) DeleteStatic(s control.Static) (control.StaticChange, error) {
	res := control.StaticChange{Static: s}
	st, err := runtimeStatic(s, false)
	if err != nil {
		return res, err
	}
	res.Static = staticOf(st)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return res, errStopping
	}
	b, what, err := d.staticBridge(st)
	if err != nil {
		return res, err
	}
	old, had := d.cfg.RuntimeStatic(st.Bridge, st.MAC, st.VLAN)
	switch {
	case !had && fileStatic(b, st.MAC, st.VLAN):
		return res, invalid("%s: pinned by the configuration file; remove it there", what)
	case !had:
		res.Message = what + ": not pinned"
		return res, nil
	}
	res.Port = old.Port
	d.cfg.DropRuntimeStatic(st.Bridge, st.MAC, st.VLAN)
	if err := d.savePorts(); err != nil {
		d.cfg.SetRuntimeStatic(old)
		return res, fmt.Errorf("%s: %w", what, err)
	}
	if br := d.bridges[st.Bridge]; br != nil {
		br.FDB().Delete(fdb.MakeKey(st.VLAN, st.MAC))
	}
	res.Changed = true
	res.Message = what + ": removed"
	d.log.Info("static MAC removed", "bridge", st.Bridge, "mac", st.MAC.String(), "vlan", st.VLAN, "port", old.Port)
	return res, nil
}

// staticBridge returns the configured bridge of a static MAC and the name
// its messages give it; under mu.
func (d *Daemon) staticBridge(st config.RuntimeStatic) (config.Bridge, string, error) {
	b, ok := d.cfg.LookupBridge(st.Bridge)
	if !ok {
		return b, "", notFound("static %s: bridge %s: no such bridge", st.MAC, st.Bridge)
	}
	return b, fmt.Sprintf("static %s (VLAN %d) on %s", st.MAC, st.VLAN, st.Bridge), nil
}

// attachedTo returns the dataplane bridge of that name (nil if it has none
// yet) and the attachment of port if it is attached to it; under mu.
func (d *Daemon) attachedTo(bridge, port string) (*dataplane.Bridge, attachment, bool) {
	br := d.bridges[bridge]
	for _, a := range d.attached {
		if a.name == port && a.bridge == bridge && br != nil {
			return br, a, true
		}
	}
	return br, attachment{}, false
}

// syncStatics brings the static MACs of the bridges to the configuration
// in place after a reload from old, without touching their ports: a MAC
// the file pinned and no longer pins to that port leaves the table (to be
// learned again, or pinned elsewhere), and every attached port gets the
// MACs now pinned to it. Under mu, after the reload's detaches.
func (d *Daemon) syncStatics(old *config.Config) {
	was := map[string]config.Bridge{}
	for _, b := range bridgesOf(old) {
		was[b.Name] = b
	}
	for _, b := range bridgesOf(d.cfg) {
		br := d.bridges[b.Name]
		if br == nil {
			continue
		}
		want := map[fdb.Key]string{}
		for _, st := range b.Static {
			want[fdb.MakeKey(st.VLAN, st.MAC)] = st.Port
		}
		for _, st := range d.cfg.RuntimeStatics {
			if st.Bridge == b.Name {
				want[fdb.MakeKey(st.VLAN, st.MAC)] = st.Port
			}
		}
		for _, st := range was[b.Name].Static {
			k := fdb.MakeKey(st.VLAN, st.MAC)
			if want[k] != st.Port && br.FDB().Delete(k) {
				d.log.Info("static MAC unpinned", "bridge", b.Name, "mac", st.MAC.String(), "vlan", st.VLAN, "port", st.Port)
			}
		}
		for _, a := range d.attached {
			if a.bridge == b.Name {
				d.pinStatics(br, b, a)
			}
		}
	}
}

package daemon

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/vxlan"
	"github.com/xswitch/xswitch/policy"
)

// vxlanKind is the link kind netlink reports for a VXLAN device.
const vxlanKind = "vxlan"

// TunnelPort is a VXLAN device attached to a bridge: made from one of the
// bridge's vxlan entries, or an existing device its ports name.
type TunnelPort struct {
	Bridge  string
	Port    string // the device's name
	Ifindex int
	VNI     uint32
	Local   netip.Addr // the local VTEP; invalid when the device has none
	UDPPort uint16
	// VLAN is the bridge VLAN the VNI carries when the port is an access
	// port; 0 when the port is transparent (the VNI is the whole bridge).
	VLAN uint16
	// Created says xswitchd made the device from a vxlan entry.
	Created bool
	Device  *vxlan.Device
}

// tunnels is what the daemon keeps of its tunnel ports.
type tunnels struct {
	ensure sync.Mutex // one ensureTunnels at a time; the fields below are under d.mu

	made     map[string]wantedTunnel // by name: the vxlan entries last ensured
	last     map[string]string       // by name: the last outcome logged ("ok" or the error)
	ports    map[int]TunnelPort      // by ifindex: the attached tunnel ports
	watchers []func()
}

// wantedTunnel is a vxlan entry and its bridge.
type wantedTunnel struct {
	bridge string
	cfg    config.VXLAN
}

// TunnelPorts returns the attached tunnel ports, by bridge and name.
func (d *Daemon) TunnelPorts() []TunnelPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]TunnelPort, 0, len(d.tunnels.ports))
	for _, t := range d.tunnels.ports {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bridge != out[j].Bridge {
			return out[i].Bridge < out[j].Bridge
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// OnTunnelPorts calls fn, on a goroutine of its own, each time a tunnel
// port attaches or detaches; fn reads the new set with TunnelPorts.
func (d *Daemon) OnTunnelPorts(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tunnels.watchers = append(d.tunnels.watchers, fn)
}

// notifyTunnels tells the watchers the set changed; under d.mu.
func (d *Daemon) notifyTunnels() {
	for _, fn := range d.tunnels.watchers {
		go fn()
	}
}

// ensureTunnels creates or adopts the VXLAN device of every vxlan entry of
// the configuration, keeps the static flood lists the entries give, and
// deletes the devices it made for entries the configuration no longer has.
// It talks to the kernel: call it without holding d.mu.
func (d *Daemon) ensureTunnels() {
	d.tunnels.ensure.Lock()
	defer d.tunnels.ensure.Unlock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	want := map[string]wantedTunnel{}
	for _, b := range d.cfg.Bridges {
		for _, v := range b.VXLAN {
			want[v.Name] = wantedTunnel{b.Name, v}
		}
	}
	before := d.tunnels.made
	d.mu.Unlock()

	for name, w := range before {
		if _, still := want[name]; still {
			continue
		}
		d.removeTunnel(name, w)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w := want[name]
		err := d.ensureTunnel(w, before[name])
		d.logTunnel(w, err)
	}
	d.mu.Lock()
	d.tunnels.made = want
	d.mu.Unlock()
}

// ensureTunnel makes one device and its flood list; prev is the entry as
// last ensured (zero if new), whose flood VTEPs that are gone are removed.
func (d *Daemon) ensureTunnel(w wantedTunnel, prev wantedTunnel) error {
	dev, err := vxlan.Create(w.cfg.Device())
	if err != nil {
		return err
	}
	for _, vtep := range prev.cfg.Flood {
		if !slices.Contains(w.cfg.Flood, vtep) {
			if err := dev.DelFloodVTEP(vtep); err != nil {
				return err
			}
		}
	}
	for _, vtep := range w.cfg.Flood {
		if err := dev.AddFloodVTEP(vtep); err != nil {
			return err
		}
	}
	return nil
}

// logTunnel logs the outcome of ensuring a device when it changed.
func (d *Daemon) logTunnel(w wantedTunnel, err error) {
	outcome := "ok"
	if err != nil {
		outcome = err.Error()
	}
	d.mu.Lock()
	if d.tunnels.last == nil {
		d.tunnels.last = map[string]string{}
	}
	changed := d.tunnels.last[w.cfg.Name] != outcome
	d.tunnels.last[w.cfg.Name] = outcome
	d.mu.Unlock()
	if !changed {
		return
	}
	if err != nil {
		d.log.Error("cannot set up tunnel port", "port", w.cfg.Name, "bridge", w.bridge, "vni", w.cfg.VNI, "err", err)
		return
	}
	d.log.Info("tunnel port ready", "port", w.cfg.Name, "bridge", w.bridge, "vni", w.cfg.VNI, "local", w.cfg.Local,
		"udp_port", w.cfg.Port, "underlay", w.cfg.Underlay, "flood", w.cfg.Flood)
}

// removeTunnel deletes the device of a vxlan entry the configuration no
// longer has, if xswitchd made it; one it adopted from the operator stays.
func (d *Daemon) removeTunnel(name string, w wantedTunnel) {
	d.mu.Lock()
	delete(d.tunnels.last, name)
	d.mu.Unlock()
	dev, err := vxlan.Open(name)
	if err != nil {
		return // gone already
	}
	if !dev.Owned() {
		for _, vtep := range w.cfg.Flood {
			dev.DelFloodVTEP(vtep)
		}
		d.log.Info("tunnel port no longer configured; kept, as xswitchd did not create it", "port", name, "bridge", w.bridge)
		return
	}
	if err := dev.Delete(); err != nil {
		d.log.Error("cannot delete tunnel port", "port", name, "bridge", w.bridge, "err", err)
		return
	}
	d.log.Info("tunnel port deleted: no longer configured", "port", name, "bridge", w.bridge)
}

// tunnelPortMode is the fast-path mode of a port: a VXLAN device has no
// native XDP, so one that would get xdp from a default gets tc. A
// port-fastpath entry naming it still wins (and fails to attach).
func tunnelPortMode(b config.Bridge, p bpf.Port) bpf.Mode {
	if p.Kind != vxlanKind || p.Mode != bpf.ModeXDP {
		return p.Mode
	}
	if _, set := b.PortModes.Lookup(p.Name); set {
		return p.Mode
	}
	return bpf.ModeTC
}

// tunnelPortType is the port type of a port: a VXLAN device that would be
// an AF_XDP port from a default is an AF_PACKET port, as AF_XDP on it
// could only copy through generic XDP. A port-types entry naming it still
// wins.
func tunnelPortType(b config.Bridge, p bpf.Port, t config.PortType) config.PortType {
	if p.Kind != vxlanKind || t != config.PortTypeAFXDP {
		return t
	}
	if _, set := b.PortTypes.Lookup(p.Name); set {
		return t
	}
	return config.PortTypeAFPacket
}

// tunnelAttached records a tunnel port that attached, and checks the MTUs
// of the bridge's ports against its tunnels: every port attaching to a
// bridge with a tunnel port, and every port already there when a tunnel
// port attaches. Under d.mu.
func (d *Daemon) tunnelAttached(b config.Bridge, p bpf.Port) {
	if p.Kind == vxlanKind {
		dev, err := vxlan.Open(p.Name)
		if err != nil {
			d.log.Warn("tunnel port attached, but its VXLAN settings cannot be read", "port", p.Name, "bridge", b.Name, "err", err)
			return
		}
		t := TunnelPort{Bridge: b.Name, Port: p.Name, Ifindex: p.Index, VNI: dev.VNI(), Local: dev.Local(), UDPPort: dev.Port(),
			Created: dev.Owned(), Device: dev}
		if pol := b.Policy(p.Name); pol.VLAN.Mode == policy.Access {
			t.VLAN = pol.VLAN.PVID
		}
		if d.tunnels.ports == nil {
			d.tunnels.ports = map[int]TunnelPort{}
		}
		d.tunnels.ports[p.Index] = t
		d.notifyTunnels()
		limit, why := d.tunnelLimit(t)
		if dev.MTU() > limit {
			d.log.Warn("tunnel port MTU does not fit its underlay: larger frames are fragmented or lost on the way",
				"port", p.Name, "bridge", b.Name, "mtu", dev.MTU(), "fits", limit, "because", why)
		}
		for idx, a := range d.attached {
			if a.bridge == b.Name && idx != p.Index && !d.isTunnel(idx) {
				d.checkFits(a.name, a.mtu, t)
			}
		}
		return
	}
	for _, t := range d.tunnels.ports {
		if t.Bridge == b.Name {
			d.checkFits(p.Name, p.MTU, t)
		}
	}
}

// tunnelDetached forgets a tunnel port; under d.mu.
func (d *Daemon) tunnelDetached(idx int) {
	if _, ok := d.tunnels.ports[idx]; ok {
		delete(d.tunnels.ports, idx)
		d.notifyTunnels()
	}
}

func (d *Daemon) isTunnel(idx int) bool {
	_, ok := d.tunnels.ports[idx]
	return ok
}

// checkFits warns when a port's frames can be larger than tunnel t carries:
// a guest's MTU must fit the underlay's MTU minus the encapsulation
// overhead (50 bytes over IPv4, 70 over IPv6). A warning, not a refusal:
// the guest still reaches everything on this host, and remote hosts with
// frames that fit.
func (d *Daemon) checkFits(port string, mtu int, t TunnelPort) {
	limit, why := d.tunnelLimit(t)
	if mtu <= limit {
		return
	}
	d.log.Warn(fmt.Sprintf("port MTU %d exceeds what tunnel port %s carries (%d: %s): frames of more than %d bytes to other hosts are lost; lower the guest's MTU or raise the underlay's",
		mtu, t.Port, limit, why, limit), "port", port, "bridge", t.Bridge, "mtu", mtu, "tunnel", t.Port, "fits", limit)
}

// tunnelLimit returns the largest MTU tunnel t carries without
// fragmenting: its device's MTU, and its underlay's MTU minus the
// overhead; why says which.
func (d *Daemon) tunnelLimit(t TunnelPort) (int, string) {
	limit := t.Device.MTU()
	why := fmt.Sprintf("the MTU of %s", t.Port)
	u, err := d.underlay(t.Device)
	if err != nil {
		return limit, why
	}
	over := t.Device.Overhead()
	if m := u.Attrs().MTU - over; m <= limit {
		limit = m
		why = fmt.Sprintf("underlay %s's MTU %d minus %d bytes of VXLAN overhead", u.Attrs().Name, u.Attrs().MTU, over)
	}
	return limit, why
}

// underlay finds the device a tunnel's packets leave by: the one the device
// names, else the one that has its local address.
func (d *Daemon) underlay(dev *vxlan.Device) (netlink.Link, error) {
	if dev.Underlay() != "" {
		return d.sys.links.LinkByName(dev.Underlay())
	}
	if !dev.Local().IsValid() {
		return nil, errors.New("no underlay device and no local address")
	}
	family := netlink.FAMILY_V4
	if dev.Local().Is6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(nil, family)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == dev.Local() {
			return d.sys.links.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("no device has local address %v", dev.Local())
}

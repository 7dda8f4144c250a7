package daemon

import (
	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/hostport"
)

// hostPorts is what the daemon remembers of the host ports it keeps, so
// that each outcome is logged once. The pairs themselves live in the
// kernel: the daemon never deletes one.
type hostPorts struct {
	last map[string]string // by dom0 name: the last outcome logged ("ok" or the error)
}

// hostPortOps makes host ports and looks up the links they depend on.
type hostPortOps interface {
	Ensure(s hostport.Spec) (created bool, err error)
	LinkByName(name string) (netlink.Link, error)
}

type kernelHostPorts struct{}

func (kernelHostPorts) Ensure(s hostport.Spec) (bool, error)         { return hostport.Ensure(s) }
func (kernelHostPorts) LinkByName(name string) (netlink.Link, error) { return netlink.LinkByName(name) }

// matchPort is cfg.Match that also knows the switch ends of host ports,
// which the configuration does not name: Peer(name) of a bridge's host port
// is a port of that bridge.
func matchPort(cfg *config.Config, ifname string) (b config.Bridge, uplink, ok bool) {
	for _, b := range cfg.Bridges {
		if isSwitchEnd(b, ifname) {
			return b, false, true
		}
	}
	return cfg.Match(ifname)
}

// wantedHostPort is a host port the configuration asks for and what its
// spec depends on.
type wantedHostPort struct {
	hp     config.HostPort
	bridge string
	uplink string
}

// ensureHostPorts creates or adopts the host port of every bridge that has
// one, except those that take their MAC and MTU from the uplink: the
// uplink's presence makes those (uplinkPresent). It talks to the kernel:
// call it without holding d.mu.
func (d *Daemon) ensureHostPorts() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	var want []wantedHostPort
	for _, b := range d.cfg.Bridges {
		if b.HostPort.Name != "" && !b.HostPort.FromUplink {
			want = append(want, wantedHostPort{b.HostPort, b.Name, b.Uplink})
		}
	}
	d.mu.Unlock()
	if d.sys.hostPorts == nil {
		return
	}
	for _, w := range want {
		d.ensureHostPort(w)
	}
}

// uplinkPresent gives the bridge of uplink ifname the host port that waited
// for it, or brings it to the uplink's MAC and MTU when they changed, and
// attaches the host port's switch end at once.
func (d *Daemon) uplinkPresent(ifname string) {
	d.mu.Lock()
	var (
		w     wantedHostPort
		found bool
	)
	for _, b := range d.cfg.Bridges {
		if b.Uplink == ifname && b.HostPort.Name != "" && b.HostPort.FromUplink {
			w, found = wantedHostPort{b.HostPort, b.Name, b.Uplink}, true
		}
	}
	closed := d.closed
	d.mu.Unlock()
	if !found || closed || d.sys.hostPorts == nil || !d.ensureHostPort(w) {
		return
	}
	peer := hostport.Peer(w.hp.Name)
	if l, err := d.sys.hostPorts.LinkByName(peer); err == nil {
		d.linkPresent(l.Attrs().Index, peer)
	}
}

// ensureHostPort creates or adopts one host port and logs what changed; it
// reports whether the host port is there.
func (d *Daemon) ensureHostPort(w wantedHostPort) bool {
	spec := hostport.Spec{Name: w.hp.Name, Bridge: w.bridge, MAC: w.hp.MAC, MTU: w.hp.MTU}
	if w.hp.FromUplink {
		l, err := d.sys.hostPorts.LinkByName(w.uplink)
		if err != nil {
			return false // made when the uplink appears
		}
		if spec.MAC == nil {
			spec.MAC = l.Attrs().HardwareAddr
		}
		if spec.MTU == 0 {
			spec.MTU = l.Attrs().MTU
		}
	}
	created, err := d.sys.hostPorts.Ensure(spec)
	outcome := "ok"
	if err != nil {
		outcome = err.Error()
	}
	d.mu.Lock()
	if d.hostPorts.last == nil {
		d.hostPorts.last = map[string]string{}
	}
	changed := d.hostPorts.last[w.hp.Name] != outcome
	d.hostPorts.last[w.hp.Name] = outcome
	d.mu.Unlock()
	switch {
	case err != nil:
		if changed {
			d.log.Error("cannot set up host port", "host_port", w.hp.Name, "bridge", w.bridge, "err", err)
		}
		return false
	case created:
		// A MAC or MTU the spec leaves open is what a new pair gets.
		mac, mtu := "random", spec.MTU
		if spec.MAC != nil {
			mac = spec.MAC.String()
		}
		if mtu == 0 {
			mtu = hostport.DefaultMTU
		}
		d.log.Info("host port created", "host_port", w.hp.Name, "bridge", w.bridge, "switch_end", hostport.Peer(w.hp.Name), "mac", mac, "mtu", mtu)
	case changed:
		d.log.Info("host port adopted", "host_port", w.hp.Name, "bridge", w.bridge, "switch_end", hostport.Peer(w.hp.Name))
	}
	return true
}

// isSwitchEnd says whether ifname is the switch end of b's host port.
func isSwitchEnd(b config.Bridge, ifname string) bool {
	return b.HostPort.Name != "" && hostport.Peer(b.HostPort.Name) == ifname
}

// hostPortMode is the fast-path mode of a port: a host port's switch end
// that would get XDP from a default gets TC. An XDP program on a veth takes
// GSO away from its peer, dom0's end: every TCP segment dom0 sends would
// cross the switch alone. A port-fastpath entry naming it still wins.
func hostPortMode(b config.Bridge, ifname string, m config.Mode) config.Mode {
	if m != config.ModeXDP || !isSwitchEnd(b, ifname) {
		return m
	}
	if _, set := b.PortModes.Lookup(ifname); set {
		return m
	}
	return config.ModeTC
}

// hostPortType is the port type of a port: a host port's switch end that
// would be an AF_XDP port from a default is an AF_PACKET port, for the same
// reason (AF_XDP needs an XDP program on it). A port-types entry naming it
// still wins.
func hostPortType(b config.Bridge, ifname string, t config.PortType) config.PortType {
	if t != config.PortTypeAFXDP || !isSwitchEnd(b, ifname) {
		return t
	}
	if _, set := b.PortTypes.Lookup(ifname); set {
		return t
	}
	return config.PortTypeAFPacket
}

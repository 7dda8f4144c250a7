package config

import (
	"fmt"
	"net"
	"path"

	"go.yaml.in/yaml/v3"
)

// HostPort is a bridge's host port: an interface in dom0's namespace that
// dom0's stack uses on the bridge (package hostport builds it).
type HostPort struct {
	Name string           // dom0's interface, e.g. "eth0"; "" when the bridge has none
	MAC  net.HardwareAddr // nil: keep an existing one's, else random, unless FromUplink
	MTU  int              // 0: keep an existing one's, else 1500, unless FromUplink
	// FromUplink says the host port takes the uplink's MAC and MTU (those
	// not set above) and is made when the uplink appears: auto mode's
	// ethN, "a copy of" pethN.
	FromUplink bool
	Line       int // where it is set in Source
}

// The MTUs a host port may have: IPv4's minimum, and a veth's maximum.
const (
	MinHostPortMTU = 68
	MaxHostPortMTU = 65535
)

// fileHostPort is the mapping form of host-port.
type fileHostPort struct {
	Name string `yaml:"name"`
	MAC  string `yaml:"mac"`
	MTU  int    `yaml:"mtu"`
}

// hostPort reads a bridge's host-port, a name or a {name, mac, mtu}
// mapping, whose value node is n.
func (p *parser) hostPort(b *Bridge, n *yaml.Node) error {
	if n.Kind == 0 {
		return nil
	}
	var f fileHostPort
	switch n.Kind {
	case yaml.ScalarNode:
		f.Name = n.Value
	case yaml.MappingNode:
		if err := n.Decode(&f); err != nil {
			line, err := decodeErr(err)
			if line == 0 {
				line = n.Line
			}
			return p.errAt(line, "bridge %q: host-port: %v", b.Name, err)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch k := n.Content[i].Value; k {
			case "name", "mac", "mtu":
			default:
				return p.errAt(n.Content[i].Line, "bridge %q: host-port: unknown key %q (want name, mac and mtu)", b.Name, k)
			}
		}
	default:
		return p.errAt(n.Line, "bridge %q: host-port: want an interface name, or a mapping such as {name: eth0, mac: 02:00:00:00:00:01, mtu: 1500}", b.Name)
	}
	at := func(key string) int {
		if v := value(n, key); v != nil {
			return v.Line
		}
		return n.Line
	}
	h := HostPort{Name: f.Name, MTU: f.MTU, Line: n.Line}
	if err := checkIfname(h.Name); err != nil || isGlob(h.Name) {
		return p.errAt(at("name"), "bridge %q: host-port: %q is not an interface name (1 to 15 characters, no '/', ':', spaces or glob characters)", b.Name, h.Name)
	}
	if other, dup := p.ifaces[h.Name]; dup {
		return p.errAt(at("name"), "bridge %q: host-port %s is already a port of bridge %q", b.Name, h.Name, other)
	}
	p.ifaces[h.Name] = b.Name
	if f.MAC != "" {
		mac, err := net.ParseMAC(f.MAC)
		if err != nil || len(mac) != 6 || mac[0]&1 != 0 || string(mac) == "\x00\x00\x00\x00\x00\x00" {
			return p.errAt(at("mac"), "bridge %q: host-port %s: mac %q is not a unicast Ethernet address", b.Name, h.Name, f.MAC)
		}
		h.MAC = mac
	}
	if value(n, "mtu") != nil && (h.MTU < MinHostPortMTU || h.MTU > MaxHostPortMTU) {
		return p.errAt(at("mtu"), "bridge %q: host-port %s: mtu %d is not between %d and %d", b.Name, h.Name, h.MTU, MinHostPortMTU, MaxHostPortMTU)
	}
	b.HostPort = h
	return nil
}

// checkHostPortGlobs refuses a host port that a port glob of any bridge
// matches: its dom0 end would become a switch port too, and the pair a
// loop.
func checkHostPortGlobs(file string, bridges []Bridge) error {
	for _, b := range bridges {
		if b.HostPort.Name == "" {
			continue
		}
		for _, o := range bridges {
			for _, g := range o.Ports {
				if m, _ := path.Match(g, b.HostPort.Name); m && isGlob(g) {
					return &LineError{file, b.HostPort.Line, fmt.Sprintf("bridge %q: host-port %s matches port %q of bridge %q: dom0's end must not be a switch port", b.Name, b.HostPort.Name, g, o.Name)}
				}
			}
		}
	}
	return nil
}

// autoHostPort is the host port auto mode gives bridge xenbrN of uplink
// pethN: ethN, with pethN's MAC and MTU.
func autoHostPort(n string) HostPort {
	return HostPort{Name: "eth" + n, FromUplink: true}
}

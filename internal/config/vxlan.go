package config

import (
	"fmt"
	"net/netip"

	"go.yaml.in/yaml/v3"

	"github.com/xswitch/xswitch/internal/vxlan"
	"github.com/xswitch/xswitch/policy"
)

// VXLAN is a tunnel port a bridge's vxlan block asks xswitchd to create: a
// kernel VXLAN device (package vxlan) that becomes a port of the bridge.
type VXLAN struct {
	Name     string     // interface name, vxlan<VNI> by default
	VNI      uint32     // 1..16777215, once per file
	Local    netip.Addr // this host's VTEP address, on the underlay
	Port     uint16     // UDP port, vxlan.DefaultPort by default
	Underlay string     // the device tunnel packets leave by; "" lets routing choose
	MTU      int        // 0: the underlay's MTU minus the encapsulation overhead
	Learning bool       // the kernel learns remote MACs from what it decapsulates
	// Flood are remote VTEPs every broadcast, multicast and unknown
	// unicast is replicated to: a static fabric, without EVPN.
	Flood []netip.Addr
	// VLAN puts the VNI on one VLAN of the bridge: the device is an access
	// port of it. 0 leaves the port transparent (the whole bridge).
	VLAN uint16
	Line int // where the entry starts in Source
}

// Device is the vxlan package's description of the tunnel.
func (v VXLAN) Device() vxlan.Config {
	return vxlan.Config{Name: v.Name, VNI: v.VNI, Local: v.Local, Port: v.Port, Underlay: v.Underlay, MTU: v.MTU, Learning: v.Learning}
}

// fileVXLAN is one item of a bridge's vxlan list.
type fileVXLAN struct {
	Name     string   `yaml:"name"`
	VNI      int64    `yaml:"vni"`
	Local    string   `yaml:"local"`
	Port     int      `yaml:"port"`
	Underlay string   `yaml:"underlay"`
	MTU      int      `yaml:"mtu"`
	Learning bool     `yaml:"learning"`
	Flood    []string `yaml:"flood"`
	VLAN     int      `yaml:"vlan"`
}

// vxlans reads a bridge's vxlan list, whose node is n. Each device becomes
// one of the bridge's ports; one with a VLAN gets a port-settings entry
// that makes it an access port, after the file's own entries (an entry of
// the file that names it wins).
func (p *parser) vxlans(b *Bridge, n *yaml.Node) error {
	if n.Kind == 0 {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return p.errAt(n.Line, "bridge %q: vxlan: want a list such as [{vni: 100, local: 192.0.2.1, underlay: eth1}]", b.Name)
	}
	if p.vnis == nil {
		p.vnis = map[uint32]string{}
	}
	for _, item := range n.Content {
		v, err := p.vxlan(b, item)
		if err != nil {
			return err
		}
		b.VXLAN = append(b.VXLAN, v)
		if !hasPort(b.Ports, v.Name) {
			b.Ports = append(b.Ports, v.Name)
		}
		if v.VLAN != 0 {
			b.PortPolicies = append(b.PortPolicies, PatternOf[policy.Policy]{Pattern: v.Name, Value: policy.Policy{VLAN: policy.AccessVLAN(v.VLAN)}})
		}
	}
	return nil
}

func hasPort(ports []string, name string) bool {
	for _, p := range ports {
		if p == name {
			return true
		}
	}
	return false
}

// vxlan reads one item of a vxlan list.
func (p *parser) vxlan(b *Bridge, n *yaml.Node) (VXLAN, error) {
	v := VXLAN{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return v, p.errAt(n.Line, "bridge %q: vxlan: want a mapping such as {vni: 100, local: 192.0.2.1}", b.Name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "name", "vni", "local", "port", "underlay", "mtu", "learning", "flood", "vlan":
		default:
			return v, p.errAt(n.Content[i].Line, "bridge %q: vxlan: unknown key %q (want vni, local, port, underlay, mtu, name, learning, flood and vlan)", b.Name, k)
		}
	}
	var f fileVXLAN
	if err := n.Decode(&f); err != nil {
		line, err := decodeErr(err)
		if line == 0 {
			line = n.Line
		}
		return v, p.errAt(line, "bridge %q: vxlan: %v", b.Name, err)
	}
	at := func(key string) int { return keyLine(n, key) }
	if f.VNI < 1 || f.VNI > vxlan.MaxVNI {
		return v, p.errAt(at("vni"), "bridge %q: vxlan: vni %d is not between 1 and %d", b.Name, f.VNI, vxlan.MaxVNI)
	}
	v.VNI = uint32(f.VNI)
	if other, dup := p.vnis[v.VNI]; dup {
		return v, p.errAt(at("vni"), "bridge %q: vxlan: vni %d is already used by bridge %q", b.Name, v.VNI, other)
	}
	p.vnis[v.VNI] = b.Name
	what := fmt.Sprintf("bridge %q: vxlan %d", b.Name, v.VNI)
	v.Name = f.Name
	if v.Name == "" {
		v.Name = vxlan.DefaultName(v.VNI)
	}
	if err := checkIfname(v.Name); err != nil || isGlob(v.Name) {
		return v, p.errAt(at("name"), "%s: name %q is not an interface name (1 to 15 characters, no '/', ':', spaces or glob characters)", what, v.Name)
	}
	if other, dup := p.ifaces[v.Name]; dup && other != b.Name {
		return v, p.errAt(at("name"), "%s: %s is already a port of bridge %q", what, v.Name, other)
	}
	p.ifaces[v.Name] = b.Name
	var err error
	if v.Local, err = netip.ParseAddr(f.Local); err != nil || !unicast(v.Local) {
		return v, p.errAt(at("local"), "%s: local %q is not a unicast IP address (this host's VTEP address)", what, f.Local)
	}
	v.Local = v.Local.Unmap()
	switch {
	case f.Port == 0:
		v.Port = vxlan.DefaultPort
	case f.Port < 1 || f.Port > 65535:
		return v, p.errAt(at("port"), "%s: port %d is not a UDP port", what, f.Port)
	default:
		v.Port = uint16(f.Port)
	}
	if f.Underlay != "" {
		if err := checkIfname(f.Underlay); err != nil || isGlob(f.Underlay) {
			return v, p.errAt(at("underlay"), "%s: underlay %q is not an interface name", what, f.Underlay)
		}
		if other, isPort := p.ifaces[f.Underlay]; isPort {
			return v, p.errAt(at("underlay"), "%s: underlay %s is a port of bridge %q: tunnel packets must leave through dom0's stack", what, f.Underlay, other)
		}
		v.Underlay = f.Underlay
	}
	minMTU := 68
	if value(n, "mtu") != nil && (f.MTU < minMTU || f.MTU > 65535) {
		return v, p.errAt(at("mtu"), "%s: mtu %d is not between %d and 65535", what, f.MTU, minMTU)
	}
	v.MTU, v.Learning = f.MTU, f.Learning
	for j, s := range f.Flood {
		a, err := netip.ParseAddr(s)
		if err != nil || !unicast(a) {
			return v, p.errAt(seqItemLine(n, "flood", j), "%s: flood: %q is not a unicast IP address (a remote VTEP)", what, s)
		}
		a = a.Unmap()
		if a.Is4() != v.Local.Is4() {
			return v, p.errAt(seqItemLine(n, "flood", j), "%s: flood: %v and local %v are of different IP families", what, a, v.Local)
		}
		v.Flood = append(v.Flood, a)
	}
	if value(n, "vlan") != nil {
		if f.VLAN < 1 || f.VLAN > 4094 {
			return v, p.errAt(at("vlan"), "%s: vlan %d is not between 1 and 4094", what, f.VLAN)
		}
		v.VLAN = uint16(f.VLAN)
	}
	return v, nil
}

func unicast(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast()
}

package config

import (
	"bytes"
	"net"
	"slices"
	"strings"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// Runtime bridges are those a takeover gives the daemon while it runs: the
// bridge of a NIC taken over (pethN and host port ethN), or the one that
// replaced a kernel bridge, whose uplink and ports have whatever names the
// kernel bridge's had. Their uplink and ports are exact names and match
// before the file's bridges and the naming rule. They live outside the file
// (the daemon persists them), so a reload keeps them.

// RuntimeBridge returns the bridge name as a takeover gives it: the file's
// or auto mode's bridge of that name with its settings, else one with the
// defaults of auto mode, with the given uplink, ports and host port.
func (c *Config) RuntimeBridge(name, uplink string, ports []string, hostPort string) Bridge {
	b := Bridge{Name: name, FDB: fdb.DefaultConfig(), Rings: Rings{Vif: VifRing(), Uplink: UplinkRing()}}
	for _, have := range c.Bridges {
		if have.Name == name {
			b = have
		}
	}
	b.Uplink = uplink
	b.Ports = append([]string(nil), ports...)
	b.HostPort = HostPort{Name: hostPort}
	b.Line = 0
	return b
}

// SetRuntime adds bridge b to the runtime bridges, replacing one of its
// name.
func (c *Config) SetRuntime(b Bridge) {
	c.DropRuntime(b.Name)
	c.Runtime = append(c.Runtime, b)
}

// DropRuntime removes runtime bridge name, if there is one.
func (c *Config) DropRuntime(name string) {
	var out []Bridge // a new slice: a reloaded configuration may share the old one
	for _, b := range c.Runtime {
		if b.Name != name {
			out = append(out, b)
		}
	}
	c.Runtime = out
}

func (c *Config) matchRuntime(ifname string) (Bridge, bool, bool) {
	for _, b := range c.Runtime {
		if b.Uplink == ifname {
			return b, true, true
		}
		for _, p := range b.Ports {
			if p == ifname {
				return b, false, true
			}
		}
	}
	return Bridge{}, false, false
}

// RuntimePort is an interface made a port of a bridge at run time (the
// control API), with its own settings. It wins over the naming rule, the
// file's ports and globs and the runtime bridges' names; its settings win
// over the bridge's. The daemon persists it, so a reload keeps it.
type RuntimePort struct {
	Name     string // an interface name, no glob
	Bridge   string
	Policy   policy.Policy
	FastPath Mode     // "" takes the bridge's
	PortType PortType // "" takes the bridge's
}

// RuntimeStatic is a static MAC entry added at run time, pinned to its port
// as the file's are, when the port attaches to the bridge.
type RuntimeStatic struct {
	Bridge string
	Static
}

// RuntimePort returns the runtime port of that name.
func (c *Config) RuntimePort(name string) (RuntimePort, bool) {
	for _, p := range c.RuntimePorts {
		if p.Name == name {
			return p, true
		}
	}
	return RuntimePort{}, false
}

// SetRuntimePort adds p to the runtime ports, replacing one of its name.
func (c *Config) SetRuntimePort(p RuntimePort) {
	c.DropRuntimePort(p.Name)
	c.RuntimePorts = append(c.RuntimePorts, p)
}

// DropRuntimePort removes runtime port name, if there is one.
func (c *Config) DropRuntimePort(name string) {
	var out []RuntimePort // a new slice: a reloaded configuration may share the old one
	for _, p := range c.RuntimePorts {
		if p.Name != name {
			out = append(out, p)
		}
	}
	c.RuntimePorts = out
}

// SetRuntimeStatic adds s to the runtime static MACs, replacing one of its
// bridge, VLAN and MAC.
func (c *Config) SetRuntimeStatic(s RuntimeStatic) {
	c.DropRuntimeStatic(s.Bridge, s.MAC, s.VLAN)
	c.RuntimeStatics = append(c.RuntimeStatics, s)
}

// DropRuntimeStatic removes a runtime static MAC, if there is one.
func (c *Config) DropRuntimeStatic(bridge string, mac net.HardwareAddr, vlan uint16) {
	var out []RuntimeStatic // a new slice, as above
	for _, s := range c.RuntimeStatics {
		if !(s.Bridge == bridge && s.VLAN == vlan && bytes.Equal(s.MAC, mac)) {
			out = append(out, s)
		}
	}
	c.RuntimeStatics = out
}

// RuntimeStatic returns the runtime static MAC of that bridge, MAC and VLAN.
func (c *Config) RuntimeStatic(bridge string, mac net.HardwareAddr, vlan uint16) (RuntimeStatic, bool) {
	for _, s := range c.RuntimeStatics {
		if s.Bridge == bridge && s.VLAN == vlan && bytes.Equal(s.MAC, mac) {
			return s, true
		}
	}
	return RuntimeStatic{}, false
}

// LookupBridge returns the bridge of that name: a runtime bridge, else the
// file's, else in auto mode one the naming rule has made. In auto mode,
// xenbrN is also made now, as the naming rule would make it for pethN or
// vifD.N.
func (c *Config) LookupBridge(name string) (Bridge, bool) {
	for _, b := range c.Runtime {
		if b.Name == name {
			return b, true
		}
	}
	for _, b := range c.Bridges {
		if b.Name == name {
			return b, true
		}
	}
	if n, ok := strings.CutPrefix(name, "xenbr"); ok && c.Auto && n != "" && strings.Trim(n, "0123456789") == "" {
		return *c.autoBridge(n), true
	}
	return Bridge{}, false
}

// matchRuntimePort matches a runtime port: its bridge, with the port's own
// settings put first.
func (c *Config) matchRuntimePort(ifname string) (b Bridge, uplink, found, ok bool) {
	p, found := c.RuntimePort(ifname)
	if !found {
		return Bridge{}, false, false, false
	}
	b, ok = c.LookupBridge(p.Bridge)
	if !ok {
		return Bridge{}, false, true, false
	}
	// New slices: b shares its patterns with the configuration.
	if p.FastPath != "" {
		b.PortModes = slices.Concat(Patterns[Mode]{{Pattern: ifname, Value: p.FastPath}}, b.PortModes)
	}
	if p.PortType != "" {
		b.PortTypes = slices.Concat(Patterns[PortType]{{Pattern: ifname, Value: p.PortType}}, b.PortTypes)
	}
	b.PortPolicies = slices.Concat(Patterns[policy.Policy]{{Pattern: ifname, Value: p.Policy}}, b.PortPolicies)
	return b, b.Uplink == ifname, true, true
}

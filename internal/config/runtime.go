package config

import "github.com/xswitch/xswitch/fdb"

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

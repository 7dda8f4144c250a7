package config

import (
	"path"
	"strconv"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/xen"
)

// Match says which bridge an interface belongs to, and whether it is that
// bridge's uplink. In a file, an exact name wins over a glob, and among globs
// the first bridge in file order wins. In auto mode, pethN is the uplink of
// xenbrN, which then has host port ethN unless HostPorts is off, and vifD.N
// and vifD.N-emu join xenbrN. Runtime bridges come before all of these, and
// runtime ports before them: a runtime port of a bridge that is not there
// matches nothing.
func (c *Config) Match(ifname string) (b Bridge, uplink, ok bool) {
	if b, uplink, found, ok := c.matchRuntimePort(ifname); found {
		return b, uplink, ok
	}
	if b, uplink, ok := c.matchRuntime(ifname); ok {
		return b, uplink, true
	}
	if c.Auto {
		return c.autoMatch(ifname)
	}
	for i := range c.Bridges {
		if c.Bridges[i].Uplink == ifname {
			return c.Bridges[i], true, true
		}
		for _, p := range c.Bridges[i].Ports {
			if p == ifname {
				return c.Bridges[i], false, true
			}
		}
	}
	for i := range c.Bridges {
		for _, p := range c.Bridges[i].Ports {
			if m, _ := path.Match(p, ifname); m {
				return c.Bridges[i], false, true
			}
		}
	}
	return Bridge{}, false, false
}

func (c *Config) autoMatch(ifname string) (Bridge, bool, bool) {
	if n, ok := xen.ParsePeth(ifname); ok {
		b := c.autoBridge(n)
		b.Uplink = ifname
		if c.HostPorts {
			b.HostPort = autoHostPort(n)
		}
		return *b, true, true
	}
	if v, ok := xen.ParseVif(ifname); ok {
		return *c.autoBridge(strconv.Itoa(v.DevID)), false, true
	}
	return Bridge{}, false, false
}

// autoBridge returns bridge xenbrN, creating it with defaults on first use.
// Match is called from one goroutine, so auto mode grows Bridges unlocked.
func (c *Config) autoBridge(n string) *Bridge {
	name := "xenbr" + n
	for i := range c.Bridges {
		if c.Bridges[i].Name == name {
			return &c.Bridges[i]
		}
	}
	c.Bridges = append(c.Bridges, Bridge{
		Name:  name,
		Ports: []string{"vif*." + n, "vif*." + n + "-emu"},
		FDB:   fdb.DefaultConfig(),
		Rings: Rings{Vif: VifRing(), Uplink: UplinkRing()},
	})
	return &c.Bridges[len(c.Bridges)-1]
}

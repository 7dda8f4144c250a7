package config

import (
	"path"
	"regexp"
	"strconv"

	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/fdb"
)

// Xen names dom0's interfaces: pethN is the physical NIC behind ethN, vifD.N
// is device N of domain D (vifD.N-emu its emulated twin for HVM guests), and
// device N joins the bridge of ethN.
var (
	pethName = regexp.MustCompile(`^peth(\d+)$`)
	vifName  = regexp.MustCompile(`^vif(\d+)\.(\d+)(-emu)?$`)
)

// Vif is what a Xen vif name says about its guest.
type Vif struct {
	DomID int  // domain id (never reused by Xen)
	DevID int  // device index inside the guest
	Emu   bool // the -emu tap of an HVM guest
}

// ParseVif parses vifD.N and vifD.N-emu.
func ParseVif(name string) (Vif, bool) {
	m := vifName.FindStringSubmatch(name)
	if m == nil {
		return Vif{}, false
	}
	d, err1 := strconv.Atoi(m[1])
	n, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return Vif{}, false
	}
	return Vif{DomID: d, DevID: n, Emu: m[3] != ""}, true
}

// Match says which bridge an interface belongs to, and whether it is that
// bridge's uplink. In a file, an exact name wins over a glob, and among globs
// the first bridge in file order wins. In auto mode, pethN is the uplink of
// xenbrN, and vifD.N and vifD.N-emu join xenbrN.
func (c *Config) Match(ifname string) (b Bridge, uplink, ok bool) {
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
	if m := pethName.FindStringSubmatch(ifname); m != nil {
		b := c.autoBridge(m[1])
		b.Uplink = ifname
		return *b, true, true
	}
	if v, ok := ParseVif(ifname); ok {
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
		Rings: Rings{Vif: afpacket.VifConfig(), Uplink: afpacket.UplinkConfig()},
	})
	return &c.Bridges[len(c.Bridges)-1]
}

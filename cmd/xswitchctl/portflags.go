package main

import (
	"flag"
	"fmt"
	"net"

	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/policy"
)

// portFlags are the settings port add and port set take. Each flag's value
// is checked as it is read, so a bad one is a usage error.
type portFlags struct {
	vlan           string   // -vlan, as policy.VLANs.String writes it
	access, native uint16   // -access, -native
	trunk          []uint16 // -trunk
	mac            string
	allow          []string // single addresses without a prefix length
	antispoof      bool
	isolated       bool
	fastPath       string
	portType       string
	bridge         string // port set only
	given          map[string]bool
}

func newPortFlags(fs *flag.FlagSet) *portFlags {
	f := &portFlags{}
	fs.Func("access", "access port of VLAN `N`: untagged on the wire", func(s string) (err error) {
		f.access, err = policy.ParseVID(s)
		return err
	})
	fs.Func("trunk", "trunk port of the VLANs in `LIST` (20,30,100-110): tagged on the wire", func(s string) (err error) {
		f.trunk, err = policy.ParseVIDs(s)
		return err
	})
	fs.Func("native", "with -trunk: untagged frames are in VLAN `N`", func(s string) (err error) {
		f.native, err = policy.ParseVID(s)
		return err
	})
	fs.Func("vlan", "the VLANs in one `SPEC`: transparent, access N, or trunk LIST [native N]", func(s string) error {
		v, err := policy.ParseVLANs(s)
		f.vlan = v.String()
		return err
	})
	fs.Func("mac", "the guest's `MAC`, which anti-spoofing checks (\"\": none)", func(s string) error {
		if s == "" {
			f.mac = ""
			return nil
		}
		m, err := net.ParseMAC(s)
		if err == nil {
			err = policy.Policy{MAC: m}.Validate()
		}
		f.mac = m.String()
		return err
	})
	fs.Func("allow", "the source `ADDRS` anti-spoofing lets through: addresses and prefixes, separated by commas or spaces", func(s string) error {
		ps, err := policy.ParseAllowed(s)
		f.allow = make([]string, len(ps))
		for i, p := range ps {
			f.allow[i] = p.String()
			if p.IsSingleIP() {
				f.allow[i] = p.Addr().String()
			}
		}
		return err
	})
	fs.BoolVar(&f.antispoof, "antispoof", false, "drop frames whose source is not -mac and -allow (needs -mac)")
	fs.BoolVar(&f.isolated, "isolated", false, "forward nothing between this port and another isolated port")
	fs.Func("fastpath", "eBPF fast-path `mode`: auto, xdp, tc or off (default and \"\": the bridge's)", func(s string) error {
		f.fastPath = s
		if s == "" {
			return nil
		}
		_, err := config.ParseMode(s)
		return err
	})
	fs.Func("type", "port `type`: auto, afpacket or afxdp (default and \"\": the bridge's)", func(s string) error {
		f.portType = s
		if s == "" {
			return nil
		}
		_, err := config.ParsePortType(s)
		return err
	})
	return f
}

// read notes which flags the command line gave.
func (f *portFlags) read(fs *flag.FlagSet) {
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
}

// apply writes the settings given into spec, which holds the port's
// settings now (port set) or none (port add). A -trunk or -native alone
// keeps the other of a trunk port.
func (f *portFlags) apply(spec *control.PortSpec) error {
	g := f.given
	if n := count(g["vlan"], g["access"], g["trunk"] || g["native"]); n > 1 {
		return fmt.Errorf("-vlan, -access and -trunk exclude each other")
	}
	switch {
	case g["vlan"]:
		spec.VLAN = f.vlan
	case g["access"]:
		spec.VLAN = policy.AccessVLAN(f.access).String()
	case g["trunk"] || g["native"]:
		cur, _ := policy.ParseVLANs(spec.VLAN)
		if cur.Mode != policy.Trunk {
			cur = policy.VLANs{}
		}
		list, native := cur.Trunk, cur.PVID
		if g["trunk"] {
			list = f.trunk
		}
		if g["native"] {
			native = f.native
		}
		if len(list) == 0 {
			return fmt.Errorf("-native needs -trunk")
		}
		v := policy.TrunkVLANs(native, list...)
		if err := v.Validate(); err != nil {
			return err
		}
		spec.VLAN = v.String()
	}
	if g["mac"] {
		spec.MAC = f.mac
	}
	if g["allow"] {
		spec.Allowed = f.allow
	}
	if g["antispoof"] {
		spec.AntiSpoof = f.antispoof
	}
	if g["isolated"] {
		spec.Isolated = f.isolated
	}
	if g["fastpath"] {
		spec.FastPath = f.fastPath
	}
	if g["type"] {
		spec.PortType = f.portType
	}
	if g["bridge"] {
		spec.Bridge = f.bridge
	}
	if spec.AntiSpoof && spec.MAC == "" {
		return fmt.Errorf("-antispoof needs -mac")
	}
	return nil
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

package policy

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestParseVLANs(t *testing.T) {
	good := map[string]VLANs{
		"":                         {},
		"transparent":              {},
		"10":                       AccessVLAN(10),
		"access 10":                AccessVLAN(10),
		"trunk 30,20":              TrunkVLANs(0, 20, 30),
		"trunk 20-22,30 native 10": TrunkVLANs(10, 20, 21, 22, 30),
		"trunk native 10":          TrunkVLANs(10),
	}
	for s, want := range good {
		got, err := ParseVLANs(s)
		if err != nil || got.Mode != want.Mode || got.PVID != want.PVID || !slices.Equal(got.Trunk, want.Trunk) {
			t.Errorf("ParseVLANs(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		if again, err := ParseVLANs(got.String()); err != nil || again.String() != got.String() {
			t.Errorf("%q: String %q does not read back: %v", s, got.String(), err)
		}
	}
	for _, s := range []string{"access", "access 0", "access 4095", "trunk", "trunk 5-2", "trunk 1,x", "native 3", "access 1 2", "trunk 1 2"} {
		if v, err := ParseVLANs(s); err == nil {
			t.Errorf("ParseVLANs(%q) = %+v, want an error", s, v)
		}
	}
}

func TestIngressEgress(t *testing.T) {
	acc, tr, tp := AccessVLAN(10), TrunkVLANs(10, 20, 30), VLANs{}
	type in struct {
		v      VLANs
		tagged bool
		vid    uint16
		inside uint16
		ok     bool
	}
	for _, c := range []in{
		{acc, false, 0, 10, true}, {acc, true, 10, 10, false},
		{tr, false, 0, 10, true}, {tr, true, 20, 20, true}, {tr, true, 40, 40, false}, {tr, true, 0, 0, false},
		{TrunkVLANs(0, 20), false, 0, 0, false},
		{tp, false, 0, 0, true}, {tp, true, 40, 40, true},
	} {
		inside, ok := c.v.Ingress(c.tagged, c.vid)
		if inside != c.inside && c.ok || ok != c.ok {
			t.Errorf("%v ingress tagged=%v vid %d = %d, %v; want %d, %v", c.v, c.tagged, c.vid, inside, ok, c.inside, c.ok)
		}
	}
	type out struct {
		v              VLANs
		vid            uint16
		member, tagged bool
	}
	for _, c := range []out{
		{acc, 10, true, false}, {acc, 20, false, false}, {acc, 0, false, false},
		{tr, 10, true, false}, {tr, 20, true, true}, {tr, 40, false, true}, {tr, 0, false, true},
		{tp, 0, true, false}, {tp, 40, true, true},
	} {
		m, tg := c.v.Egress(c.vid)
		if m != c.member || m && tg != c.tagged {
			t.Errorf("%v egress vid %d = %v, %v; want %v, %v", c.v, c.vid, m, tg, c.member, c.tagged)
		}
	}
}

func TestAllowed(t *testing.T) {
	al, err := ParseAllowed("192.0.2.5 2001:db8::5,198.51.100.0/24")
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{0x00, 0x16, 0x3e, 0x01, 0x02, 0x03}
	p := Policy{AntiSpoof: true, MAC: mac, Allowed: al}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{
		"192.0.2.5": true, "192.0.2.6": false, "198.51.100.77": true, "::ffff:192.0.2.5": true,
		"2001:db8::5": true, "2001:db8::6": false, "fe80::216:3eff:fe01:203": true, "fe80::1": false,
	} {
		if got := p.AllowsAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("AllowsAddr(%s) = %v, want %v", a, got, want)
		}
	}
	if _, err := ParseAllowed("192.0.2.300"); err == nil {
		t.Error("a bad address was accepted")
	}
	if err := (Policy{AntiSpoof: true}).Validate(); err == nil {
		t.Error("anti-spoofing without a MAC was accepted")
	}
}

package evpn

import (
	"net"
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// TestRoutesRoundTrip: what this host advertises, read back as a neighbor
// would send it, names the same VNI, MAC, VTEP and sequence number, and
// carries the route target FRR derives (AS:VNI) and the VXLAN encapsulation.
func TestRoutesRoundTrip(t *testing.T) {
	rid := netip.MustParseAddr("192.0.2.1")
	vtep := netip.MustParseAddr("192.0.2.10")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 7}
	peer := netip.MustParseAddr("192.0.2.2")

	p := macRoute(rid, 65000, 100, vtep, mac, 3)
	p.PeerAddress = peer
	r, ok := parseRoute(p)
	if !ok || r.kind != bgp.EVPN_ROUTE_TYPE_MAC_IP_ADVERTISEMENT || r.vni != 100 || r.mac.String() != mac.String() || r.vtep != vtep || r.seq != 3 || r.peer != peer {
		t.Fatalf("type 2 read back as %+v, %v", r, ok)
	}
	p = imetRoute(rid, 65000, 100, vtep)
	r, ok = parseRoute(p)
	if !ok || r.kind != bgp.EVPN_INCLUSIVE_MULTICAST_ETHERNET_TAG || r.vni != 100 || r.vtep != vtep {
		t.Fatalf("type 3 read back as %+v, %v", r, ok)
	}
	var rt, encap bool
	for _, a := range p.Attrs {
		if ec, ok := a.(*bgp.PathAttributeExtendedCommunities); ok {
			for _, c := range ec.Value {
				switch c := c.(type) {
				case *bgp.TwoOctetAsSpecificExtended:
					rt = c.SubType == bgp.EC_SUBTYPE_ROUTE_TARGET && c.AS == 65000 && c.LocalAdmin == 100
				case *bgp.EncapExtended:
					encap = c.TunnelType == bgp.TUNNEL_TYPE_VXLAN
				}
			}
		}
	}
	if !rt || !encap {
		t.Errorf("route target 65000:100 %v, VXLAN encapsulation %v", rt, encap)
	}
	if got := rd(rid, 100).String(); got != "192.0.2.1:100" {
		t.Errorf("rd %s", got)
	}
}

// TestBest: the highest sequence number wins, then the lowest VTEP; a
// live route beats a withdrawn or stale one whatever its number.
func TestBest(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	mk := func(vtep netip.Addr, seq uint32, stale bool) *remote {
		r := &remote{route: route{vtep: vtep, seq: seq}}
		if stale {
			r.expires = r.expires.AddDate(2000, 0, 0)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		rs   []*remote
		want int
	}{
		{"higher sequence", []*remote{mk(a, 1, false), mk(b, 2, false)}, 1},
		{"lower VTEP on a tie", []*remote{mk(b, 2, false), mk(a, 2, false)}, 1},
		{"live over stale", []*remote{mk(a, 5, true), mk(b, 0, false)}, 1},
		{"stale when alone", []*remote{mk(a, 5, true)}, 0},
	} {
		m := map[string]*remote{}
		for i, r := range tc.rs {
			m[string(rune('a'+i))] = r
		}
		if got := best(m); got != tc.rs[tc.want] {
			t.Errorf("%s: best is %+v, want %+v", tc.name, got.route, tc.rs[tc.want].route)
		}
	}
}

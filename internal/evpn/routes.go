package evpn

import (
	"net"
	"net/netip"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// rd is the route distinguisher of a VNI's routes: the router id and the
// VNI's low 16 bits, as FRR derives it (router-id:index).
func rd(routerID netip.Addr, vni uint32) bgp.RouteDistinguisherInterface {
	r, _ := bgp.NewRouteDistinguisherIPAddressAS(routerID, uint16(vni))
	return r
}

// routeTarget is a VNI's route target, AS:VNI, which is what FRR derives
// for the VNI on its side, so each imports the other's routes. A 4-byte AS
// keeps its low 16 bits, as FRR does.
func routeTarget(asn, vni uint32) bgp.ExtendedCommunityInterface {
	return bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, uint16(asn), vni, true)
}

// commonAttrs are the attributes of every route this host originates.
func commonAttrs(asn, vni uint32, vtep netip.Addr, nlri bgp.NLRI, extra ...bgp.ExtendedCommunityInterface) []bgp.PathAttributeInterface {
	mp, _ := bgp.NewPathAttributeMpReachNLRI(bgp.RF_EVPN, []bgp.PathNLRI{{NLRI: nlri}}, vtep)
	ecs := append([]bgp.ExtendedCommunityInterface{routeTarget(asn, vni), bgp.NewEncapExtended(bgp.TUNNEL_TYPE_VXLAN)}, extra...)
	return []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		mp,
		bgp.NewPathAttributeExtendedCommunities(ecs),
	}
}

// macRoute is the type-2 (MAC/IP advertisement) route of a local MAC.
// seq > 0 adds the MAC mobility extended community (RFC 7432 §15).
func macRoute(routerID netip.Addr, asn, vni uint32, vtep netip.Addr, mac net.HardwareAddr, seq uint32) *apiutil.Path {
	nlri, _ := bgp.NewEVPNMacIPAdvertisementRoute(rd(routerID, vni), bgp.EthernetSegmentIdentifier{}, 0, mac.String(), netip.Addr{}, []uint32{vni})
	var extra []bgp.ExtendedCommunityInterface
	if seq > 0 {
		extra = append(extra, bgp.NewMacMobilityExtended(seq, false))
	}
	return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: nlri, Attrs: commonAttrs(asn, vni, vtep, nlri, extra...)}
}

// imetRoute is the type-3 (inclusive multicast Ethernet tag) route of a
// local VNI: send this VNI's floods to vtep, by ingress replication.
func imetRoute(routerID netip.Addr, asn, vni uint32, vtep netip.Addr) *apiutil.Path {
	nlri, _ := bgp.NewEVPNMulticastEthernetTagRoute(rd(routerID, vni), 0, vtep)
	id, _ := bgp.NewIngressReplTunnelID(vtep)
	attrs := commonAttrs(asn, vni, vtep, nlri)
	attrs = append(attrs, bgp.NewPathAttributePmsiTunnel(bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, vni, id))
	return &apiutil.Path{Family: bgp.RF_EVPN, Nlri: nlri, Attrs: attrs}
}

// route is what this package reads from a received EVPN route.
type route struct {
	key  string // the NLRI, which tells one route from another
	kind uint8  // bgp.EVPN_ROUTE_TYPE_*
	vni  uint32
	mac  net.HardwareAddr // type 2
	ip   netip.Addr       // type 2, when the peer advertised one
	vtep netip.Addr       // the next hop, or the PMSI tunnel's endpoint
	seq  uint32           // MAC mobility sequence number; 0 without one
	peer netip.Addr
}

// parseRoute reads p; ok is false for routes this package does not use.
func parseRoute(p *apiutil.Path) (route, bool) {
	n, ok := p.Nlri.(*bgp.EVPNNLRI)
	if !ok || p.Family != bgp.RF_EVPN {
		return route{}, false
	}
	r := route{key: n.String(), kind: n.RouteType, peer: p.PeerAddress}
	var rtVNI uint32
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			r.vtep = a.Nexthop
		case *bgp.PathAttributeNextHop:
			r.vtep = a.Value
		case *bgp.PathAttributeExtendedCommunities:
			for _, ec := range a.Value {
				switch ec := ec.(type) {
				case *bgp.MacMobilityExtended:
					r.seq = ec.Sequence
				case *bgp.TwoOctetAsSpecificExtended:
					if ec.SubType == bgp.EC_SUBTYPE_ROUTE_TARGET {
						rtVNI = ec.LocalAdmin
					}
				}
			}
		case *bgp.PathAttributePmsiTunnel:
			if r.kind == bgp.EVPN_INCLUSIVE_MULTICAST_ETHERNET_TAG {
				r.vni = a.Label
				if id, ok := a.TunnelID.(*bgp.IngressReplTunnelID); ok && id.Value.IsValid() {
					r.vtep = id.Value
				}
			}
		}
	}
	switch d := n.RouteTypeData.(type) {
	case *bgp.EVPNMacIPAdvertisementRoute:
		r.mac, r.ip = d.MacAddress, d.IPAddress
		if len(d.Labels) > 0 {
			r.vni = d.Labels[0]
		}
	case *bgp.EVPNMulticastEthernetTagRoute:
		if !r.vtep.IsValid() {
			r.vtep = d.IPAddress
		}
	default:
		return route{}, false
	}
	if r.vni == 0 {
		r.vni = rtVNI
	}
	return r, r.vni != 0 && r.vtep.IsValid()
}

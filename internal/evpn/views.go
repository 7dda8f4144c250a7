package evpn

import (
	"context"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v4/api"

	"github.com/xswitch/xswitch/internal/control"
)

// The views are the control API's types, which xswitchctl reads without
// linking GoBGP.
type (
	// Session is a BGP neighbor and the state of its session.
	Session = control.EVPNSession
	// VNI is a local VNI.
	VNI = control.EVPNVNI
	// VTEP is a remote VTEP of a local VNI.
	VTEP = control.EVPNVTEP
	// MAC is a MAC of a local VNI, advertised from here or received.
	MAC = control.EVPNMAC
)

// Sessions returns the neighbors and their sessions.
func (s *Speaker) Sessions(ctx context.Context) ([]Session, error) {
	var out []Session
	err := s.bgp.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		st := p.GetState()
		ss := Session{Neighbor: p.GetConf().GetNeighborAddress(), ASN: p.GetConf().GetPeerAsn()}
		ss.State = strings.ToLower(strings.TrimPrefix(st.GetSessionState().String(), "SESSION_STATE_"))
		ss.Established = st.GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED
		if ss.Established {
			ss.Uptime = p.GetTimers().GetState().GetUptime().GetSeconds()
		}
		for _, a := range p.GetAfiSafis() {
			ss.Received += a.GetState().GetReceived()
			ss.Sent += a.GetState().GetAdvertised()
		}
		out = append(out, ss)
	})
	slices.SortFunc(out, func(a, b Session) int { return strings.Compare(a.Neighbor, b.Neighbor) })
	return out, err
}

// VNIs returns the local VNIs.
func (s *Speaker) VNIs() []VNI {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []VNI
	for vni, vtep := range s.vnis {
		v := VNI{VNI: vni, VTEP: vtep.String(), RD: rd(s.cfg.RouterID, vni).String(), RT: itoa(s.cfg.ASN&0xffff) + ":" + itoa(vni), Flood: []string{}}
		for k := range s.local {
			if k.vni == vni {
				v.LocalMACs++
			}
		}
		for k := range s.installed {
			if k.vni == vni {
				v.RemoteMACs++
			}
		}
		for a := range s.floods[vni] {
			v.Flood = append(v.Flood, a.String())
		}
		slices.Sort(v.Flood)
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b VNI) int { return int(a.VNI) - int(b.VNI) })
	return out
}

// VTEPs returns the remote VTEPs of the local VNIs, from type-3 routes.
func (s *Speaker) VTEPs() []VTEP {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []VTEP
	for vni, rs := range s.imets {
		for _, r := range rs {
			out = append(out, VTEP{VNI: vni, VTEP: r.vtep.String(), Peer: r.peer.String(), Stale: !r.expires.IsZero() && !r.pending})
		}
	}
	slices.SortFunc(out, func(a, b VTEP) int {
		if a.VNI != b.VNI {
			return int(a.VNI) - int(b.VNI)
		}
		return strings.Compare(a.VTEP, b.VTEP)
	})
	return out
}

// MACs returns the local and remote MACs of the local VNIs.
func (s *Speaker) MACs() []MAC {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MAC
	for k, seq := range s.local {
		out = append(out, MAC{VNI: k.vni, MAC: k.hw().String(), Origin: "local", VTEP: s.vnis[k.vni].String(), Seq: seq})
	}
	for k, rs := range s.macs {
		b := best(rs)
		inst, ok := s.installed[k]
		for _, r := range rs {
			m := MAC{VNI: k.vni, MAC: k.hw().String(), Origin: "remote", VTEP: r.vtep.String(), Seq: r.seq, Peer: r.peer.String(),
				Installed: ok && r == b && inst == r.vtep, Stale: !r.expires.IsZero() && !r.pending}
			if r.ip.IsValid() {
				m.IP = r.ip.String()
			}
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b MAC) int {
		if a.VNI != b.VNI {
			return int(a.VNI) - int(b.VNI)
		}
		if c := strings.Compare(a.MAC, b.MAC); c != 0 {
			return c
		}
		return strings.Compare(a.Origin, b.Origin)
	})
	return out
}

// Stats returns the route counts.
func (s *Speaker) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Established returns the number of established sessions.
func (s *Speaker) Established() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.up)
}

// Package evpn is the BGP EVPN control plane of the tunnel ports (RFC 7432,
// RFC 8365): an embedded GoBGP speaker advertises the MACs the switch learns
// on its own ports as type-2 routes and each VNI as a type-3 route, and
// hands what its neighbors advertise to a Dataplane: remote MACs to install
// on the tunnel port, remote VTEPs to replicate floods to.
package evpn

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Config configures a Speaker.
type Config struct {
	ASN        uint32
	RouterID   netip.Addr // IPv4
	ListenPort int32      // -1 for no listener (only outgoing sessions)
	Neighbors  []Neighbor
	// GracePeriod is how long a neighbor's routes stay installed after its
	// session goes down; 0 removes them at once.
	GracePeriod time.Duration
	Log         *slog.Logger
}

// Neighbor is a BGP peer.
type Neighbor struct {
	Address netip.Addr
	ASN     uint32
	Port    uint16 // 0 for 179
}

// Dataplane is what the speaker changes in the switch. Its methods are
// called one at a time and must not call back into the Speaker.
type Dataplane interface {
	// InstallMAC points mac of vni at the tunnel port, towards vtep.
	InstallMAC(vni uint32, mac net.HardwareAddr, vtep netip.Addr)
	// RemoveMAC undoes InstallMAC.
	RemoveMAC(vni uint32, mac net.HardwareAddr)
	// AddFloodVTEP adds vtep to the VNI's flood list.
	AddFloodVTEP(vni uint32, vtep netip.Addr)
	// DelFloodVTEP removes vtep from it.
	DelFloodVTEP(vni uint32, vtep netip.Addr)
}

// macKey names a MAC in one VNI.
type macKey struct {
	vni uint32
	mac [6]byte
}

func keyOf(vni uint32, mac net.HardwareAddr) macKey {
	k := macKey{vni: vni}
	copy(k.mac[:], mac)
	return k
}

func (k macKey) hw() net.HardwareAddr { return net.HardwareAddr(k.mac[:]) }

// remote is a received route. A withdrawn one is pending until settle
// tells a route its neighbor withdrew (removed) from one of a session that
// dropped (GoBGP withdraws those first, then reports the session down):
// that one stays, stale, until it expires at the end of the grace period.
type remote struct {
	route
	pending bool
	expires time.Time // when a stale route is removed; zero while it is live
}

// settleDelay is how long a withdrawal waits for the news of its session's
// end, which follows it.
const settleDelay = 300 * time.Millisecond

// Speaker is the EVPN control plane of one host.
type Speaker struct {
	cfg Config
	dp  Dataplane
	bgp *server.BgpServer

	mu sync.Mutex
	// vnis maps each local VNI to the local VTEP address.
	vnis map[uint32]netip.Addr
	// local are the MACs advertised from here, with their sequence numbers.
	local map[macKey]uint32
	// macs are the received type-2 routes, by MAC, then NLRI; those of
	// VNIs that are not local are kept for when they are.
	macs map[macKey]map[string]*remote
	// imets are the received type-3 routes, by VNI, then NLRI.
	imets map[uint32]map[string]*remote
	// installed is what InstallMAC last put in the dataplane, by MAC.
	installed map[macKey]netip.Addr
	// floods is what AddFloodVTEP put in the dataplane.
	floods map[uint32]map[netip.Addr]bool
	// up holds the neighbors whose session is established.
	up map[netip.Addr]bool
	// settling says a settle is scheduled.
	settling bool
	// stats count the routes advertised and received.
	stats Stats
}

// Stats counts the speaker's routes since it started.
type Stats struct {
	Advertised, Withdrawn uint64 // local routes
	Received, Removed     uint64 // remote routes of local VNIs
}

// Start runs a BGP speaker until ctx ends.
func Start(ctx context.Context, cfg Config, dp Dataplane) (*Speaker, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Speaker{
		cfg: cfg, dp: dp,
		vnis:      map[uint32]netip.Addr{},
		local:     map[macKey]uint32{},
		macs:      map[macKey]map[string]*remote{},
		imets:     map[uint32]map[string]*remote{},
		installed: map[macKey]netip.Addr{},
		floods:    map[uint32]map[netip.Addr]bool{},
		up:        map[netip.Addr]bool{},
	}
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	s.bgp = server.NewBgpServer(server.LoggerOption(cfg.Log.With("component", "bgp"), lv))
	go s.bgp.Serve()
	err := s.bgp.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: cfg.RouterID.String(), ListenPort: cfg.ListenPort,
	}})
	if err != nil {
		s.bgp.Stop()
		return nil, fmt.Errorf("evpn: start bgp: %w", err)
	}
	err = s.bgp.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnBestPath:   s.onPaths,
		OnPeerUpdate: s.onPeer,
	}, server.WatchBestPath(true), server.WatchPeer())
	if err != nil {
		s.bgp.Stop()
		return nil, fmt.Errorf("evpn: watch: %w", err)
	}
	for _, n := range cfg.Neighbors {
		if err := s.addPeer(ctx, n); err != nil {
			s.bgp.Stop()
			return nil, err
		}
	}
	go s.expire(ctx)
	go func() {
		<-ctx.Done()
		s.bgp.Stop()
	}()
	return s, nil
}

func (s *Speaker) addPeer(ctx context.Context, n Neighbor) error {
	evpn := &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.ASN},
		// Seconds, not BGP's minutes: a VTEP that comes back should
		// carry traffic at once.
		Timers:   &api.Timers{Config: &api.TimersConfig{ConnectRetry: 2, HoldTime: 9, KeepaliveInterval: 3}},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: evpn, Enabled: true}}},
	}
	if n.Port != 0 {
		p.Transport = &api.Transport{RemotePort: uint32(n.Port)}
	}
	if err := s.bgp.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
		return fmt.Errorf("evpn: neighbor %s: %w", n.Address, err)
	}
	return nil
}

// AddVNI makes vni local with the VTEP address vtep and advertises it.
func (s *Speaker) AddVNI(vni uint32, vtep netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.vnis[vni]; ok && old == vtep {
		return nil
	}
	if err := s.add(imetRoute(s.cfg.RouterID, s.cfg.ASN, vni, vtep)); err != nil {
		return err
	}
	s.vnis[vni] = vtep
	// Routes received before the VNI was local are installed now.
	for k := range s.macs {
		if k.vni == vni {
			s.resolve(k)
		}
	}
	s.resolveFlood(vni)
	return nil
}

// RemoveVNI withdraws vni and what was advertised and installed for it.
func (s *Speaker) RemoveVNI(vni uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vtep, ok := s.vnis[vni]
	if !ok {
		return
	}
	for k, seq := range s.local {
		if k.vni == vni {
			s.del(macRoute(s.cfg.RouterID, s.cfg.ASN, vni, vtep, k.hw(), seq))
			delete(s.local, k)
		}
	}
	s.del(imetRoute(s.cfg.RouterID, s.cfg.ASN, vni, vtep))
	delete(s.vnis, vni)
	// The received routes stay, for when the VNI comes back.
	for k := range s.installed {
		if k.vni == vni {
			s.resolve(k)
		}
	}
	s.resolveFlood(vni)
}

// LocalMAC says mac of vni was learned on a port of this host (or moved to
// one): it is advertised, with a sequence number above the remote routes'
// for the MAC, so that the other VTEPs send its frames here.
func (s *Speaker) LocalMAC(vni uint32, mac net.HardwareAddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vtep, ok := s.vnis[vni]
	if !ok {
		return
	}
	k := keyOf(vni, mac)
	if _, ok := s.local[k]; ok {
		return
	}
	var seq uint32
	if rs := s.macs[k]; len(rs) > 0 {
		for _, r := range rs {
			seq = max(seq, r.seq+1)
		}
	}
	if err := s.add(macRoute(s.cfg.RouterID, s.cfg.ASN, vni, vtep, mac, seq)); err != nil {
		s.cfg.Log.Warn("evpn: cannot advertise a MAC", "vni", vni, "mac", mac, "err", err)
		return
	}
	s.local[k] = seq
	s.resolve(k)
}

// LocalMACGone withdraws mac of vni: it aged out, moved to the tunnel port
// or its port went.
func (s *Speaker) LocalMACGone(vni uint32, mac net.HardwareAddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withdrawLocal(keyOf(vni, mac))
}

// SetLocalMACs makes the MACs of vni advertised from here exactly macs,
// for a caller that lost track of the changes one by one.
func (s *Speaker) SetLocalMACs(vni uint32, macs []net.HardwareAddr) {
	want := map[macKey]bool{}
	for _, m := range macs {
		want[keyOf(vni, m)] = true
	}
	s.mu.Lock()
	var gone []macKey
	for k := range s.local {
		if k.vni == vni && !want[k] {
			gone = append(gone, k)
		}
	}
	for _, k := range gone {
		s.withdrawLocal(k)
	}
	s.mu.Unlock()
	for _, m := range macs {
		s.LocalMAC(vni, m)
	}
}

func (s *Speaker) withdrawLocal(k macKey) {
	seq, ok := s.local[k]
	if !ok {
		return
	}
	delete(s.local, k)
	s.del(macRoute(s.cfg.RouterID, s.cfg.ASN, k.vni, s.vnis[k.vni], k.hw(), seq))
	s.resolve(k)
}

func (s *Speaker) add(p *apiutil.Path) error {
	_, err := s.bgp.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}})
	if err == nil {
		s.stats.Advertised++
	}
	return err
}

func (s *Speaker) del(p *apiutil.Path) {
	if err := s.bgp.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		s.cfg.Log.Warn("evpn: cannot withdraw a route", "route", p.Nlri.String(), "err", err)
		return
	}
	s.stats.Withdrawn++
}

// best returns the remote route of k that wins: the highest sequence
// number, then the lowest VTEP address (RFC 7432 §15.1).
func best(rs map[string]*remote) *remote {
	var b *remote
	for _, r := range rs {
		if b == nil || better(r, b) {
			b = r
		}
	}
	return b
}

// better orders routes: live before withdrawn or stale, then by RFC 7432.
func better(r, b *remote) bool {
	if rl, bl := r.expires.IsZero(), b.expires.IsZero(); rl != bl {
		return rl
	}
	return r.seq > b.seq || r.seq == b.seq && r.vtep.Less(b.vtep)
}

// resolve makes the dataplane and the local route of k follow the routes
// of k: a remote route with a higher sequence number than the local one
// (the MAC moved away) withdraws the local route and installs the remote.
func (s *Speaker) resolve(k macKey) {
	b := best(s.macs[k])
	if _, ok := s.vnis[k.vni]; !ok {
		b = nil
	}
	if seq, ok := s.local[k]; ok {
		// A stale route does not take a MAC from here.
		if b == nil || !b.expires.IsZero() || b.seq < seq || b.seq == seq && !b.vtep.Less(s.vnis[k.vni]) {
			b = nil
		} else {
			delete(s.local, k)
			s.del(macRoute(s.cfg.RouterID, s.cfg.ASN, k.vni, s.vnis[k.vni], k.hw(), seq))
		}
	}
	cur, installed := s.installed[k]
	switch {
	case b == nil && installed:
		delete(s.installed, k)
		s.dp.RemoveMAC(k.vni, k.hw())
	case b != nil && (!installed || cur != b.vtep):
		s.installed[k] = b.vtep
		s.dp.InstallMAC(k.vni, k.hw(), b.vtep)
	}
}

// resolveFlood makes the VNI's flood list the VTEPs of its type-3 routes.
func (s *Speaker) resolveFlood(vni uint32) {
	want := map[netip.Addr]bool{}
	if _, ok := s.vnis[vni]; ok {
		for _, r := range s.imets[vni] {
			want[r.vtep] = true
		}
	}
	have := s.floods[vni]
	for v := range have {
		if !want[v] {
			s.dp.DelFloodVTEP(vni, v)
		}
	}
	for v := range want {
		if !have[v] {
			s.dp.AddFloodVTEP(vni, v)
		}
	}
	if len(want) == 0 {
		delete(s.floods, vni)
	} else {
		s.floods[vni] = want
	}
}

// onPaths takes the best paths GoBGP selected, each a route of one NLRI.
func (s *Speaker) onPaths(paths []*apiutil.Path, _ time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range paths {
		if !p.PeerAddress.IsValid() || p.PeerAddress.IsUnspecified() {
			continue // ours
		}
		r, ok := parseRoute(p)
		if !ok {
			continue
		}
		if s.ours(r.vtep) {
			continue
		}
		switch r.kind {
		case bgp.EVPN_ROUTE_TYPE_MAC_IP_ADVERTISEMENT:
			k := keyOf(r.vni, r.mac)
			s.update(s.macs, k, r, p.Withdrawal)
			s.resolve(k)
		case bgp.EVPN_INCLUSIVE_MULTICAST_ETHERNET_TAG:
			s.update(s.imets, r.vni, r, p.Withdrawal)
			s.resolveFlood(r.vni)
		}
	}
}

// ours reports whether vtep is this host's: a route of ours that came back.
func (s *Speaker) ours(vtep netip.Addr) bool {
	if vtep == s.cfg.RouterID {
		return true
	}
	for _, v := range s.vnis {
		if v == vtep {
			return true
		}
	}
	return false
}

// update records route r of key k in m, or its withdrawal. A route whose
// peer is down stays for the grace period.
func update[K comparable](s *Speaker, m map[K]map[string]*remote, k K, r route, withdrawn bool) {
	rs := m[k]
	if !withdrawn {
		if rs == nil {
			rs = map[string]*remote{}
			m[k] = rs
		}
		rs[r.key] = &remote{route: r}
		s.stats.Received++
		return
	}
	old, ok := rs[r.key]
	if !ok {
		return
	}
	if s.cfg.GracePeriod > 0 {
		if old.expires.IsZero() {
			old.pending, old.expires = true, time.Now().Add(s.cfg.GracePeriod)
			s.settleLater()
		}
		return
	}
	delete(rs, r.key)
	s.stats.Removed++
	if len(rs) == 0 {
		delete(m, k)
	}
}

// settleLater runs settle once the withdrawals of now had time to be
// followed by the end of their sessions.
func (s *Speaker) settleLater() {
	if s.settling {
		return
	}
	s.settling = true
	time.AfterFunc(settleDelay, s.settle)
}

// settle removes the pending routes whose neighbor is still up: it
// withdrew them. Those of neighbors that went down stay until they expire.
func (s *Speaker) settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settling = false
	for k, rs := range s.macs {
		if s.settleRoutes(rs) {
			if len(rs) == 0 {
				delete(s.macs, k)
			}
			s.resolve(k)
		}
	}
	for vni, rs := range s.imets {
		if s.settleRoutes(rs) {
			if len(rs) == 0 {
				delete(s.imets, vni)
			}
			s.resolveFlood(vni)
		}
	}
}

func (s *Speaker) settleRoutes(rs map[string]*remote) (changed bool) {
	for key, r := range rs {
		if !r.pending {
			continue
		}
		r.pending = false
		if s.up[r.peer] {
			delete(rs, key)
			s.stats.Removed++
			changed = true
		} else {
			s.cfg.Log.Debug("evpn: route of a neighbor that is down kept for the grace period", "route", key, "neighbor", r.peer)
		}
	}
	return changed
}

func (s *Speaker) update(m any, k any, r route, withdrawn bool) {
	switch m := m.(type) {
	case map[macKey]map[string]*remote:
		update(s, m, k.(macKey), r, withdrawn)
	case map[uint32]map[string]*remote:
		update(s, m, k.(uint32), r, withdrawn)
	}
}

func (s *Speaker) onPeer(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	s.mu.Lock()
	defer s.mu.Unlock()
	up := st.SessionState == bgp.BGP_FSM_ESTABLISHED
	if up != s.up[st.NeighborAddress] {
		s.cfg.Log.Info("evpn: BGP session", "neighbor", st.NeighborAddress, "established", up)
	}
	if up {
		s.up[st.NeighborAddress] = true
	} else {
		delete(s.up, st.NeighborAddress)
	}
}

// expire removes the routes whose grace period ended.
func (s *Speaker) expire(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.mu.Lock()
			for k, rs := range s.macs {
				if drop(rs, now, &s.stats) {
					if len(rs) == 0 {
						delete(s.macs, k)
					}
					s.resolve(k)
				}
			}
			for vni, rs := range s.imets {
				if drop(rs, now, &s.stats) {
					if len(rs) == 0 {
						delete(s.imets, vni)
					}
					s.resolveFlood(vni)
				}
			}
			s.mu.Unlock()
		}
	}
}

func drop(rs map[string]*remote, now time.Time, st *Stats) bool {
	n := len(rs)
	for key, r := range rs {
		if !r.pending && !r.expires.IsZero() && now.After(r.expires) {
			delete(rs, key)
			st.Removed++
		}
	}
	return len(rs) != n
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

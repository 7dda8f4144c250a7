package daemon

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/evpn"
	"github.com/xswitch/xswitch/internal/vxlan"
	"github.com/xswitch/xswitch/policy"
)

// evpnRefresh is how often the remote MACs' fdb entries are refreshed, so
// that a remote MAC that sends nothing does not age out of the table while
// its route stands.
const evpnRefresh = 2 * time.Second

// segment is a bridge and the VLAN of it a VNI carries.
type segment struct {
	bridge string
	vlan   uint16
}

// tunnel is a VXLAN port of a bridge, the VNI's way to the other VTEPs.
type tunnel struct {
	seg  segment
	port fdb.PortID
	dev  *vxlan.Device
	fdb  *fdb.Table
}

// evpnPlane connects the speaker with the bridges: it tells the speaker the
// MACs learned on ports that are not tunnels, and installs what the speaker
// receives on the tunnel ports.
type evpnPlane struct {
	d  *Daemon
	sp *evpn.Speaker

	mu       sync.Mutex
	byVNI    map[uint32]*tunnel
	bySeg    map[segment]*tunnel
	byIndex  map[int]*tunnel             // by ifindex
	notVXLAN map[int]string              // ifindexes known not to be VXLAN devices, by name
	subbed   map[string]func()           // bridges whose fdb events are followed
	remote   map[uint32]map[fdb.Key]bool // installed remote MACs, per VNI

	events chan evpnEvent
	// lost says events did not fit in events: sync sets the speaker's
	// local MACs from the tables.
	lost atomic.Bool
}

type evpnEvent struct {
	bridge string
	ev     fdb.Event
}

// startEVPN starts the EVPN control plane if the configuration has one.
func (d *Daemon) startEVPN(ctx context.Context) {
	c := d.cfg.EVPN
	if c == nil {
		return
	}
	p := &evpnPlane{d: d, byVNI: map[uint32]*tunnel{}, bySeg: map[segment]*tunnel{}, byIndex: map[int]*tunnel{},
		notVXLAN: map[int]string{}, subbed: map[string]func(){}, remote: map[uint32]map[fdb.Key]bool{},
		events: make(chan evpnEvent, 65536)}
	cfg := evpn.Config{ASN: c.ASN, RouterID: c.RouterID, ListenPort: c.ListenPort, GracePeriod: c.GracePeriod, Log: d.log}
	for _, n := range c.Neighbors {
		cfg.Neighbors = append(cfg.Neighbors, evpn.Neighbor{Address: n.Address, ASN: n.ASN, Port: n.Port})
	}
	sp, err := evpn.Start(ctx, cfg, p)
	if err != nil {
		d.log.Error("EVPN not started", "err", err)
		return
	}
	p.sp = sp
	d.evpn.mu.Lock()
	d.evpn.p = p
	d.evpn.mu.Unlock()
	d.log.Info("EVPN started", "asn", c.ASN, "router_id", c.RouterID, "neighbors", len(c.Neighbors))
	go p.run(ctx)
}

// EVPN returns the EVPN speaker, nil when there is none.
func (d *Daemon) EVPN() *evpn.Speaker {
	d.evpn.mu.Lock()
	defer d.evpn.mu.Unlock()
	if d.evpn.p == nil {
		return nil
	}
	return d.evpn.p.sp
}

// evpnState is the daemon's EVPN control plane, once it started.
type evpnState struct {
	mu sync.Mutex
	p  *evpnPlane
}

func (p *evpnPlane) run(ctx context.Context) {
	sync := time.NewTicker(time.Second)
	refresh := time.NewTicker(evpnRefresh)
	defer sync.Stop()
	defer refresh.Stop()
	p.sync()
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			for _, cancel := range p.subbed {
				cancel()
			}
			p.mu.Unlock()
			return
		case e := <-p.events:
			p.handle(e)
		case <-sync.C:
			p.sync()
		case <-refresh.C:
			p.refresh()
		}
	}
}

// sync finds the tunnel ports among the attached ports, and tells the
// speaker the VNIs that came and went.
func (p *evpnPlane) sync() {
	type port struct {
		idx    int
		name   string
		bridge string
		id     fdb.PortID
		pol    policy.Policy
	}
	var ports []port
	bridges := map[string]*dataplane.Bridge{}
	p.d.mu.Lock()
	for idx, a := range p.d.attached {
		ports = append(ports, port{idx, a.name, a.bridge, a.id, a.policy})
	}
	for n, b := range p.d.bridges {
		bridges[n] = b
	}
	p.d.mu.Unlock()

	seen := map[int]bool{}
	var added []*tunnel
	p.mu.Lock()
	for _, pt := range ports {
		seen[pt.idx] = true
		if t := p.byIndex[pt.idx]; t != nil && t.port == pt.id {
			continue
		}
		if name, ok := p.notVXLAN[pt.idx]; ok && name == pt.name {
			continue
		}
		dev, err := vxlan.Open(pt.name)
		if err != nil {
			p.notVXLAN[pt.idx] = pt.name
			continue
		}
		var vlan uint16
		if pt.pol.VLAN.Mode == policy.Access {
			vlan = pt.pol.VLAN.PVID
		}
		br := bridges[pt.bridge]
		if br == nil {
			continue
		}
		t := &tunnel{seg: segment{pt.bridge, vlan}, port: pt.id, dev: dev, fdb: br.FDB()}
		p.byIndex[pt.idx], p.byVNI[dev.VNI()], p.bySeg[t.seg] = t, t, t
		if _, ok := p.subbed[pt.bridge]; !ok {
			name := pt.bridge
			p.subbed[name] = br.FDB().Subscribe(func(ev fdb.Event) {
				select {
				case p.events <- evpnEvent{name, ev}:
				default: // the next sync walks the tables instead
					p.lost.Store(true)
				}
			})
		}
		added = append(added, t)
	}
	var removed []uint32
	for idx, t := range p.byIndex {
		if !seen[idx] {
			delete(p.byIndex, idx)
			delete(p.byVNI, t.dev.VNI())
			delete(p.bySeg, t.seg)
			removed = append(removed, t.dev.VNI())
		}
	}
	for idx := range p.notVXLAN {
		if !seen[idx] {
			delete(p.notVXLAN, idx)
		}
	}
	p.mu.Unlock()

	for _, vni := range removed {
		p.sp.RemoveVNI(vni)
	}
	if p.lost.Swap(false) {
		p.reconcile()
	}
	for _, t := range added {
		local := t.dev.Local()
		if !local.IsValid() {
			local = p.d.cfg.EVPN.RouterID
		}
		if err := p.sp.AddVNI(t.dev.VNI(), local); err != nil {
			p.d.log.Warn("EVPN: VNI not advertised", "vni", t.dev.VNI(), "port", t.dev.Name(), "err", err)
			continue
		}
		p.d.log.Info("EVPN: VNI", "vni", t.dev.VNI(), "port", t.dev.Name(), "bridge", t.seg.bridge, "vlan", t.seg.vlan, "vtep", local)
		t.fdb.Range(func(e fdb.Entry) bool {
			if e.Key.VID() == t.seg.vlan && e.Port != t.port {
				p.sp.LocalMAC(t.dev.VNI(), e.Key.MAC())
			}
			return true
		})
	}
}

// reconcile sets the speaker's local MACs from the bridges' tables.
func (p *evpnPlane) reconcile() {
	p.mu.Lock()
	tunnels := make([]*tunnel, 0, len(p.byVNI))
	for _, t := range p.byVNI {
		tunnels = append(tunnels, t)
	}
	p.mu.Unlock()
	p.d.log.Warn("EVPN: MAC table events were lost, reading the tables again")
	// The events still queued are older than what the tables say now.
	for drained := false; !drained; {
		select {
		case <-p.events:
		default:
			drained = true
		}
	}
	for _, t := range tunnels {
		var macs []net.HardwareAddr
		t.fdb.Range(func(e fdb.Entry) bool {
			if e.Key.VID() == t.seg.vlan && e.Port != t.port {
				macs = append(macs, e.Key.MAC())
			}
			return true
		})
		p.sp.SetLocalMACs(t.dev.VNI(), macs)
	}
}

// handle tells the speaker about a change of a local MAC.
func (p *evpnPlane) handle(e evpnEvent) {
	p.mu.Lock()
	t := p.bySeg[segment{e.bridge, e.ev.Key.VID()}]
	p.mu.Unlock()
	if t == nil {
		return
	}
	vni, mac := t.dev.VNI(), e.ev.Key.MAC()
	switch e.ev.Kind {
	case fdb.EventLearned:
		if e.ev.Port != t.port {
			p.sp.LocalMAC(vni, mac)
		}
	case fdb.EventMoved:
		switch {
		case e.ev.Port != t.port:
			p.sp.LocalMAC(vni, mac)
		case e.ev.OldPort != t.port:
			p.sp.LocalMACGone(vni, mac)
		}
	default: // aged, evicted, flushed, deleted
		if e.ev.Port != t.port {
			p.sp.LocalMACGone(vni, mac)
		}
	}
}

// refresh keeps the remote MACs' entries on their tunnel ports.
func (p *evpnPlane) refresh() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := fdb.Now()
	for vni, keys := range p.remote {
		t := p.byVNI[vni]
		if t == nil {
			continue
		}
		for k := range keys {
			if port, ok := t.fdb.Lookup(k); !ok || port == t.port {
				t.fdb.Learn(k, t.port, now)
			}
		}
	}
}

// InstallMAC points mac at the VNI's tunnel port and the kernel device's
// forwarding table at vtep. The fdb entry is a dynamic one that refresh
// keeps alive: a frame from the MAC on a local port (a guest that moved
// here) moves it like any learned entry, and the speaker advertises it.
func (p *evpnPlane) InstallMAC(vni uint32, mac net.HardwareAddr, vtep netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.byVNI[vni]
	if t == nil {
		return
	}
	if err := t.dev.AddRemoteMAC(mac, vtep); err != nil {
		p.d.log.Warn("EVPN: remote MAC not installed in the VXLAN device", "port", t.dev.Name(), "mac", mac, "vtep", vtep, "err", err)
	}
	k := fdb.MakeKey(t.seg.vlan, mac)
	if r := t.fdb.Learn(k, t.port, fdb.Now()); r == fdb.Refused || r == fdb.StaticConflict {
		p.d.log.Warn("EVPN: remote MAC not in the bridge's table", "bridge", t.seg.bridge, "mac", mac, "why", r)
	}
	if p.remote[vni] == nil {
		p.remote[vni] = map[fdb.Key]bool{}
	}
	p.remote[vni][k] = true
}

// RemoveMAC undoes InstallMAC; an entry that moved to a local port stays.
func (p *evpnPlane) RemoveMAC(vni uint32, mac net.HardwareAddr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.byVNI[vni]
	if t == nil {
		return
	}
	k := fdb.MakeKey(t.seg.vlan, mac)
	delete(p.remote[vni], k)
	if err := t.dev.DelRemoteMAC(mac); err != nil {
		p.d.log.Debug("EVPN: remote MAC not removed from the VXLAN device", "port", t.dev.Name(), "mac", mac, "err", err)
	}
	if port, ok := t.fdb.Lookup(k); ok && port == t.port {
		t.fdb.Delete(k)
	}
}

// AddFloodVTEP adds vtep to the head-end replication list of the VNI.
func (p *evpnPlane) AddFloodVTEP(vni uint32, vtep netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.byVNI[vni]; t != nil {
		if err := t.dev.AddFloodVTEP(vtep); err != nil {
			p.d.log.Warn("EVPN: flood VTEP not added", "port", t.dev.Name(), "vtep", vtep, "err", err)
		}
	}
}

// DelFloodVTEP removes vtep from it.
func (p *evpnPlane) DelFloodVTEP(vni uint32, vtep netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.byVNI[vni]; t != nil {
		if err := t.dev.DelFloodVTEP(vtep); err != nil {
			p.d.log.Debug("EVPN: flood VTEP not removed", "port", t.dev.Name(), "vtep", vtep, "err", err)
		}
	}
}

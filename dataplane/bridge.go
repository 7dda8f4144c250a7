package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// maxPorts bounds the ports of one bridge: a port's slot fits in the low
// 16 bits of its fdb.PortID.
const maxPorts = 1 << 15

// ErrPortExists is returned by AddPort for a name the bridge already has.
var ErrPortExists = errors.New("port already attached")

// ErrNoPort is returned for a port name the bridge does not have.
var ErrNoPort = errors.New("no such port")

// PortInfo describes a port for operators and exporters.
type PortInfo struct {
	Name   string // interface name, e.g. vif3.0 or peth0
	Uplink bool   // the bridge's physical uplink
	Kind   string // how frames reach it, e.g. "afpacket"
	// FastPath is the port's eBPF fast-path mode ("xdp", "tc" or "off");
	// frames the fast path forwards never reach the dataplane.
	FastPath string
	Ifindex  int // the interface's index, 0 when not known
	// Policy is the port's VLANs, isolation and anti-spoofing: at
	// AddPort, the one to attach it with; in a PortStatus, the one in force
	// (SetPolicy changes it).
	Policy policy.Policy
	// Shared, if set, receives the port's frames: AddPort registers
	// Ifindex with it and starts no goroutine for the port, whose Receive
	// is never called.
	Shared *Shared `json:"-"`
}

// BridgeConfig configures a bridge.
type BridgeConfig struct {
	Name string
	FDB  fdb.Config
	// OnFDBEvent, if set, sees every change of the bridge's table; it runs
	// under the table's lock and must neither block nor call into the table.
	OnFDBEvent func(fdb.Event)
	// OnCapture, if set, is told when the first capture of a port starts
	// (on true) and its last one ends (on false), under the bridge's lock.
	OnCapture func(port PortInfo, on bool)
	// MultiSender, if set, sends the frames of the ports it reaches.
	MultiSender MultiSender
}

// Bridge is one L2 broadcast domain: a set of ports and their MAC table.
type Bridge struct {
	name string
	fdb  *fdb.Table
	log  *slog.Logger
	tx   multiTx // sends to the ports its MultiSender reaches

	mu    sync.Mutex              // serializes changes of the port set
	ports atomic.Pointer[portSet] // read by workers without locking; replaced, never modified
	gen   uint32                  // bumped for every attached port; under mu
	// vlanPorts counts the attached ports that are not transparent. While
	// it is 0, workers take every frame's VLAN from its tag and send it
	// as it came, without looking at the egress ports' policies.
	vlanPorts atomic.Int32

	onCapture func(PortInfo, bool) // BridgeConfig.OnCapture
	mirrors   []Mirror             // SetMirrors's; under mu

	stop    chan struct{}  // closed by Close to end the ager
	agerEnd sync.WaitGroup // the ager goroutine
}

// portSet is an immutable snapshot of a bridge's ports. Workers load it once
// per batch.
type portSet struct {
	bySlot []*port // index = slot; nil where no port is attached
	list   []*port // the attached ports, for flooding
}

func (s *portSet) get(id fdb.PortID) *port {
	slot := int(id & 0xffff)
	if slot >= len(s.bySlot) {
		return nil
	}
	p := s.bySlot[slot]
	if p == nil || p.id != id {
		return nil
	}
	return p
}

// port is a Port attached to a bridge.
type port struct {
	p    Port
	info PortInfo
	id   fdb.PortID // slot in the low 16 bits, Bridge.gen above: recurs only after 65536 attachments
	slot int

	txMu     sync.Mutex // serializes Send on p and guards detached
	detached bool       // p is closed: nothing may be sent; under txMu
	mtx      multiPort  // how the bridge's MultiSender sends to p, if it does

	// pol is the port's policy, a copy nobody modifies; SetPolicy replaces
	// it. Workers load their own port's once per batch, an egress port's
	// when they send it a frame.
	pol atomic.Pointer[policy.Policy]

	c    Counters
	done chan struct{} // closed when the worker has returned; at once for a Shared's port

	// caps are the port's running captures; nil while there is none,
	// which is all a worker looks at then.
	caps atomic.Pointer[[]*Capture]
	// mirrors are the ports that get copies of this port's frames; nil
	// while none does.
	mirrors atomic.Pointer[mirrorTargets]
	// mirrorDest says the port is a mirror's destination: it is sent
	// only the copies, and what it receives is dropped.
	mirrorDest atomic.Bool
	// blocked says the port is blocked against a loop (SetBlocked): what
	// it receives is dropped unlearned, floods skip it, and unicast to it
	// is flooded as to an unknown destination.
	blocked atomic.Bool
	// storm are the port's storm-control buckets (storm.go); nil while it
	// has no limits, which is all a worker looks at then.
	storm atomic.Pointer[stormBuckets]
}

// NewBridge creates a bridge with no ports and starts its ager.
func NewBridge(cfg BridgeConfig, log *slog.Logger) *Bridge {
	if log == nil {
		log = slog.Default()
	}
	b := &Bridge{
		name: cfg.Name,
		fdb:  fdb.New(cfg.FDB, cfg.OnFDBEvent),
		log:  log.With("bridge", cfg.Name),
		tx:   multiTx{ms: cfg.MultiSender},
		stop: make(chan struct{}),

		onCapture: cfg.OnCapture,
	}
	b.ports.Store(&portSet{})
	b.agerEnd.Add(1)
	go b.ager(cfg.FDB.AgingTime)
	return b
}

// Name returns the bridge's name.
func (b *Bridge) Name() string { return b.name }

// FDB returns the bridge's MAC table.
func (b *Bridge) FDB() *fdb.Table { return b.fdb }

// ager expires idle MACs. It wakes every quarter of the aging time it was
// started with, but no more often than every 100 ms and no less often than
// every 4 s, so an entry outlives its aging time by at most one such tick.
func (b *Bridge) ager(aging time.Duration) {
	defer b.agerEnd.Done()
	if aging <= 0 {
		<-b.stop
		return
	}
	tick := min(max(aging/4, 100*time.Millisecond), 4*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.fdb.Age(fdb.Now())
		}
	}
}

// AddPort attaches p, starts forwarding its frames and returns the port's
// id. The bridge owns p from then on, and closes it when the port is removed
// (also when AddPort fails).
func (b *Bridge) AddPort(p Port, info PortInfo) (fdb.PortID, error) {
	if err := info.Policy.Validate(); err != nil {
		p.Close()
		return 0, fmt.Errorf("bridge %s: add port %s: %w", b.name, info.Name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.ports.Load()
	slot := -1
	for i, q := range old.bySlot {
		if q == nil && slot < 0 {
			slot = i
		}
		if q != nil && q.info.Name == info.Name {
			p.Close()
			return 0, fmt.Errorf("bridge %s: add port %s: %w", b.name, info.Name, ErrPortExists)
		}
	}
	if slot < 0 {
		slot = len(old.bySlot)
	}
	if slot >= maxPorts {
		p.Close()
		return 0, fmt.Errorf("bridge %s: add port %s: bridge has %d ports, the most it can hold", b.name, info.Name, maxPorts)
	}
	if info.Shared != nil && info.Ifindex <= 0 {
		p.Close()
		return 0, fmt.Errorf("bridge %s: add port %s: a port of a shared receiver needs its ifindex", b.name, info.Name)
	}
	b.gen++
	np := &port{
		p:    p,
		info: info,
		id:   fdb.PortID(b.gen<<16 | uint32(slot)),
		slot: slot,
		done: make(chan struct{}),
	}
	if s := info.Shared; s != nil {
		if err := s.register(b, np); err != nil {
			p.Close()
			return 0, fmt.Errorf("bridge %s: add port %s: %w", b.name, info.Name, err)
		}
	}
	b.storePolicy(np, info.Policy)
	b.tx.attach(np)
	set := &portSet{bySlot: make([]*port, max(len(old.bySlot), slot+1))}
	copy(set.bySlot, old.bySlot)
	set.bySlot[slot] = np
	for _, q := range set.bySlot {
		if q != nil {
			set.list = append(set.list, q)
		}
	}
	b.applyMirrors(set)
	b.ports.Store(set)
	if info.Shared != nil {
		close(np.done)
	} else {
		go b.run(np)
	}
	b.log.Info("port attached", "port", info.Name, "kind", info.Kind, "uplink", info.Uplink, "fastpath", info.FastPath,
		"vlan", info.Policy.VLAN.String(), "isolated", info.Policy.Isolated, "antispoof", info.Policy.AntiSpoof)
	return np.id, nil
}

// RemovePort stops forwarding to and from the named port, closes it and
// flushes its MAC entries. When it returns, no frame the port received is
// forwarded any more, whether its own worker or a Shared received it.
func (b *Bridge) RemovePort(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.ports.Load()
	var victim *port
	set := &portSet{bySlot: make([]*port, len(old.bySlot))}
	for i, q := range old.bySlot {
		if q != nil && q.info.Name == name {
			victim = q
			continue
		}
		set.bySlot[i] = q
		if q != nil {
			set.list = append(set.list, q)
		}
	}
	if victim == nil {
		return fmt.Errorf("bridge %s: remove port %s: %w", b.name, name, ErrNoPort)
	}
	if s := victim.info.Shared; s != nil {
		s.unregister(b, victim)
	}
	b.applyMirrors(set)
	b.ports.Store(set)
	if victim.caps.Load() != nil && b.onCapture != nil {
		b.onCapture(victim.info, false)
	}
	victim.endCaptures()
	if victim.pol.Load().VLAN.Mode != policy.Transparent {
		b.vlanPorts.Add(-1)
	}
	b.tx.detach(victim)
	victim.txMu.Lock()
	victim.detached = true
	err := victim.p.Close()
	victim.txMu.Unlock()
	<-victim.done
	n := b.fdb.FlushPort(victim.id)
	b.log.Info("port detached", "port", name, "fdb_flushed", n)
	if err != nil {
		return fmt.Errorf("bridge %s: remove port %s: %w", b.name, name, err)
	}
	return nil
}

// Close removes every port and stops the ager.
func (b *Bridge) Close() error {
	var errs []error
	for _, q := range b.ports.Load().list {
		if err := b.RemovePort(q.info.Name); err != nil {
			errs = append(errs, err)
		}
	}
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.agerEnd.Wait()
	return errors.Join(errs...)
}

// Ports returns the attached ports in slot order.
func (b *Bridge) Ports() []PortStatus {
	set := b.ports.Load()
	out := make([]PortStatus, 0, len(set.list))
	for _, q := range set.list {
		out = append(out, q.status())
	}
	return out
}

// PortName returns the name of the port with the given id, if it is attached.
func (b *Bridge) PortName(id fdb.PortID) (string, bool) {
	if q := b.ports.Load().get(id); q != nil {
		return q.info.Name, true
	}
	return "", false
}

// SetPolicy changes the VLANs, isolation and anti-spoofing of the named
// port; frames already in flight are forwarded under the old policy.
func (b *Bridge) SetPolicy(name string, p policy.Policy) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("bridge %s: set policy of %s: %w", b.name, name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.ports.Load().list {
		if q.info.Name == name {
			b.storePolicy(q, p)
			b.log.Info("port policy changed", "port", name, "vlan", p.VLAN.String(), "isolated", p.Isolated, "antispoof", p.AntiSpoof)
			return nil
		}
	}
	return fmt.Errorf("bridge %s: set policy of %s: %w", b.name, name, ErrNoPort)
}

// storePolicy gives q a copy of p and keeps vlanPorts in step. Batches
// begun before it returns may still be forwarded under the old policy.
// Under mu.
func (b *Bridge) storePolicy(q *port, p policy.Policy) {
	wasVLAN := false
	if old := q.pol.Load(); old != nil {
		wasVLAN = old.VLAN.Mode != policy.Transparent
	}
	switch isVLAN := p.VLAN.Mode != policy.Transparent; {
	case isVLAN && !wasVLAN:
		b.vlanPorts.Add(1)
	case wasVLAN && !isVLAN:
		b.vlanPorts.Add(-1)
	}
	c := clonePolicy(p)
	q.pol.Store(&c)
}

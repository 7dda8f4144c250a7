package daemon

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/metrics"
)

// loopGuard blocks a port of each loop it finds (docs/loops.md). Every
// bridge's table reports its MAC moves, the userspace path's and those the
// fast path learned, to a dataplane.FlapDetector; a flap goes to one
// goroutine, which blocks one of the two ports for the hold time, flushes
// the bridge's learned MACs and unblocks the port when the time is up.
type loopGuard struct {
	d    *Daemon
	log  *slog.Logger
	work chan loopMsg
	quit chan struct{} // closed by stop
	once sync.Once

	// mu guards bridges and what their bridgeLoops say it guards. Take it
	// after Daemon.mu, never before.
	mu      sync.Mutex
	bridges map[string]*bridgeLoops // by name: those of Daemon.bridges
}

// bridgeLoops is the loop protection of one bridge.
type bridgeLoops struct {
	name string
	det  *dataplane.FlapDetector
	// cfg is the bridge's effective loop-protection; read by the table
	// hook, so atomic.
	cfg atomic.Pointer[config.LoopProtection]

	// Guarded by loopGuard.mu.
	blocked map[string]*portBlock // by port name: the ports blocked now
	blocks  map[string]uint64     // by port name: the times each was blocked
	// warned is when a flap was last logged while blocking is off.
	warned time.Time
}

// portBlock is a port loop protection blocked.
type portBlock struct {
	id       fdb.PortID
	ifindex  int  // 0 if not known
	fastPath bool // blocked in the fast path too
	until    time.Time
	timer    *time.Timer
}

type loopMsg struct {
	bl *bridgeLoops
	// flap, when port is "": a MAC flapped.
	flap dataplane.Flap
	// port and block: the hold time of block on port is over.
	port  string
	block *portBlock
}

// portBlocker is a fast path that blocks ports against loops.
type portBlocker interface {
	SetBlocked(ifindex int, blocked bool) error
}

var _ portBlocker = (*bpf.FastPath)(nil)

// loopQueue is how many flaps may wait for the goroutine. A loop reports a
// flap every few moves of each MAC: more than fit are dropped, as the
// first of them blocks the loop's port anyway.
const loopQueue = 64

func newLoopGuard(d *Daemon) *loopGuard {
	g := &loopGuard{d: d, log: d.log, work: make(chan loopMsg, loopQueue), quit: make(chan struct{}), bridges: map[string]*bridgeLoops{}}
	go g.run()
	return g
}

// add starts the loop protection of a bridge about to be made with
// settings b, and returns its table hook, which calls next (if not nil)
// first. A bridge of the same name made before (a reload rebuilds it)
// leaves its blocks behind. Under Daemon.mu.
func (g *loopGuard) add(b config.Bridge, next func(fdb.Event)) func(fdb.Event) {
	cfg := b.LoopProtection.Effective()
	bl := &bridgeLoops{name: b.Name, det: dataplane.NewFlapDetector(cfg.FlapThreshold, cfg.FlapWindow),
		blocked: map[string]*portBlock{}, blocks: map[string]uint64{}}
	bl.cfg.Store(&cfg)
	g.mu.Lock()
	if old := g.bridges[b.Name]; old != nil {
		g.releaseAll(old)
	}
	g.bridges[b.Name] = bl
	g.mu.Unlock()
	return func(ev fdb.Event) {
		if next != nil {
			next(ev)
		}
		if ev.Kind != fdb.EventMoved {
			return
		}
		// Under the table's lock: count, and hand a flap over.
		if f, ok := bl.det.Moved(ev.Key, ev.OldPort, ev.Port, fdb.Now()); ok {
			select {
			case g.work <- loopMsg{bl: bl, flap: f}:
			default:
			}
		}
	}
}

// configure applies the loop-protection of a new configuration: bridges
// no longer there are forgotten, with their blocks; a bridge whose
// protection is now off has its ports unblocked. Under Daemon.mu.
func (g *loopGuard) configure(bridges []config.Bridge) {
	g.mu.Lock()
	defer g.mu.Unlock()
	keep := map[string]bool{}
	for _, b := range bridges {
		keep[b.Name] = true
		bl := g.bridges[b.Name]
		if bl == nil {
			continue
		}
		cfg := b.LoopProtection.Effective()
		if *bl.cfg.Load() != cfg {
			bl.det.SetLimits(cfg.FlapThreshold, cfg.FlapWindow)
			bl.cfg.Store(&cfg)
		}
		if cfg.Disabled {
			g.releaseAll(bl)
		}
	}
	for name, bl := range g.bridges {
		if !keep[name] {
			g.releaseAll(bl)
			delete(g.bridges, name)
		}
	}
}

// stop ends the goroutine and the hold timers, without waiting: the
// goroutine may be waiting for Daemon.mu, which the caller holds. Blocks
// stay as they are: the fast path a stopped daemon leaves drops what a
// blocked port receives; the next daemon's ports start unblocked. Under
// Daemon.mu.
func (g *loopGuard) stop() {
	g.once.Do(func() { close(g.quit) })
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, bl := range g.bridges {
		for _, pb := range bl.blocked {
			pb.timer.Stop()
		}
	}
}

func (g *loopGuard) run() {
	for {
		select {
		case <-g.quit:
			return
		case m := <-g.work:
			if m.block != nil {
				g.unblock(m.bl, m.port, m.block)
			} else {
				g.flapped(m.bl, m.flap)
			}
		}
	}
}

// post hands m to the goroutine, unless it stopped.
func (g *loopGuard) post(m loopMsg) {
	select {
	case g.work <- m:
	case <-g.quit:
	}
}

// portClass orders the ports a flap took a MAC to: the lowest is blocked.
type portClass int

const (
	classVif      portClass = iota // a guest's vif, or any other port
	classUplink                    // the bridge's uplink: the way to the LAN
	classHostPort                  // dom0's own port: never blocked
)

// loopCandidate is a port a flap took a MAC to.
type loopCandidate struct {
	name  string
	id    fdb.PortID
	class portClass
	score int64 // moves that touched the port lately
}

// pickBlocked returns the port to block of those a flap took a MAC to,
// away from its home, the latest first: the one of the lowest class (a vif
// before the uplink); of those alike, the one more moves touched; then the
// latest. The host port is never blocked: false if it is the only one.
func pickBlocked(cands []loopCandidate) (loopCandidate, bool) {
	best, ok := loopCandidate{}, false
	for _, c := range cands {
		if c.class == classHostPort {
			continue
		}
		if !ok || c.class < best.class || c.class == best.class && c.score > best.score {
			best, ok = c, true
		}
	}
	return best, ok
}

// flapped blocks a port of the flap f, unless one of its ports is blocked
// already, or gone.
func (g *loopGuard) flapped(bl *bridgeLoops, f dataplane.Flap) {
	d := g.d
	d.mu.Lock()
	defer d.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	br := d.bridges[bl.name]
	if d.closed || br == nil || g.bridges[bl.name] != bl {
		return
	}
	home, _ := br.PortName(f.Home)
	if bl.blocked[home] != nil {
		return
	}
	b, _ := d.configBridge(bl.name)
	now := fdb.Now()
	var cands []loopCandidate
	for _, id := range f.Away {
		name, ok := br.PortName(id)
		if !ok {
			continue
		}
		if bl.blocked[name] != nil {
			return // the loop is being dealt with
		}
		c := loopCandidate{name: name, id: id, score: bl.det.Score(id, now)}
		switch {
		case isSwitchEnd(b, name):
			c.class = classHostPort
		case name == b.Uplink:
			c.class = classUplink
		}
		cands = append(cands, c)
	}
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.name
	}
	victim, ok := pickBlocked(cands)
	cfg := *bl.cfg.Load()
	logArgs := []any{"bridge", bl.name, "mac", f.Key.MAC().String(), "vlan", f.Key.VID(), "moves", f.Moves, "within", f.Span,
		"home_port", home, "loop_ports", names}
	if cfg.Disabled || !ok {
		why := "loop protection is off"
		if !ok {
			why = "the host port is never blocked"
		}
		if t := time.Now(); t.Sub(bl.warned) >= cfg.HoldTime {
			bl.warned = t
			g.log.Warn("loop suspected: a MAC flaps between ports; nothing blocked, as "+why, logArgs...)
		}
		return
	}
	if err := br.SetBlocked(victim.name, true); err != nil {
		g.log.Error("loop detected but the port cannot be blocked", append(logArgs, "port", victim.name, "err", err)...)
		return
	}
	pb := &portBlock{id: victim.id, until: time.Now().Add(cfg.HoldTime)}
	for idx, a := range d.attached {
		if a.bridge == bl.name && a.id == victim.id {
			pb.ifindex = idx
			pb.fastPath = a.fastPath != bpf.ModeOff || a.xsk != nil
		}
	}
	if fp, ok := d.fp.(portBlocker); ok && pb.fastPath {
		if err := fp.SetBlocked(pb.ifindex, true); err != nil {
			g.log.Error("loop: the fast path cannot block the port; userspace does", "bridge", bl.name, "port", victim.name, "err", err)
			pb.fastPath = false
		}
	}
	// The loop taught the table wrong ports for every MAC that crossed
	// it: forget them all, as a topology change in STP does, so that
	// frames to them are flooded until their owners speak again.
	flushed := br.FDB().Flush()
	bl.blocked[victim.name] = pb
	bl.blocks[victim.name]++
	pb.timer = time.AfterFunc(cfg.HoldTime, func() { g.post(loopMsg{bl: bl, port: victim.name, block: pb}) })
	bl.det.Forget(func(id fdb.PortID) bool { _, ok := br.PortName(id); return ok })
	g.log.Warn("loop detected: a MAC flaps between ports; port blocked for the hold time",
		append(logArgs, "port", victim.name, "hold_time", cfg.HoldTime, "fdb_flushed", flushed,
			"times_blocked", bl.blocks[victim.name])...)
}

// unblock ends the block of port when its hold time is over, unless the
// port was unblocked (and maybe blocked again) since.
func (g *loopGuard) unblock(bl *bridgeLoops, port string, pb *portBlock) {
	d := g.d
	d.mu.Lock()
	defer d.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if bl.blocked[port] != pb {
		return
	}
	delete(bl.blocked, port)
	if br := d.bridges[bl.name]; br != nil && g.bridges[bl.name] == bl {
		// The port may be gone, or attached again unblocked.
		_ = br.SetBlocked(port, false)
	}
	g.unblockFast(bl, port, pb)
	g.log.Info("loop protection: hold time over, port unblocked", "bridge", bl.name, "port", port)
}

// releaseAll unblocks every port bl blocked, now. Under mu.
func (g *loopGuard) releaseAll(bl *bridgeLoops) {
	br := g.d.bridges[bl.name]
	for port, pb := range bl.blocked {
		pb.timer.Stop()
		delete(bl.blocked, port)
		if br != nil && g.bridges[bl.name] == bl {
			_ = br.SetBlocked(port, false)
		}
		g.unblockFast(bl, port, pb)
		g.log.Info("loop protection: port unblocked, its bridge's loop protection changed", "bridge", bl.name, "port", port)
	}
}

// unblockFast clears the fast path's block of pb: the fast path keeps it
// for the ifindex, attached again or not. Under mu.
func (g *loopGuard) unblockFast(bl *bridgeLoops, port string, pb *portBlock) {
	if fp, ok := g.d.fp.(portBlocker); ok && pb.fastPath {
		if err := fp.SetBlocked(pb.ifindex, false); err != nil {
			g.log.Warn("loop protection: the fast path did not unblock the port", "bridge", bl.name, "port", port, "err", err)
		}
	}
}

// attached blocks again a port that attaches while its block holds (a
// reload detached it): the fast path kept its block. Under Daemon.mu.
func (g *loopGuard) attached(bridge, port string, id fdb.PortID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	bl := g.bridges[bridge]
	if bl == nil || bl.blocked[port] == nil {
		return
	}
	if br := g.d.bridges[bridge]; br != nil {
		bl.blocked[port].id = id
		_ = br.SetBlocked(port, true)
	}
}

// configBridge returns the settings of the named bridge. Under Daemon.mu.
func (d *Daemon) configBridge(name string) (config.Bridge, bool) {
	for _, b := range bridgesOf(d.cfg) {
		if b.Name == name {
			return b, true
		}
	}
	return config.Bridge{}, false
}

// PortLoop returns what loop protection knows of a port, for exporters.
func (d *Daemon) PortLoop(bridge, port string, id fdb.PortID) (metrics.PortLoop, bool) {
	g := d.loops
	if g == nil {
		return metrics.PortLoop{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	bl := g.bridges[bridge]
	if bl == nil {
		return metrics.PortLoop{}, false
	}
	l := metrics.PortLoop{Blocks: bl.blocks[port], Flaps: bl.det.MovesTo(id)}
	if pb := bl.blocked[port]; pb != nil && pb.id == id {
		l.Blocked, l.Until = true, pb.until
	}
	return l, true
}

var _ metrics.LoopSource = (*Daemon)(nil)

package dataplane

import (
	"slices"
	"sync"
	"time"

	"github.com/xswitch/xswitch/fdb"
)

// maxFlapMACs bounds the MACs a FlapDetector follows at once. A guest
// inventing source MACs moves none of them, so the bound is reached only by
// a loop carrying that many MACs; past it, new MACs are not followed until
// the old ones' moves leave the window, which the ones followed already
// are enough to detect the loop by.
const maxFlapMACs = 4096

// FlapDetector spots loops in the moves of a bridge's MAC table. A MAC
// that moves between ports Threshold times within Window is seen on both
// sides of a loop: a single guest never moves that fast, not even one
// migrating or failing over. It keeps, per MAC, the times and ports of its
// latest moves and the port it lived on before them (its home, which a
// flap reports apart from the loop's ports), and per port, the moves that
// touched it. Times are fdb.Now nanoseconds, passed in, so
// tests drive the clock. Safe for concurrent use; a move costs a map
// lookup under a mutex, no allocation once its MAC is followed.
type FlapDetector struct {
	mu sync.Mutex
	// threshold is the moves within window that make a flap; >= 2.
	threshold int
	// window is in nanoseconds; > 0.
	window int64
	// macs holds the MACs that moved within the window, at most
	// maxFlapMACs of them.
	macs map[fdb.Key]*macMoves
	// ports holds every port a move touched since Forget last dropped it.
	ports map[fdb.PortID]*portMoves
}

// macMoves are the latest moves of one MAC.
type macMoves struct {
	// times is a ring of the times of the latest moves, len threshold;
	// times[next] is the oldest once n reached len(times). to holds the
	// port of each move, at the same index.
	times []int64
	to    []fdb.PortID
	next  int
	n     int
	// home is where the MAC was before the first move of this history:
	// where it lived before the loop, if it flaps.
	home fdb.PortID
}

// portMoves are the moves that touched one port.
type portMoves struct {
	// to counts the moves onto the port, ever.
	to uint64
	// since is when the current count began; recent counts the moves to
	// or from the port since then, and prev those of the window before.
	since, recent, prev int64
}

// Flap is a MAC that moved Threshold times within the window.
type Flap struct {
	Key fdb.Key
	// From and To are the ports of its latest move.
	From, To fdb.PortID
	// Moves is how many moves made the flap (the threshold), Span the
	// time from the first of them to the last.
	Moves int
	Span  time.Duration
	// Home is the port the MAC was on before those moves: where it
	// lived, as a loop carries a MAC away from its home.
	Home fdb.PortID
	// Away are the ports the moves took the MAC to, other than Home,
	// the latest first: the loop's ports.
	Away []fdb.PortID
}

// NewFlapDetector returns a detector with the given limits (see SetLimits).
func NewFlapDetector(threshold int, window time.Duration) *FlapDetector {
	d := &FlapDetector{macs: map[fdb.Key]*macMoves{}, ports: map[fdb.PortID]*portMoves{}}
	d.SetLimits(threshold, window)
	return d
}

// SetLimits changes the threshold and window. A threshold below 2 is 2 (one
// move is a guest that moved), a window of 0 or less one second. The MACs'
// histories start over.
func (d *FlapDetector) SetLimits(threshold int, window time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.threshold = max(threshold, 2)
	d.window = int64(window)
	if window <= 0 {
		d.window = int64(time.Second)
	}
	clear(d.macs)
}

// Moved records that k moved from port from to port to at time now, and
// reports a flap when that move is the threshold-th within the window. The
// MAC's history then starts over, so a loop that goes on reports again
// after threshold more moves, not on each one.
func (d *FlapDetector) Moved(k fdb.Key, from, to fdb.PortID, now int64) (Flap, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.touch(from, now).recent++
	pt := d.touch(to, now)
	pt.recent++
	pt.to++

	m := d.macs[k]
	if m == nil {
		if len(d.macs) >= maxFlapMACs && !d.sweep(now) {
			return Flap{}, false
		}
		m = &macMoves{times: make([]int64, d.threshold), to: make([]fdb.PortID, d.threshold)}
		d.macs[k] = m
	}
	if m.n == 0 {
		m.home = from
	}
	m.times[m.next], m.to[m.next] = now, to
	m.next = (m.next + 1) % len(m.times)
	m.n = min(m.n+1, len(m.times))
	if m.n < len(m.times) {
		return Flap{}, false
	}
	// The ring holds the latest threshold moves; the next slot, the oldest.
	oldest := m.times[m.next]
	if now-oldest > d.window {
		return Flap{}, false
	}
	f := Flap{Key: k, From: from, To: to, Moves: d.threshold, Span: time.Duration(now - oldest), Home: m.home}
	for i := range len(m.to) {
		p := m.to[(m.next+len(m.to)-1-i)%len(m.to)]
		if p != m.home && !slices.Contains(f.Away, p) {
			f.Away = append(f.Away, p)
		}
	}
	m.n, m.next = 0, 0
	return f, true
}

// touch returns the counts of port p, rolling its window on to now.
func (d *FlapDetector) touch(p fdb.PortID, now int64) *portMoves {
	pm := d.ports[p]
	if pm == nil {
		pm = &portMoves{since: now}
		d.ports[p] = pm
	}
	if el := now - pm.since; el >= d.window {
		pm.prev = pm.recent
		if el >= 2*d.window {
			pm.prev = 0
		}
		pm.recent, pm.since = 0, now
	}
	return pm
}

// sweep drops the MACs whose latest move left the window, and says whether
// that made room.
func (d *FlapDetector) sweep(now int64) bool {
	for k, m := range d.macs {
		last := m.times[(m.next+len(m.times)-1)%len(m.times)]
		if m.n == 0 || now-last > d.window {
			delete(d.macs, k)
		}
	}
	return len(d.macs) < maxFlapMACs
}

// Score returns how many moves touched port p in about the last window
// (between one and two windows back): the ports of a loop score the moves
// of every MAC that crosses it.
func (d *FlapDetector) Score(p fdb.PortID, now int64) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ports[p] == nil {
		return 0
	}
	pm := d.touch(p, now)
	return pm.recent + pm.prev
}

// MovesTo returns how many moves put a MAC on port p.
func (d *FlapDetector) MovesTo(p fdb.PortID) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if pm := d.ports[p]; pm != nil {
		return pm.to
	}
	return 0
}

// Forget drops the counts of the ports keep refuses (ports removed).
func (d *FlapDetector) Forget(keep func(fdb.PortID) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p := range d.ports {
		if !keep(p) {
			delete(d.ports, p)
		}
	}
}

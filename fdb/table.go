// Package fdb holds the forwarding database of a bridge: which port each
// (VLAN, MAC) was last seen on. Lookups and refreshes of known entries take
// no lock and allocate nothing; everything that adds, moves or removes an
// entry serialises on one mutex per table and reports an Event.
package fdb

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v4"
)

// PortID names a bridge port. 0 is no port; callers number ports from 1.
type PortID uint32

// slot is what Table.m holds for a key. The port is in it by value, so that
// a lookup reads the map's node and nothing more: one cache miss fewer at
// 100 000 entries. Slots are immutable; a move stores a new one.
type slot struct {
	// port is where frames to the key go; never 0.
	port PortID
	// e is the key's entry; the same pointer for the entry's whole life.
	e *entry
}

// entry is the state of one key that outlives a move. The Learn fast path
// reaches it through Table.m without the lock, so what it touches is atomic
// or immutable.
type entry struct {
	// lastSeen is the Now time of the latest frame from the key, give or take
	// refreshGrain, which the Learn fast path stores without a lock.
	lastSeen atomic.Int64
	// key is the entry's key in Table.m; immutable.
	key Key
	// static is fixed when the entry is made; making a key static replaces its
	// entry, so a reader holding the old pointer never sees it change.
	static bool
	// queued is lastSeen as of the entry's last placement in its port's age
	// heap, so at most lastSeen (bar refreshes that raced and stored out of
	// order). Guarded by Table.mu; unused if static.
	queued int64
	// index is the entry's position in its port's age heap. Guarded by
	// Table.mu; unused if static.
	index int
}

// portEntries are the entries of one port, so that FlushPort and eviction
// touch one port's entries instead of the whole table.
type portEntries struct {
	// entries holds exactly the keys of Table.m whose entry is on this port.
	entries map[Key]*entry
	// byAge holds exactly the non-static members of entries, so its length is
	// what MaxPerPort bounds.
	byAge ageHeap
}

// Table is the fdb of one bridge. All methods are safe for concurrent use.
type Table struct {
	// m maps each key to its port and entry. Lookups read it lock-free; it
	// is written only with mu held, so under mu it is exact.
	m *xsync.Map[Key, slot]
	// onEvent, if not nil, is called with mu held after each change to m.
	onEvent func(Event)
	// subs see the same events as onEvent (see Subscribe).
	subs subscribers
	// lastSeen is Config.LastSeen.
	lastSeen func(Key) (int64, bool)
	// maxPerPort is the per-port bound on dynamic entries; > 0.
	maxPerPort int
	// maxEntries is the table's bound on dynamic entries; > 0.
	maxEntries int
	// agingTime is the aging time in nanoseconds, 0 for never; atomic so
	// that SetAgingTime does not wait for an Age in progress.
	agingTime atomic.Int64
	// c counts what the table did since New.
	c counters

	// mu serialises every change of m and guards the fields below.
	mu sync.Mutex
	// ports has one element for each port that holds an entry, never an
	// empty one; together they hold exactly the entries of m.
	ports map[PortID]*portEntries
	// dynamic is the number of non-static entries in m.
	dynamic int
}

// New returns an empty table. Zero limits in cfg take the defaults; a zero
// AgingTime means entries never age (see Config).
//
// onEvent, if not nil, is called for every change synchronously, with the
// table's lock held: it must not block and must not call into the table.
// Hand the event to a channel or a queue and do the work elsewhere.
func New(cfg Config, onEvent func(Event)) *Table {
	if cfg.MaxPerPort <= 0 {
		cfg.MaxPerPort = DefaultMaxPerPort
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	t := &Table{
		m:          xsync.NewMap[Key, slot](),
		onEvent:    onEvent,
		lastSeen:   cfg.LastSeen,
		maxPerPort: cfg.MaxPerPort,
		maxEntries: cfg.MaxEntries,
		ports:      make(map[PortID]*portEntries),
	}
	t.SetAgingTime(cfg.AgingTime)
	return t
}

// Lookup returns the port of k. It takes no lock and allocates nothing.
func (t *Table) Lookup(k Key) (PortID, bool) {
	s, ok := t.m.Load(k)
	return s.port, ok
}

// Len returns the number of entries, static and dynamic.
func (t *Table) Len() int { return t.m.Size() }

// PortCount returns the number of entries, static and dynamic, on port.
func (t *Table) PortCount(port PortID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pe := t.ports[port]; pe != nil {
		return len(pe.entries)
	}
	return 0
}

// Entry is a copy of one entry, for display and control.
type Entry struct {
	// Key is the entry's VLAN and MAC.
	Key Key
	// Port is where frames to Key go.
	Port PortID
	// LastSeen is the Now time of the latest frame from Key seen by the table.
	LastSeen int64
	// Static entries were added by AddStatic: they never move, age or get evicted.
	Static bool
}

// Range calls f for each entry until f returns false. Each key is visited at
// most once; entries changed during the call may show either state. No
// table lock is held while f runs, so f may call into the table.
func (t *Table) Range(f func(Entry) bool) {
	t.m.Range(func(k Key, s slot) bool {
		return f(Entry{
			Key:      k,
			Port:     s.port,
			LastSeen: s.e.lastSeen.Load(),
			Static:   s.e.static,
		})
	})
}

// SetAgingTime changes the aging time from the next Age on; d <= 0 turns
// aging off.
func (t *Table) SetAgingTime(d time.Duration) {
	t.agingTime.Store(int64(max(d, 0)))
}

// add stores a new entry for k on port, seen at now. Call with mu held.
func (t *Table) add(k Key, port PortID, now int64, static bool) {
	e := &entry{key: k, static: static}
	e.lastSeen.Store(now)
	t.m.Store(k, slot{port: port, e: e})
	t.link(e, port)
}

// dynamicOn returns the number of dynamic entries on port. Call with mu held.
func (t *Table) dynamicOn(port PortID) int {
	if pe := t.ports[port]; pe != nil {
		return len(pe.byAge)
	}
	return 0
}

// link adds e to the bookkeeping of port. Call with mu held.
func (t *Table) link(e *entry, port PortID) {
	pe := t.ports[port]
	if pe == nil {
		pe = &portEntries{entries: make(map[Key]*entry)}
		t.ports[port] = pe
	}
	pe.entries[e.key] = e
	if !e.static {
		e.queued = e.lastSeen.Load()
		heap.Push(&pe.byAge, e)
		t.dynamic++
	}
}

// unlink removes e from the bookkeeping of port, dropping the port's set
// when it empties. Call with mu held.
func (t *Table) unlink(e *entry, port PortID) {
	pe := t.ports[port]
	delete(pe.entries, e.key)
	if !e.static {
		heap.Remove(&pe.byAge, e.index)
		t.dynamic--
	}
	if len(pe.entries) == 0 {
		delete(t.ports, port)
	}
}

// remove deletes e, which is on port, and reports it as kind. Call with mu
// held.
func (t *Table) remove(e *entry, port PortID, kind EventKind) {
	t.m.Delete(e.key)
	t.unlink(e, port)
	t.emit(Event{Kind: kind, Key: e.key, Port: port, Static: e.static})
}

// emit reports ev. Call with mu held, so that events arrive in change order.
func (t *Table) emit(ev Event) {
	if t.onEvent != nil {
		t.onEvent(ev)
	}
	t.subs.notify(ev)
}

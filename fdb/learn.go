package fdb

import (
	"strconv"
	"time"
)

// refreshGrain is how stale an entry's lastSeen must be before the fast path
// stores a new one: against minutes of aging, a millisecond is exact enough,
// and it saves a write (and a cache-line transfer between cores) per frame.
const refreshGrain = int64(time.Millisecond)

// LearnResult says what Learn did with a frame's source.
type LearnResult uint8

const (
	// Refreshed: the key was already on this port; its last-seen time moved on.
	Refreshed LearnResult = iota
	// Learned: a new entry.
	Learned
	// Moved: the key was on another port and now is on this one.
	Moved
	// Refused: nothing learned, because the port is at its limit, the
	// source is a multicast address, or the port is 0.
	Refused
	// StaticConflict: the key is static on another port and stays there.
	StaticConflict
)

var learnResultNames = [...]string{
	Refreshed:      "refreshed",
	Learned:        "learned",
	Moved:          "moved",
	Refused:        "refused",
	StaticConflict: "static conflict",
}

func (r LearnResult) String() string {
	if int(r) < len(learnResultNames) {
		return learnResultNames[r]
	}
	return "LearnResult(" + strconv.Itoa(int(r)) + ")"
}

// Learn records that a frame with source k arrived on port at time now. It
// is called for every frame: when k is already on port (or static
// elsewhere) it takes no lock and allocates nothing.
func (t *Table) Learn(k Key, port PortID, now int64) LearnResult {
	if s, ok := t.m.Load(k); ok {
		if s.port == port {
			if now-s.e.lastSeen.Load() >= refreshGrain {
				s.e.lastSeen.Store(now)
			}
			return Refreshed
		}
		if s.e.static {
			t.c.staticConflicts.Add(1)
			return StaticConflict
		}
	}
	return t.learnSlow(k, port, now)
}

// learnSlow handles a key that is new or on another port.
func (t *Table) learnSlow(k Key, port PortID, now int64) LearnResult {
	if port == 0 || k.isGroup() {
		t.c.refused.Add(1)
		return Refused
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Look again: another goroutine may have changed k since the fast path.
	s, ok := t.m.Load(k)
	switch {
	case !ok:
		return t.learnNew(k, port, now)
	case s.port == port:
		s.e.lastSeen.Store(max(s.e.lastSeen.Load(), now))
		return Refreshed
	case s.e.static:
		t.c.staticConflicts.Add(1)
		return StaticConflict
	}
	return t.move(s, port, now)
}

// learnNew adds k on port, evicting if the table is full. Call with mu held.
func (t *Table) learnNew(k Key, port PortID, now int64) LearnResult {
	if t.dynamicOn(port) >= t.maxPerPort {
		t.c.refused.Add(1)
		return Refused
	}
	if t.dynamic >= t.maxEntries {
		t.evict()
	}
	t.add(k, port, now, false)
	t.c.learned.Add(1)
	t.emit(Event{Kind: EventLearned, Key: k, Port: port})
	return Learned
}

// move puts the dynamic entry in s onto port. The destination's limit
// applies, or a port could grow past it by claiming other ports' MACs. Call
// with mu held.
func (t *Table) move(s slot, port PortID, now int64) LearnResult {
	if t.dynamicOn(port) >= t.maxPerPort {
		t.c.refused.Add(1)
		return Refused
	}
	e := s.e
	t.unlink(e, s.port)
	e.lastSeen.Store(now)
	t.m.Store(e.key, slot{port: port, e: e})
	t.link(e, port)
	t.c.moved.Add(1)
	t.emit(Event{Kind: EventMoved, Key: e.key, Port: port, OldPort: s.port})
	return Moved
}

// evict removes the least recently seen dynamic entry of the port with the
// most dynamic entries, so that a port flooding new MACs pays for them
// itself. Static entries do not count toward MaxEntries, so a full table
// always has a dynamic entry to evict. Call with mu held.
func (t *Table) evict() {
	var (
		victim *portEntries
		vport  PortID
	)
	for p, pe := range t.ports {
		// Ties go to the lower port id, so the choice does not depend on map order.
		if n := len(pe.byAge); n > 0 && (victim == nil || n > len(victim.byAge) ||
			n == len(victim.byAge) && p < vport) {
			victim, vport = pe, p
		}
	}
	t.remove(victim.byAge.oldest(), vport, EventEvicted)
	t.c.evicted.Add(1)
}

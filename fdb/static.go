package fdb

import "errors"

// ErrNoPort is returned for port 0, which is no port.
var ErrNoPort = errors.New("fdb: port 0 is not a port")

// AddStatic makes k point at port for good: a static entry never moves, ages
// or gets evicted, and frames from k on other ports get StaticConflict. It
// replaces any entry of k, static or dynamic (like `bridge fdb replace`).
// Static entries are set by the operator, not by guests, so they do not
// count toward MaxPerPort or MaxEntries. FlushPort and Delete remove them;
// Flush does not.
func (t *Table) AddStatic(k Key, port PortID) error {
	if port == 0 {
		return ErrNoPort
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.m.Load(k)
	if ok {
		if old.e.static && old.port == port {
			return nil
		}
		t.unlink(old.e, old.port)
	}
	t.add(k, port, Now(), true)
	switch {
	case !ok:
		t.emit(Event{Kind: EventLearned, Key: k, Port: port, Static: true})
	case old.port != port:
		t.emit(Event{Kind: EventMoved, Key: k, Port: port, OldPort: old.port, Static: true})
	default: // a dynamic entry made static on its port
		t.emit(Event{Kind: EventLearned, Key: k, Port: port, Static: true})
	}
	return nil
}

// Delete removes k, static or dynamic, and reports whether it was there.
func (t *Table) Delete(k Key) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m.Load(k)
	if !ok {
		return false
	}
	t.remove(s.e, s.port, EventDeleted)
	return true
}

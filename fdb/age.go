package fdb

// Age removes the dynamic entries not seen for longer than the aging time
// before now, and returns how many it removed. With aging off it does
// nothing. Before removing an entry it asks Config.LastSeen, if set, whether
// the entry was seen where the table could not see it.
//
// Age visits only the entries it removes and those refreshed since it last
// looked at them, in age order per port; call it every second or so. A
// fast-path refresh racing with Age can be lost; the next frame from that
// MAC learns it again.
func (t *Table) Age(now int64) int {
	aging := t.agingTime.Load()
	if aging == 0 {
		return 0
	}
	cutoff := now - aging
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for port, pe := range t.ports {
		for {
			e := pe.byAge.oldest()
			if e == nil || e.queued >= cutoff {
				break
			}
			// A kept entry's lastSeen moved on: the next oldest() re-sorts it.
			if t.seenElsewhere(e, cutoff) {
				continue
			}
			t.remove(e, port, EventAged)
			n++
		}
	}
	t.c.aged.Add(uint64(n))
	return n
}

// seenElsewhere asks Config.LastSeen about e, moves e's last-seen time up to
// the answer, and reports whether that keeps e alive past cutoff.
func (t *Table) seenElsewhere(e *entry, cutoff int64) bool {
	if t.lastSeen == nil {
		return false
	}
	seen, ok := t.lastSeen(e.key)
	if !ok || seen <= e.lastSeen.Load() {
		return false
	}
	e.lastSeen.Store(seen)
	return seen >= cutoff
}

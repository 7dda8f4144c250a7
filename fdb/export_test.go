package fdb

import "fmt"

// CheckInvariants verifies the per-port bookkeeping against the lock-free
// map; tests call it after every scenario so a bookkeeping slip cannot hide
// behind a correct Lookup.
func (t *Table) CheckInvariants() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	total, dynamic := 0, 0
	for port, pe := range t.ports {
		if len(pe.entries) == 0 {
			return fmt.Errorf("port %d: empty set kept", port)
		}
		d := 0
		for k, e := range pe.entries {
			s, ok := t.m.Load(k)
			if !ok || s.e != e || e.key != k {
				return fmt.Errorf("port %d: %v in port set but not in map", port, k)
			}
			if s.port != port {
				return fmt.Errorf("%v: in set of port %d, map says %d", k, port, s.port)
			}
			if !e.static {
				d++
			}
		}
		if d != len(pe.byAge) {
			return fmt.Errorf("port %d: %d dynamic entries, %d in age heap", port, d, len(pe.byAge))
		}
		for i, e := range pe.byAge {
			if pe.entries[e.key] != e || e.static || e.index != i {
				return fmt.Errorf("port %d: age heap slot %d holds %v (static %v, index %d)", port, i, e.key, e.static, e.index)
			}
			if i > 0 && pe.byAge.Less(i, (i-1)/2) {
				return fmt.Errorf("port %d: age heap out of order at %d", port, i)
			}
		}
		if d > t.maxPerPort {
			return fmt.Errorf("port %d: %d dynamic entries > limit %d", port, d, t.maxPerPort)
		}
		total += len(pe.entries)
		dynamic += d
	}
	if n := t.m.Size(); n != total {
		return fmt.Errorf("map holds %d entries, port sets %d", n, total)
	}
	if dynamic != t.dynamic {
		return fmt.Errorf("%d dynamic entries, counted %d", dynamic, t.dynamic)
	}
	if t.dynamic > t.maxEntries {
		return fmt.Errorf("%d dynamic entries > limit %d", t.dynamic, t.maxEntries)
	}
	return nil
}

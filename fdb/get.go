package fdb

// Get returns a copy of k's entry, without refreshing it. Like Lookup it
// takes no lock.
func (t *Table) Get(k Key) (Entry, bool) {
	s, ok := t.m.Load(k)
	if !ok {
		return Entry{}, false
	}
	return Entry{Key: k, Port: s.port, LastSeen: s.e.lastSeen.Load(), Static: s.e.static}, true
}

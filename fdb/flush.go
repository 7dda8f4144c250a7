package fdb

// Flush removes every dynamic entry, like `bridge fdb flush`, and returns how
// many it removed. Static entries stay: they are configuration.
func (t *Table) Flush() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for port, pe := range t.ports {
		for _, e := range pe.entries {
			if !e.static {
				t.remove(e, port, EventFlushed)
				n++
			}
		}
	}
	t.c.flushed.Add(uint64(n))
	return n
}

// FlushPort removes every entry on port, static ones too, because the port
// is going away (a guest stopped), and returns how many it removed.
func (t *Table) FlushPort(port PortID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	pe := t.ports[port]
	if pe == nil {
		return 0
	}
	n := len(pe.entries)
	for _, e := range pe.entries {
		t.remove(e, port, EventFlushed)
	}
	t.c.flushed.Add(uint64(n))
	return n
}

package fdb

// MaxEntries returns the table's bound on dynamic entries, past which
// learning evicts: what an exporter compares Stats.Entries with.
func (t *Table) MaxEntries() int { return t.maxEntries }

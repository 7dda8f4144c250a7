package fdb

import "sync/atomic"

// counters are the cumulative counts behind Stats; atomic so that Stats and
// the lock-free paths need no lock.
type counters struct {
	learned, moved, aged, evicted, refused, flushed, staticConflicts atomic.Uint64
}

// Stats is a snapshot of a table's counters. The cumulative counts only grow.
type Stats struct {
	// Entries is the number of entries, static and dynamic, now.
	Entries int
	// Learned counts entries learned from traffic.
	Learned uint64
	// Moved counts entries learned again on another port.
	Moved uint64
	// Aged counts entries removed by Age.
	Aged uint64
	// Evicted counts entries removed to make room in a full table.
	Evicted uint64
	// Refused counts frames whose source was not learned: port at its limit,
	// a multicast source or port 0.
	Refused uint64
	// Flushed counts entries removed by Flush and FlushPort.
	Flushed uint64
	// StaticConflicts counts frames from a static entry's MAC on another
	// port: a misconfiguration or a spoofing guest.
	StaticConflicts uint64
}

// Stats returns the current counters; it takes no lock.
func (t *Table) Stats() Stats {
	return Stats{
		Entries:         t.Len(),
		Learned:         t.c.learned.Load(),
		Moved:           t.c.moved.Load(),
		Aged:            t.c.aged.Load(),
		Evicted:         t.c.evicted.Load(),
		Refused:         t.c.refused.Load(),
		Flushed:         t.c.flushed.Load(),
		StaticConflicts: t.c.staticConflicts.Load(),
	}
}

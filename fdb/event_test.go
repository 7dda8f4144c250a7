package fdb_test

import (
	"slices"
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

// TestEventsInOrder runs one of each change and checks the exact event stream.
func TestEventsInOrder(t *testing.T) {
	var r recorder
	tbl := fdb.New(fdb.Config{AgingTime: 10, MaxEntries: 2}, r.record)
	keyD, keyE, keyF := mac(0xd), mac(0xe), mac(0xf)
	ops := []func(){
		func() { tbl.Learn(keyA, 1, 0) },
		func() { tbl.Learn(keyA, 1, 5e6) }, // refresh: no event
		func() { tbl.Learn(keyA, 2, 6e6) },
		func() { _ = tbl.AddStatic(keyB, 3) },
		func() { _ = tbl.AddStatic(keyB, 3) }, // already so: no event
		func() { _ = tbl.AddStatic(keyA, 3) }, // dynamic on 2 becomes static on 3
		func() { tbl.Learn(keyF, 2, 6e6) },
		func() { _ = tbl.AddStatic(keyF, 2) }, // dynamic becomes static on its port
		func() { tbl.Learn(keyB, 1, 7e6) },    // static conflict: no event
		func() { tbl.Delete(keyA) },
		func() { tbl.Delete(keyA) }, // gone: no event
		func() { tbl.Learn(keyC, 1, 8e6) },
		func() { tbl.Learn(keyD, 1, 9e6) },
		func() { tbl.Learn(keyE, 2, 10e6) }, // full: evict keyC
		func() { tbl.Age(10e6 + 10) },       // keyD ages
		func() { tbl.FlushPort(3) },
		func() { tbl.Flush() },
	}
	for _, op := range ops {
		op()
	}
	want := []fdb.Event{
		{Kind: fdb.EventLearned, Key: keyA, Port: 1},
		{Kind: fdb.EventMoved, Key: keyA, Port: 2, OldPort: 1},
		{Kind: fdb.EventLearned, Key: keyB, Port: 3, Static: true},
		{Kind: fdb.EventMoved, Key: keyA, Port: 3, OldPort: 2, Static: true},
		{Kind: fdb.EventLearned, Key: keyF, Port: 2},
		{Kind: fdb.EventLearned, Key: keyF, Port: 2, Static: true},
		{Kind: fdb.EventDeleted, Key: keyA, Port: 3, Static: true},
		{Kind: fdb.EventLearned, Key: keyC, Port: 1},
		{Kind: fdb.EventLearned, Key: keyD, Port: 1},
		{Kind: fdb.EventEvicted, Key: keyC, Port: 1},
		{Kind: fdb.EventLearned, Key: keyE, Port: 2},
		{Kind: fdb.EventAged, Key: keyD, Port: 1},
		{Kind: fdb.EventFlushed, Key: keyB, Port: 3, Static: true},
		{Kind: fdb.EventFlushed, Key: keyE, Port: 2},
	}
	if !slices.Equal(r.events, want) {
		t.Errorf("events:\n%v\nwant:\n%v", r.events, want)
	}
	if tbl.Len() != 1 {
		t.Errorf("Len() = %d after flushing all, want 1 (the static keyF, which Flush keeps)", tbl.Len())
	}
	checkInvariants(t, tbl)
}

package fdb_test

import (
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

// mac returns a locally administered unicast key numbered n on VLAN 1.
func mac(n uint32) fdb.Key {
	return fdb.MakeKey(1, []byte{0x02, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// recorder collects events in the order the table emits them.
type recorder struct{ events []fdb.Event }

func (r *recorder) record(ev fdb.Event) { r.events = append(r.events, ev) }

func checkInvariants(t *testing.T, tbl *fdb.Table) {
	t.Helper()
	if err := tbl.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func wantPort(t *testing.T, tbl *fdb.Table, k fdb.Key, want fdb.PortID) {
	t.Helper()
	got, ok := tbl.Lookup(k)
	switch {
	case want == 0 && ok:
		t.Errorf("Lookup(%v) = %d, want absent", k, got)
	case want != 0 && (!ok || got != want):
		t.Errorf("Lookup(%v) = %d, %v, want %d", k, got, ok, want)
	}
}

func lastSeen(t *testing.T, tbl *fdb.Table, k fdb.Key) int64 {
	t.Helper()
	var seen int64 = -1
	tbl.Range(func(e fdb.Entry) bool {
		if e.Key == k {
			seen = e.LastSeen
			return false
		}
		return true
	})
	if seen < 0 {
		t.Fatalf("%v not in table", k)
	}
	return seen
}

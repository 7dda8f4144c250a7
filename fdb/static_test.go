package fdb_test

import (
	"errors"
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

func TestAddStaticPortZero(t *testing.T) {
	tbl := fdb.New(fdb.Config{}, nil)
	if err := tbl.AddStatic(keyA, 0); !errors.Is(err, fdb.ErrNoPort) {
		t.Fatalf("AddStatic(port 0) = %v, want ErrNoPort", err)
	}
	if tbl.Len() != 0 {
		t.Fatal("AddStatic(port 0) added an entry")
	}
}

func TestStaticRangeAndDelete(t *testing.T) {
	tbl := fdb.New(fdb.Config{}, nil)
	tbl.Learn(keyA, 1, 42)
	if err := tbl.AddStatic(keyB, 2); err != nil {
		t.Fatal(err)
	}
	got := map[fdb.Key]fdb.Entry{}
	tbl.Range(func(e fdb.Entry) bool {
		got[e.Key] = e
		return true
	})
	if e := got[keyA]; e.Port != 1 || e.Static || e.LastSeen != 42 {
		t.Errorf("Range gave %+v for the learned entry", e)
	}
	if e := got[keyB]; e.Port != 2 || !e.Static {
		t.Errorf("Range gave %+v for the static entry", e)
	}
	if len(got) != 2 {
		t.Errorf("Range visited %d entries, want 2", len(got))
	}
	for _, tt := range []struct {
		key  fdb.Key
		want bool
	}{{keyB, true}, {keyB, false}, {keyA, true}, {keyC, false}} {
		if ok := tbl.Delete(tt.key); ok != tt.want {
			t.Errorf("Delete(%v) = %v, want %v", tt.key, ok, tt.want)
		}
		wantPort(t, tbl, tt.key, 0)
	}
	checkInvariants(t, tbl)
}

func TestRangeStops(t *testing.T) {
	tbl := fdb.New(fdb.Config{}, nil)
	for i := range uint32(10) {
		tbl.Learn(mac(i), 1, 0)
	}
	n := 0
	tbl.Range(func(fdb.Entry) bool {
		n++
		return n < 3
	})
	if n != 3 {
		t.Fatalf("Range went on after false: %d calls", n)
	}
}

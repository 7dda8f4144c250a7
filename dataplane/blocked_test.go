package dataplane_test

import (
	"errors"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
)

func TestBlocked(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b", "c")
	r.learn("a", 1)
	r.learn("b", 2)
	if err := r.br.SetBlocked("b", true); err != nil {
		t.Fatal(err)
	}
	if !r.br.Blocked("b") {
		t.Error("Blocked(b) = false after SetBlocked(b, true)")
	}

	// Floods skip the blocked port; unicast to a MAC on it is flooded past it.
	bc := frame(bcast, host(1), "flood")
	toB := frame(host(2), host(1), "to-b")
	r.inject("a", bc, toB)
	r.expect(map[string][][]byte{"c": {bc, toB}})

	// What it receives is dropped, counted, and not learned.
	fromB := frame(host(1), host(7), "from-b")
	r.inject("b", fromB, frame(bcast, host(7), "bcast-from-b"))
	r.expect(map[string][][]byte{})
	if c := r.counters("b"); c.Drops[dataplane.DropBlocked] != 2 {
		t.Errorf("blocked port's drops %v, want 2 blocked", c.Drops)
	}
	if _, ok := r.br.FDB().Get(fdb.MakeKey(0, host(7))); ok {
		t.Error("a MAC behind the blocked port was learned")
	}
	if tr, err := r.br.Trace("b", fromB); err != nil || tr.Verdict != "drop" || tr.Reason != "blocked" {
		t.Errorf("trace from the blocked port: %+v, %v", tr, err)
	}
	if tr, err := r.br.Trace("a", toB); err != nil || tr.Verdict != "flood" || len(tr.Egress) != 1 || tr.Egress[0].Port != "c" {
		t.Errorf("trace to the blocked port: %+v, %v", tr, err)
	}

	// Unblocked, it forwards and learns again.
	if err := r.br.SetBlocked("b", false); err != nil {
		t.Fatal(err)
	}
	r.inject("a", toB)
	r.expect(map[string][][]byte{"b": {toB}})
	r.inject("b", fromB)
	r.expect(map[string][][]byte{"a": {fromB}})
	if c := r.counters("b"); c.Drops[dataplane.DropBlocked] != 2 {
		t.Errorf("unblocked port's blocked drops %d, want still 2", c.Drops[dataplane.DropBlocked])
	}
	if err := r.br.SetBlocked("nope", true); !errors.Is(err, dataplane.ErrNoPort) {
		t.Errorf("SetBlocked of an unknown port: %v, want ErrNoPort", err)
	}
}

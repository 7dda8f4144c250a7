package fdb

import (
	"net"
	"testing"
)

func TestSubscribeSeesChangesUntilCancelled(t *testing.T) {
	tb := New(Config{}, nil)
	var got []EventKind
	cancel := tb.Subscribe(func(ev Event) { got = append(got, ev.Kind) })
	k := MakeKey(0, net.HardwareAddr{2, 0, 0, 0, 0, 1})
	tb.Learn(k, 1, 1)
	tb.Learn(k, 2, 2)
	tb.Delete(k)
	cancel()
	tb.Learn(k, 1, 3)
	want := []EventKind{EventLearned, EventMoved, EventDeleted}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}

package dataplane_test

import (
	"errors"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
)

// TestStormControl checks a port's storm control in the bridge: a burst
// of broadcasts past the bucket is dropped and counted, unknown unicast
// has its own limit, learned unicast and other ports' floods pass.
func TestStormControl(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b", "c")
	r.learn("b", 2)
	if err := r.br.SetStorm("a", dataplane.StormLimits{Broadcast: 10, UnknownUnicast: 10}); err != nil {
		t.Fatal(err)
	}
	// The bucket holds 8 frames at 10/s; 20 frames come faster than
	// the 100 ms one more takes.
	var bcasts, unknown [][]byte
	for i := range 20 {
		bcasts = append(bcasts, frame(bcast, host(1), "storm"+string(rune('a'+i))))
		unknown = append(unknown, frame(host(9), host(1), "unknown"+string(rune('a'+i))))
	}
	r.inject("a", bcasts...)
	r.taken()
	r.inject("a", unknown...)
	r.taken()
	toB := frame(host(2), host(1), "to-b")
	r.inject("a", toB)
	r.taken()
	c := r.counters("a")
	// Between 8 and 10 of each pass (a slow run refills a frame or two).
	passed := 40 - c.Drops[dataplane.DropStorm]
	if passed < 16 || passed > 20 {
		t.Errorf("%d of 40 flooded frames passed (drops %v), want the two bursts of 8", passed, c.Drops)
	}
	if got := len(r.ports["c"].WaitSent(int(passed), wait)); uint64(got) != passed {
		t.Errorf("c got %d flooded frames, want %d", got, passed)
	}
	if got := r.ports["b"].WaitSent(int(passed)+1, wait); len(got) != int(passed)+1 || string(got[len(got)-1].Data) != string(toB) {
		t.Errorf("b got %d frames, want the %d flooded and the unicast last", len(got), passed+1)
	}
	// Another port's floods are not limited.
	more := [][]byte{}
	for i := range 20 {
		more = append(more, frame(bcast, host(3), "c-flood"+string(rune('a'+i))))
	}
	r.inject("c", more...)
	r.expect(map[string][][]byte{"a": more, "b": more})

	// Lifted.
	if err := r.br.SetStorm("a", dataplane.StormLimits{}); err != nil {
		t.Fatal(err)
	}
	r.inject("a", bcasts...)
	r.expect(map[string][][]byte{"b": bcasts, "c": bcasts})
	if err := r.br.SetStorm("nope", dataplane.StormLimits{Broadcast: 1}); !errors.Is(err, dataplane.ErrNoPort) {
		t.Errorf("SetStorm of an unknown port: %v", err)
	}
}

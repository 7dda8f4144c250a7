package dataplane_test

import (
	"slices"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
)

func TestMirror(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b", "c", "ids")
	if err := r.br.SetMirrors([]dataplane.Mirror{{From: "a", To: "ids", Dir: dataplane.MirrorBoth}}); err != nil {
		t.Fatal(err)
	}
	bc := frame(bcast, host(1), "hello")
	r.inject("a", bc)
	// The IDS gets a's broadcast once, as a copy, not as a flood.
	r.expect(map[string][][]byte{"b": {bc}, "c": {bc}, "ids": {bc}})
	reply := frame(host(1), host(2), "reply")
	r.inject("b", reply)
	r.expect(map[string][][]byte{"a": {reply}, "ids": {reply}})
	other := frame(host(2), host(3), "c-to-b")
	r.inject("c", other)
	r.expect(map[string][][]byte{"b": {other}})

	tr, err := r.br.Trace("b", reply)
	if err != nil || !slices.Equal(tr.Mirrored, []string{"ids"}) {
		t.Errorf("trace of a frame to the mirrored port: %+v, %v", tr, err)
	}

	// What the IDS sends is dropped and counted.
	if got := r.send("ids", dataplane.Frame{Data: frame(bcast, host(9), "from-ids")}); len(got) != 0 {
		t.Errorf("what the mirror port sent went to %v", got)
	}
	if c := r.counters("ids"); c.Drops[dataplane.DropMirrorPort] != 1 {
		t.Errorf("the mirror port's drops: %v", c.Drops)
	}
	if tr, _ := r.br.Trace("ids", frame(bcast, host(9), "x")); tr.Verdict != "drop" || tr.Reason != "mirror_destination" {
		t.Errorf("trace from the mirror port: %+v", tr)
	}

	// Ingress only; then no mirrors, and the IDS port is an ordinary port again.
	if err := r.br.SetMirrors([]dataplane.Mirror{{From: "a", To: "ids", Dir: dataplane.MirrorIngress}}); err != nil {
		t.Fatal(err)
	}
	r.inject("b", reply)
	r.expect(map[string][][]byte{"a": {reply}})
	if err := r.br.SetMirrors(nil); err != nil {
		t.Fatal(err)
	}
	r.inject("c", bc)
	r.expect(map[string][][]byte{"a": {bc}, "b": {bc}, "ids": {bc}})

	for _, bad := range [][]dataplane.Mirror{
		{{From: "a", To: "a", Dir: dataplane.MirrorBoth}},
		{{From: "a", To: "ids", Dir: 0}},
		{{From: "a", To: "ids", Dir: dataplane.MirrorBoth}, {From: "ids", To: "b", Dir: dataplane.MirrorBoth}},
		{{From: "", To: "ids", Dir: dataplane.MirrorBoth}},
	} {
		if err := r.br.SetMirrors(bad); err == nil {
			t.Errorf("SetMirrors(%+v) took it", bad)
		}
	}
}

func TestMirrorFollowsPorts(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b")
	// The destination is not attached yet: the mirror waits for it.
	if err := r.br.SetMirrors([]dataplane.Mirror{{From: "a", To: "ids", Dir: dataplane.MirrorIngress}}); err != nil {
		t.Fatal(err)
	}
	bc := frame(bcast, host(1), "one")
	r.inject("a", bc)
	r.expect(map[string][][]byte{"b": {bc}})
	r.add("ids")
	r.inject("a", bc)
	r.expect(map[string][][]byte{"b": {bc}, "ids": {bc}})
	if err := r.br.RemovePort("ids"); err != nil {
		t.Fatal(err)
	}
	delete(r.ports, "ids")
	r.inject("a", bc)
	r.expect(map[string][][]byte{"b": {bc}})
}

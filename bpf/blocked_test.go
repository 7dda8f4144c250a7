package bpf

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xswitch/xswitch/fdb"
)

// TestBlocked checks a blocked port: what it sends is dropped and counted
// by both programs, and teaches nothing; unicast to a MAC on it is punted
// as to an unknown destination; unblocked, it forwards again. The block
// survives the port entry being written again.
func TestBlocked(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, true)
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)
	if err := e.fp.SetBlocked(e.b, true); err != nil {
		t.Fatal(err)
	}

	toB := frame(macB, macA, 0, 0, 60)
	checkPunt(t, "unicast to a blocked port", e.runTC(e.a, toB), toB, puntIndex(t, "unknown_destination"))
	if got := e.runXDP(e.a, toB); got != xdpPass {
		t.Errorf("XDP, unicast to a blocked port: verdict %d, want pass", got)
	}
	fromB := frame(macA, macC, 0, 0, 60)
	if got := e.runTC(e.b, fromB); got.verdict != tcActShot {
		t.Errorf("TC on a blocked port: verdict %d, want drop", got.verdict)
	}
	if got := e.runXDP(e.b, fromB); got != xdpDrop {
		t.Errorf("XDP on a blocked port: verdict %d, want drop", got)
	}
	if s := e.stats(e.b); s.Drops["blocked"] != 2 || s.DropBytes != 120 || s.Packets != 0 {
		t.Errorf("blocked port's stats %+v, want 2 drops (blocked) of 60 bytes", s)
	}
	var v xswitchFdbEntry
	if err := e.fp.objs.XsFdb.Lookup(fdbKey(bridge1, fdb.MakeKey(0, macC)), &v); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Errorf("a blocked port's source was learned (lookup: %v)", err)
	}

	// The port entry written again, as Refresh does, keeps the flag.
	if err := e.fp.putPort(Port{Name: "pb", Index: e.b, Bridge: bridge1, MTU: 1500}, 0, &portLinks{name: "pb"}); err != nil {
		t.Fatal(err)
	}
	if got := e.runTC(e.b, fromB); got.verdict != tcActShot {
		t.Errorf("after putPort: verdict %d, want drop", got.verdict)
	}

	if err := e.fp.SetBlocked(e.b, false); err != nil {
		t.Fatal(err)
	}
	if got := e.runTC(e.a, toB); got.verdict != tcActRedirect || got.punted() {
		t.Errorf("unblocked: verdict %d (punted %v), want forwarded", got.verdict, got.punted())
	}
	if got := e.runTC(e.b, frame(macA, macB, 0, 0, 60)); got.verdict != tcActRedirect || got.punted() {
		t.Errorf("from the unblocked port: verdict %d (punted %v), want forwarded", got.verdict, got.punted())
	}
	if err := e.fp.putPort(Port{Name: "pb", Index: e.b, Bridge: bridge1, MTU: 1500}, 0, &portLinks{name: "pb"}); err != nil {
		t.Fatal(err)
	}
	if got := e.runTC(e.b, frame(macA, macB, 0, 0, 60)); got.punted() || got.verdict != tcActRedirect {
		t.Errorf("unblocked, after putPort: verdict %d, want forwarded", got.verdict)
	}
	// Blocking a port not in the maps yet holds once it is put there.
	if err := e.fp.SetBlocked(e.c, true); err != nil {
		t.Fatal(err)
	}
	if err := e.fp.putPort(Port{Name: "pc", Index: e.c, Bridge: bridge1, MTU: 1500}, 0, &portLinks{name: "pc"}); err != nil {
		t.Fatal(err)
	}
	if got := e.runTC(e.c, frame(macA, macC, 0, 0, 60)); got.verdict != tcActShot {
		t.Errorf("blocked before it was put: verdict %d, want drop", got.verdict)
	}
}

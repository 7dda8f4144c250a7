package bpf

import (
	"net"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xswitch/xswitch/fdb"
)

// TestMACLimit checks that the programs learn no more dynamic MACs on a
// port than its limit: past it a frame goes on unlearned, forwarded or
// punted for its destination (never for its source), and counted; the
// count follows the programs' moves and the loader's PutFDB and DeleteFDB,
// and RecountMACs puts a drifted count right.
func TestMACLimit(t *testing.T) {
	e := newEnv(t)
	for _, p := range []Port{{Name: "pa", Index: e.a, Bridge: bridge1, MTU: 1500}, {Name: "pb", Index: e.b, Bridge: bridge1, MTU: 1500}} {
		if err := e.fp.putPort(p, 0, &portLinks{name: p.Name, maxMACs: 3}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.fp.PutFDB(bridge1, fdb.MakeKey(0, macB), e.b, false, fdb.Now()); err != nil {
		t.Fatal(err)
	}
	src := func(n byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0xaa, 0, 0, 0, n} }
	learnedOn := func(mac net.HardwareAddr) int {
		var v xswitchFdbEntry
		if e.fp.objs.XsFdb.Lookup(fdbKey(bridge1, fdb.MakeKey(0, mac)), &v) != nil {
			return 0
		}
		return int(v.Ifindex)
	}
	for n := byte(1); n <= 5; n++ {
		if got := e.runTC(e.a, frame(macB, src(n), 0, 0, 60)); got.verdict != tcActRedirect || got.punted() {
			t.Errorf("source %d: verdict %d (punted %v), want forwarded", n, got.verdict, got.punted())
		}
	}
	for n := byte(1); n <= 5; n++ {
		if on, want := learnedOn(src(n)), map[bool]int{true: e.a, false: 0}[n <= 3]; on != want {
			t.Errorf("source %d learned on %d, want %d", n, on, want)
		}
	}
	if c := e.fp.MACCount(e.a); c != 3 {
		t.Errorf("count of a %d, want 3", c)
	}
	// Unlearnable and flooded: punted to be flooded, not for its source.
	bcast := frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, src(6), 0, 0, 60)
	checkPunt(t, "broadcast from an unlearnable source", e.runTC(e.a, bcast), bcast, puntIndex(t, "flood"))
	s := e.stats(e.a)
	if s.FDBRefused != 2 || s.Punts[puntIndex(t, "unknown_source")] != 0 {
		t.Errorf("refused %d, unknown_source punts %d; want 2 and 0 (punted frames are userspace's to count)", s.FDBRefused, s.Punts[puntIndex(t, "unknown_source")])
	}
	if got := e.runXDP(e.a, frame(macB, src(7), 0, 0, 60)); got != xdpPass && got != xdpRedirect {
		t.Errorf("XDP, unlearnable source: verdict %d", got)
	}
	if learnedOn(src(7)) != 0 {
		t.Error("XDP learned past the limit")
	}

	// The daemon's deletion makes room again.
	if err := e.fp.DeleteFDB(bridge1, fdb.MakeKey(0, src(1))); err != nil {
		t.Fatal(err)
	}
	if c := e.fp.MACCount(e.a); c != 2 {
		t.Errorf("count of a after a delete %d, want 2", c)
	}
	e.runTC(e.a, frame(macB, src(4), 0, 0, 60))
	if learnedOn(src(4)) != e.a {
		t.Error("source 4 not learned once there was room")
	}
	// A static entry does not count; the daemon's dynamic ones do.
	if err := e.fp.PutFDB(bridge1, fdb.MakeKey(0, src(9)), e.b, true, fdb.Now()); err != nil {
		t.Fatal(err)
	}
	if c := e.fp.MACCount(e.b); c != 1 {
		t.Errorf("count of b %d, want 1 (macB; the static entry does not count)", c)
	}
	// A move: from b to a when a has room, counted on both.
	if err := e.fp.DeleteFDB(bridge1, fdb.MakeKey(0, src(2))); err != nil {
		t.Fatal(err)
	}
	e.runTC(e.a, frame(macA, macB, 0, 0, 60))
	if learnedOn(macB) != e.a || e.fp.MACCount(e.a) != 3 || e.fp.MACCount(e.b) != 0 {
		t.Errorf("after a move: macB on %d, counts a %d b %d; want on a, 3 and 0", learnedOn(macB), e.fp.MACCount(e.a), e.fp.MACCount(e.b))
	}

	// An entry on a port without a count makes none.
	if err := e.fp.PutFDB(bridge1, fdb.MakeKey(0, src(10)), e.c, false, fdb.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.fp.objs.XsMacsUser.Lookup(uint32(e.c), new(xswitchMacs)); err == nil {
		t.Error("PutFDB made a count for a port not in the maps")
	}

	// A count gone wrong is put right.
	if err := e.fp.objs.XsMacsUser.Update(uint32(e.a), xswitchMacs{N: 100}, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	e.fp.RecountMACs()
	if c := e.fp.MACCount(e.a); c != 3 {
		t.Errorf("count of a after RecountMACs %d, want 3", c)
	}
	// A port taken out loses its count with its MACs.
	e.fp.deletePort(e.a)
	if c := e.fp.MACCount(e.a); c != 0 {
		t.Errorf("count of a removed port %d", c)
	}
}

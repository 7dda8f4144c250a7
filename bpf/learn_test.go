package bpf

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/xswitch/xswitch/fdb"
)

// next reads the next learned MAC, failing the test if none comes.
func next(t *testing.T, r *LearnReader) Learned {
	t.Helper()
	r.rd.SetDeadline(time.Now().Add(time.Second))
	l, err := r.Read()
	if err != nil {
		t.Fatalf("no learned MAC: %v", err)
	}
	return l
}

// none checks that nothing more was learned.
func none(t *testing.T, r *LearnReader) {
	t.Helper()
	r.rd.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if l, err := r.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("learned %+v (%v), want nothing", l, err)
	}
}

// onPort reports the ifindex the map points the MAC at, 0 for none.
func (e *env) onPort(br uint32, vid uint16, mac net.HardwareAddr) int {
	var v xswitchFdbEntry
	if e.fp.objs.XsFdb.Lookup(fdbKey(br, fdb.MakeKey(vid, mac)), &v) != nil {
		return 0
	}
	return int(v.Ifindex)
}

// TestLearn checks that the programs learn sources themselves and say so:
// the answer to a first frame takes the fast path, a moved MAC follows its
// frames, a static one does not, and a full ring makes them punt instead.
func TestLearn(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, true)
	e.port(e.c, bridge1, false)
	r, err := e.fp.LearnReader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := func(l Learned, vid uint16, mac net.HardwareAddr, ifindex int) {
		t.Helper()
		if w := (Learned{Bridge: bridge1, Key: fdb.MakeKey(vid, mac), Ifindex: ifindex}); l != w {
			t.Errorf("learned %+v, want %+v", l, w)
		}
		if got := e.onPort(bridge1, vid, mac); got != ifindex {
			t.Errorf("map has %v on ifindex %d, want %d", mac, got, ifindex)
		}
	}

	// A's first frame (an ARP request, say): learned, and punted for its
	// destination. The reader, waiting already, is woken a moment later.
	woken := make(chan Learned, 1)
	go func() {
		l, err := r.Read()
		if err != nil {
			t.Error(err)
		}
		woken <- l
	}()
	time.Sleep(50 * time.Millisecond) // the reader waits
	if got := e.runTC(e.a, frame(macB, macA, 0, 0, 60)); !got.punted() {
		t.Fatalf("first frame of A: verdict %d, want punted", got.verdict)
	}
	select {
	case l := <-woken:
		want(l, 0, macA, e.a)
	case <-time.After(2 * time.Second):
		t.Fatal("the waiting reader was not woken")
	}
	// B's answer: learned, and forwarded to A in the kernel.
	if got := e.runTC(e.b, frame(macA, macB, 0, 0, 60)); got.verdict != tcActRedirect || got.punted() {
		t.Errorf("answer of B: verdict %d, punted %v; want forwarded", got.verdict, got.punted())
	}
	want(next(t, r), 0, macB, e.b)
	if s := e.stats(e.b); s.Packets != 1 {
		t.Errorf("B's port forwarded %d frames, want 1", s.Packets)
	}
	// Known on its port: nothing to learn.
	e.runTC(e.a, frame(macB, macA, 0, 0, 60))
	none(t, r)
	// A moves to C's port, by XDP as well.
	if got := e.runXDP(e.c, frame(macB, macA, 0, 0, 60)); got != xdpRedirect {
		t.Errorf("moved A: XDP verdict %d, want redirect", got)
	}
	want(next(t, r), 0, macA, e.c)
	// In a VLAN, a MAC is learned again.
	e.runTC(e.a, frame(macB, macA, 0x8100, 5, 60))
	want(next(t, r), 5, macA, e.a)
	// A static MAC stays where it is pinned.
	e.learn(bridge1, 0, macC, e.c, true)
	if got := e.runTC(e.a, frame(macB, macC, 0, 0, 60)); !got.punted() {
		t.Errorf("static MAC from another port: verdict %d, want punted", got.verdict)
	}
	none(t, r)
	if got := e.onPort(bridge1, 0, macC); got != e.c {
		t.Errorf("static MAC moved to ifindex %d", got)
	}

	// Unread, the ring fills up: then a new source is punted, not learned.
	unknown := puntIndex(t, "unknown_source")
	var (
		i   int
		src net.HardwareAddr
	)
	for ; ; i++ {
		if i == 100000 {
			t.Fatal("a full ring still learns")
		}
		src = net.HardwareAddr{0x02, 1, byte(i >> 16), byte(i >> 8), byte(i), 0}
		got := e.runTC(e.a, frame(macB, src, 0, 0, 60))
		if got.punted() {
			break
		}
		if got.verdict != tcActRedirect {
			t.Fatalf("frame %d from a new source to B: verdict %d, want forwarded", i, got.verdict)
		}
	}
	if n := e.stats(e.a).Punts[unknown]; n != 1 {
		t.Errorf("punts[unknown_source] = %d, want 1", n)
	}
	if i < 1000 {
		t.Errorf("the ring took %d events, want thousands", i)
	}
	if got := e.onPort(bridge1, 0, src); got != 0 {
		t.Errorf("with the ring full, the map has the source on ifindex %d", got)
	}
	// Once read, the ring takes events again.
	r.rd.SetDeadline(time.Now().Add(time.Second))
	for n := 0; n < i; n++ {
		if _, err := r.Read(); err != nil {
			t.Fatalf("event %d of %d: %v", n, i, err)
		}
	}
	if got := e.runTC(e.a, frame(macB, src, 0, 0, 60)); got.punted() {
		t.Error("with the ring read, a new source is still punted")
	}
	want(next(t, r), 0, src, e.a)
}

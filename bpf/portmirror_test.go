package bpf

import (
	"testing"

	"github.com/cilium/ebpf"
)

// setMirrorEntry gives a port of the env mirrors, as SetMirror does to an
// attached port.
func (e *env) setMirrorEntry(ifindex int, m PortMirror) {
	e.t.Helper()
	var v xswitchPort
	if err := e.fp.objs.XsPorts.Lookup(uint32(ifindex), &v); err != nil {
		e.t.Fatal(err)
	}
	setMirror(&v, m)
	if err := e.fp.objs.XsPorts.Update(uint32(ifindex), v, ebpf.UpdateExist); err != nil {
		e.t.Fatal(err)
	}
}

// TestMirrors checks what the programs do with the frames of mirrored
// ports and of a mirror's destination: TC forwards a mirrored port's frame
// (and copies it), XDP leaves it to TC, several destinations are
// userspace's, and what a destination sends is dropped, never learned.
func TestMirrors(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, true)
	e.port(e.b, bridge1, true)
	e.port(e.c, bridge1, false)
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)
	e.setMirrorEntry(e.a, PortMirror{In: []int{e.c}, Out: []int{e.c}})
	e.setMirrorEntry(e.c, PortMirror{Dest: true})

	if got := e.runTC(e.a, frame(macB, macA, 0, 0, 60)); got.verdict != tcActRedirect || got.punted() {
		t.Errorf("TC, from a mirrored port: verdict %d, punted %v; want forwarded", got.verdict, got.punted())
	}
	if got := e.runTC(e.b, frame(macA, macB, 0, 0, 60)); got.verdict != tcActRedirect || got.punted() {
		t.Errorf("TC, to a mirrored port: verdict %d, punted %v; want forwarded", got.verdict, got.punted())
	}
	if got := e.runXDP(e.a, frame(macB, macA, 0, 0, 60)); got != xdpPass {
		t.Errorf("XDP, from a mirrored port: verdict %d, want pass", got)
	}
	if got := e.runXDP(e.b, frame(macA, macB, 0, 0, 60)); got != xdpPass {
		t.Errorf("XDP, to a mirrored port: verdict %d, want pass", got)
	}
	if s := e.stats(e.a); s.Packets != 1 || s.TxPackets != 1 {
		t.Errorf("a: forwarded %d, sent %d; want TC's 1 and 1", s.Packets, s.TxPackets)
	}

	e.setMirrorEntry(e.a, PortMirror{In: []int{e.c, e.b}})
	got := e.runTC(e.a, frame(macB, macA, 0, 0, 60))
	checkPunt(t, "several destinations", got, frame(macB, macA, 0, 0, 60), puntIndex(t, "mirror"))

	if v := e.runTC(e.c, frame(macA, macC, 0, 0, 60)).verdict; v != tcActShot {
		t.Errorf("TC, from a mirror's destination: verdict %d, want shot", v)
	}
	if v := e.runXDP(e.c, frame(macA, macC, 0, 0, 60)); v != xdpDrop {
		t.Errorf("XDP, from a mirror's destination: verdict %d, want drop", v)
	}
	if s := e.stats(e.c); s.Drops["mirror_destination"] != 2 {
		t.Errorf("the destination's drops: %v, want 2 mirror_destination", s.Drops)
	}
	for _, f := range e.fp.FDB() {
		if f.Ifindex == e.c {
			t.Errorf("learned %v on a mirror's destination", f.Key)
		}
	}
}

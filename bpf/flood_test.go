package bpf

import (
	"net"
	"testing"

	"github.com/cilium/ebpf"
)

var allOnes = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// floodPort writes ifindex's port entry as the loader does, so that the
// flood lists follow it.
func (e *env) floodPort(ifindex int, br uint32, flags uint32, maxLen uint32) {
	e.t.Helper()
	e.port(ifindex, br, false)
	e.fp.mu.Lock()
	defer e.fp.mu.Unlock()
	v := xswitchPort{Bridge: br, Flags: flags, MaxLen: maxLen}
	if err := e.fp.writePort(uint32(ifindex), v, ebpf.UpdateAny); err != nil {
		e.t.Fatal(err)
	}
}

// TestKernelFlood checks when TC floods a broadcast itself: to every other
// port of the bridge's list, each counted once, the original dropped and
// nothing punted; and that any port needing userspace turns it off.
func TestKernelFlood(t *testing.T) {
	e := newEnv(t)
	const mtu = 1500 + ethHdrLen
	all := func() {
		for _, idx := range []int{e.a, e.b, e.c} {
			e.floodPort(idx, bridge1, 0, mtu)
		}
		e.fp.SetFloodPorts(bridge1, []int{e.a, e.b, e.c})
	}
	bc := frame(allOnes, macA, 0, 0, 60)
	floodIdx := puntIndex(t, "flood")

	// flooded runs bc from a and reports the ports it reached (by their tx
	// counters) and whether it was punted.
	flooded := func(f []byte) (to []int, punted bool) {
		t.Helper()
		before := map[int]PortStats{e.a: e.stats(e.a), e.b: e.stats(e.b), e.c: e.stats(e.c)}
		run := e.runTC(e.a, f)
		for _, idx := range []int{e.a, e.b, e.c} {
			if d := e.stats(idx).TxPackets - before[idx].TxPackets; d > 1 {
				t.Fatalf("port %d got %d copies", idx, d)
			} else if d == 1 {
				to = append(to, idx)
			}
		}
		a := e.stats(e.a)
		if run.punted() {
			if a.Punts[floodIdx] != before[e.a].Punts[floodIdx]+1 || a.Flooded != before[e.a].Flooded {
				t.Fatalf("punted, counted %+v", a)
			}
			return to, true
		}
		if run.verdict != tcActShot {
			t.Fatalf("verdict %d", run.verdict)
		}
		if a.Packets != before[e.a].Packets || a.Flooded != before[e.a].Flooded+1 || a.FloodedBytes != before[e.a].FloodedBytes+uint64(len(f)) ||
			a.Punts != before[e.a].Punts {
			t.Fatalf("flooded, counted %+v, before %+v", a, before[e.a])
		}
		return to, false
	}

	all()
	if !e.fp.KernelFloods(bridge1) {
		t.Fatal("a bridge of plain TC ports does not flood in the kernel")
	}
	tr, err := e.fp.Trace(e.a, bc)
	if err != nil || tr.Verdict != "flood" {
		t.Fatalf("trace: %+v, %v", tr, err)
	}
	if s := e.stats(e.a); s.Packets != 0 || s.Flooded != 0 {
		t.Fatalf("the trace counted: %+v", s)
	}
	if to, punted := flooded(bc); punted || len(to) != 2 || to[0] != e.b || to[1] != e.c {
		t.Fatalf("broadcast reached %v (punted %v), want b and c", to, punted)
	}
	mc := frame(net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, macA, 0, 0, 60)
	if to, punted := flooded(mc); punted || len(to) != 2 {
		t.Fatalf("multicast reached %v (punted %v), want b and c", to, punted)
	}
	if r := e.runTC(e.a, frame(macC, macA, 0, 0, 60)); !r.punted() {
		t.Fatal("unknown unicast was not punted")
	}

	// Per egress port: isolation and blocked ports, as userspace floods.
	e.floodPort(e.a, bridge1, portIsolated, mtu)
	e.floodPort(e.b, bridge1, portIsolated, mtu)
	if to, punted := flooded(bc); punted || len(to) != 1 || to[0] != e.c {
		t.Fatalf("from an isolated port: reached %v (punted %v), want c", to, punted)
	}
	e.floodPort(e.a, bridge1, 0, mtu)
	e.floodPort(e.b, bridge1, 0, mtu)
	e.floodPort(e.c, bridge1, portBlocked, mtu)
	if to, punted := flooded(bc); punted || len(to) != 1 || to[0] != e.b {
		t.Fatalf("with c blocked: reached %v (punted %v), want b", to, punted)
	}
	all()
	if to, punted := flooded(frame(allOnes, macA, 0, 0, mtu+1)); !punted || len(to) != 0 {
		t.Fatalf("a frame over the MTU reached %v (punted %v), want punted", to, punted)
	}

	// What turns it off: a port needing userspace, a port the daemon does
	// not list, or one it lists that is not in the fast path.
	off := []struct {
		name  string
		setup func()
	}{
		{"capture", func() { e.floodPort(e.c, bridge1, portCapture, mtu) }},
		{"mirror destination", func() { e.floodPort(e.b, bridge1, portMirrorDest, mtu) }},
		{"mirror in", func() { e.floodPort(e.a, bridge1, portMirrorIn, mtu) }},
		{"no fast path", func() { e.floodPort(e.c, bridge1, portNoFast, mtu) }},
		{"AF_XDP", func() { e.floodPort(e.c, bridge1, portXSK, mtu) }},
		{"VLANs", func() {
			e.fp.mu.Lock()
			e.fp.writePort(uint32(e.c), xswitchPort{Bridge: bridge1, MaxLen: mtu, VlanMode: 1, Pvid: 5}, ebpf.UpdateAny)
			e.fp.mu.Unlock()
		}},
		{"port not listed", func() { e.fp.SetFloodPorts(bridge1, []int{e.a, e.b}) }},
		{"listed port not in the fast path", func() { e.fp.SetFloodPorts(bridge1, []int{e.a, e.b, e.c, 999}) }},
		{"port gone", func() {
			e.fp.mu.Lock()
			e.fp.deletePortEntry(uint32(e.c))
			e.fp.mu.Unlock()
		}},
	}
	for _, c := range off {
		all()
		c.setup()
		if e.fp.KernelFloods(bridge1) {
			t.Errorf("%s: still floods in the kernel", c.name)
		}
		if c.name == "mirror in" {
			continue // punted for the mirror, not the flood
		}
		if to, punted := flooded(bc); !punted || len(to) != 0 {
			t.Errorf("%s: reached %v (punted %v), want punted", c.name, to, punted)
		}
	}
}

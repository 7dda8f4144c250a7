package bpf

import (
	"testing"

	"github.com/xswitch/xswitch/policy"
)

// TestCountsEachFrameOnBothPorts checks that a frame the programs forward
// is counted as received on its ingress and as transmitted on its egress,
// in bytes as on the wire (the tag pushed or popped on the way counts on
// the egress), and that a frame they drop is received with its bytes.
func TestCountsEachFrameOnBothPorts(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, true)
	e.setPolicy(e.a, policy.Policy{VLAN: policy.AccessVLAN(10)})
	e.setPolicy(e.b, policy.Policy{VLAN: policy.TrunkVLANs(0, 10)})
	e.learn(bridge1, 10, macA, e.a, false)
	e.learn(bridge1, 10, macB, e.b, false)

	if got := e.runTC(e.a, frame(macB, macA, 0, 0, 100)); got.verdict != tcActRedirect || got.punted() {
		t.Fatalf("TC: verdict %d, punted %v; want a redirect", got.verdict, got.punted())
	}
	if got := e.runXDP(e.b, frame(macA, macB, 0x8100, 10, 200)); got != xdpPass {
		t.Fatalf("XDP to a port without XDP: verdict %d, want pass", got)
	}
	if got := e.runTC(e.b, frame(macA, macB, 0x8100, 10, 200)); got.verdict != tcActRedirect || got.punted() {
		t.Fatalf("TC, tagged: verdict %d, punted %v; want a redirect", got.verdict, got.punted())
	}
	if got := e.runXDP(e.a, frame(macB, macA, 0, 0, 300)); got != xdpRedirect {
		t.Fatalf("XDP: verdict %d, want redirect", got)
	}
	if got := e.runTC(e.a, frame(macB, macA, 0x8100, 10, 80)); got.verdict != tcActShot {
		t.Fatalf("TC, tagged on an access port: verdict %d, want shot", got.verdict)
	}
	a, b := e.stats(e.a), e.stats(e.b)
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"a forwarded", a.Packets, 2},
		{"a forwarded bytes", a.Bytes, 100 + 300},
		{"a dropped", a.Drops["vlan"], 1},
		{"a dropped bytes", a.DropBytes, 80},
		{"a transmitted", a.TxPackets, 1},
		{"a transmitted bytes", a.TxBytes, 200 - 4},
		{"b forwarded", b.Packets, 1},
		{"b forwarded bytes", b.Bytes, 200},
		{"b transmitted", b.TxPackets, 2},
		{"b transmitted bytes", b.TxBytes, 100 + 4 + 300 + 4},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	if n, bytes := a.Received(); n != 3 || bytes != 480 {
		t.Errorf("a received %d frames, %d bytes; want 3, 480", n, bytes)
	}
}

package bpf

import (
	"net"
	"testing"

	"github.com/xswitch/xswitch/policy"
)

// TestTrace checks that a traced frame gets the verdict the program gives
// any frame, and that tracing changes nothing: no MAC learned, no counter.
func TestTrace(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, false)
	e.learn(bridge1, 0, macB, e.b, false)
	e.learn(bridge1, 0, macC, e.a, false)
	for _, c := range []struct {
		name  string
		in    int
		frame []byte
		want  Trace
	}{
		{"unknown source, learned destination", e.a, frame(macB, macA, 0, 0, 60), Trace{Verdict: "redirect", Egress: e.b}},
		{"unknown destination", e.b, frame(macA, macB, 0, 0, 60), Trace{Verdict: "punt", Reason: "unknown_destination"}},
		{"broadcast", e.a, frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macA, 0, 0, 60), Trace{Verdict: "punt", Reason: "flood"}},
		{"local destination", e.a, frame(macC, macA, 0, 0, 60), Trace{Verdict: "punt", Reason: "local_destination"}},
		{"not a port", 1, frame(macB, macA, 0, 0, 60), Trace{Verdict: "pass"}},
	} {
		got, err := e.fp.Trace(c.in, c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	e.setPolicy(e.a, policy.Policy{VLAN: policy.AccessVLAN(10)})
	if got, _ := e.fp.Trace(e.a, frame(macB, macA, 0x8100, 10, 60)); got != (Trace{Verdict: "drop", Reason: "vlan"}) {
		t.Errorf("tagged on an access port: %+v, want a drop for vlan", got)
	}
	if n := len(e.fp.FDB()); n != 2 {
		t.Errorf("tracing learned: %d MAC entries, want 2", n)
	}
	for _, idx := range []int{e.a, e.b} {
		s := e.stats(idx)
		if n, _ := s.Received(); n != 0 || s.TxPackets != 0 || s.Punts != [len(PuntReasons)]uint64{} {
			t.Errorf("tracing counted on %d: %+v", idx, s)
		}
	}
}

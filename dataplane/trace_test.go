package dataplane_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// TestTraceAgreesWithForwarding traces frames, then sends them, and checks
// that each went exactly where the trace said, with the tag it said.
func TestTraceAgreesWithForwarding(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig())
	r.addWith("guest", policy.Policy{VLAN: policy.AccessVLAN(10)})
	r.addWith("guest20", policy.Policy{VLAN: policy.AccessVLAN(20)})
	r.addWith("uplink", policy.Policy{VLAN: policy.TrunkVLANs(0, 10, 20)})
	r.addWith("iso1", policy.Policy{VLAN: policy.AccessVLAN(10), Isolated: true})
	r.addWith("iso2", policy.Policy{VLAN: policy.AccessVLAN(10), Isolated: true})
	r.addWith("spoofcheck", policy.Policy{VLAN: policy.AccessVLAN(10), AntiSpoof: true, MAC: host(9)})
	r.drain()

	steps := []struct {
		name        string
		in          string
		frame       []byte
		verdict     string
		reason      string
		learn       string
		egress      []string
		refusedVLAN int
	}{
		{"broadcast from an access port", "guest", frame(bcast, host(1), "b"), "flood", "broadcast", "learned",
			[]string{"uplink:tagged 10", "iso1:untagged", "iso2:untagged", "spoofcheck:untagged"}, 1},
		{"reply from the trunk", "uplink", tagged(host(1), host(2), 10, "r"), "unicast", "destination learned on guest", "learned",
			[]string{"guest:untagged"}, 0},
		{"unknown unicast in VLAN 20", "uplink", tagged(host(7), host(3), 20, "u"), "flood", "unknown destination", "learned",
			[]string{"guest20:untagged"}, 4},
		{"isolated to isolated", "iso1", frame(bcast, host(4), "i"), "flood", "broadcast", "learned",
			[]string{"guest:untagged", "uplink:tagged 10", "spoofcheck:untagged"}, 1},
		{"a move", "guest", frame(host(2), host(4), "m"), "unicast", "destination learned on uplink", "moved from iso1",
			[]string{"uplink:tagged 10"}, 0},
		{"back to where it came from", "uplink", tagged(host(2), host(5), 10, "l"), "drop", "local_destination", "learned", nil, 0},
		{"to its own source", "guest", frame(host(6), host(6), "o"), "drop", "local_destination", "learned", nil, 0},
		{"tagged on an access port", "guest", tagged(host(2), host(1), 10, "t"), "drop", "vlan", "", nil, 0},
		{"spoofed source", "spoofcheck", frame(host(1), host(8), "s"), "drop", "spoofed", "", nil, 0},
	}
	for _, s := range steps {
		tr, err := r.br.Trace(s.in, s.frame)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if tr.Verdict != s.verdict || tr.Reason != s.reason {
			t.Errorf("%s: trace says %s (%s), want %s (%s)", s.name, tr.Verdict, tr.Reason, s.verdict, s.reason)
		}
		if s.learn != "" && (tr.Source == nil || tr.Source.Learn != s.learn) {
			t.Errorf("%s: source %+v, want learn %q", s.name, tr.Source, s.learn)
		}
		var said []string
		for _, e := range tr.Egress {
			said = append(said, e.Port+":"+e.Tag)
		}
		if !sameSet(said, s.egress) {
			t.Errorf("%s: trace egress %v, want %v", s.name, said, s.egress)
		}
		vlanRefused := 0
		for _, e := range tr.Refused {
			if e.Tag == "vlan" {
				vlanRefused++
			}
		}
		if vlanRefused != s.refusedVLAN {
			t.Errorf("%s: %d ports refused for their VLANs, want %d (%+v)", s.name, vlanRefused, s.refusedVLAN, tr.Refused)
		}

		// What the trace said is what forwarding does.
		got := r.send(s.in, dataplane.Frame{Data: append([]byte(nil), s.frame...)})
		var did []string
		for name, frames := range got {
			if len(frames) != 1 {
				t.Errorf("%s: port %s got %d frames, want at most 1", s.name, name, len(frames))
			}
			tag := "untagged"
			if frames[0].Tagged {
				tag = "tagged " + itoa(int(frames[0].VLAN&0xfff))
			}
			did = append(did, name+":"+tag)
		}
		if !sameSet(did, said) {
			t.Errorf("%s: forwarding sent to %v, the trace said %v", s.name, did, said)
		}
	}

	if _, err := r.br.Trace("nosuch", frame(bcast, host(1), "x")); !errors.Is(err, dataplane.ErrNoPort) {
		t.Errorf("trace from an unknown port: %v, want ErrNoPort", err)
	}
	tr, _ := r.br.Trace("guest", []byte{1, 2, 3})
	if tr.Verdict != "drop" || tr.Reason != "runt" {
		t.Errorf("runt: %+v", tr)
	}
}

// TestTraceLearnsNothing checks that a trace leaves the MAC table alone.
func TestTraceLearnsNothing(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b")
	for range 3 {
		if _, err := r.br.Trace("a", frame(bcast, host(1), "x")); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.br.FDB().Len(); n != 0 {
		t.Errorf("the table has %d entries after traces, want 0", n)
	}
	if c := r.counters("a"); c.RxPackets != 0 {
		t.Errorf("port a counted %d received frames after traces, want 0", c.RxPackets)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

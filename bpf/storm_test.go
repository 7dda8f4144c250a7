package bpf

import (
	"net"
	"testing"

	"github.com/cilium/ebpf"
)

// TestStorm checks storm control in TC: past a bucket's burst, flooded
// frames of that kind are dropped and counted as "storm", other kinds and
// learned unicast pass; XDP leaves them to TC; the bucket refills with
// time; zero limits lift it.
func TestStorm(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, false)
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)
	if err := e.fp.SetStorm(e.a, StormLimits{Broadcast: 100, UnknownUnicast: 20}); err != nil {
		t.Fatal(err)
	}
	bcast := frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macA, 0, 0, 60)
	mcast := frame(net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}, macA, 0, 0, 60)
	unknown := frame(macC, macA, 0, 0, 60)
	learned := frame(macB, macA, 0, 0, 60)

	// A full bucket holds a tenth of a second's frames, at least 8: the
	// frames within it pass however fast they come; the test is faster
	// than one frame's refill (10 ms at 100/s).
	run := func(f []byte, n int) (punted, dropped int) {
		for range n {
			switch got := e.runTC(e.a, f); {
			case got.punted():
				punted++
			case got.verdict == tcActShot:
				dropped++
			default:
				t.Fatalf("verdict %d, want punt or drop", got.verdict)
			}
		}
		return punted, dropped
	}
	if p, d := run(bcast, 30); p < 10 || p > 11 || d != 30-p {
		t.Errorf("broadcast at 100/s: %d punted, %d dropped; want the burst of 10 punted", p, d)
	}
	if p, d := run(unknown, 20); p < 8 || p > 9 || d != 20-p {
		t.Errorf("unknown unicast at 20/s: %d punted, %d dropped; want the burst of 8 punted", p, d)
	}
	if p, d := run(mcast, 50); p != 50 || d != 0 {
		t.Errorf("multicast without a limit: %d punted, %d dropped", p, d)
	}
	if got := e.runTC(e.a, learned); got.verdict != tcActRedirect || got.punted() {
		t.Errorf("learned unicast: verdict %d, want forwarded", got.verdict)
	}
	if got := e.runXDP(e.a, bcast); got != xdpPass {
		t.Errorf("XDP, broadcast over the limit: verdict %d, want pass (TC decides)", got)
	}
	s := e.stats(e.a)
	if want := uint64(30 + 20 - s.Punts[puntIndex(t, "flood")] + 50 - s.Punts[puntIndex(t, "unknown_destination")]); s.Drops["storm"] != want {
		t.Errorf("storm drops %d, want %d", s.Drops["storm"], want)
	}
	// Another port's buckets are its own.
	if p, _ := run2(e, e.b, bcast, 20); p != 20 {
		t.Errorf("broadcast from a port without limits: %d of 20 punted", p)
	}

	// Time refills the bucket: pretend its last refill was long ago.
	var v xswitchStorm
	if err := e.fp.objs.XsStorm.Lookup(uint32(e.a), &v); err != nil {
		t.Fatal(err)
	}
	v.Kinds[xswitchStormKindSTORM_BROADCAST].Last = 1
	if err := e.fp.objs.XsStorm.Update(uint32(e.a), v, ebpf.UpdateExist); err != nil {
		t.Fatal(err)
	}
	if p, _ := run(bcast, 30); p < 10 || p > 11 {
		t.Errorf("after a refill: %d broadcasts punted, want 10", p)
	}

	// Limits survive the port entry being written again, and go with zero.
	if err := e.fp.putPort(Port{Name: "pa", Index: e.a, Bridge: bridge1, MTU: 1500}, 0, &portLinks{name: "pa"}); err != nil {
		t.Fatal(err)
	}
	if p, _ := run(bcast, 5); p > 1 {
		t.Errorf("after putPort: %d broadcasts punted from an empty bucket", p)
	}
	if err := e.fp.SetStorm(e.a, StormLimits{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := run(bcast, 50); p != 50 {
		t.Errorf("limits lifted: %d of 50 punted", p)
	}
}

func run2(e *env, ifindex int, f []byte, n int) (punted, other int) {
	for range n {
		if e.runTC(ifindex, f).punted() {
			punted++
		} else {
			other++
		}
	}
	return punted, other
}

func TestStormBucket(t *testing.T) {
	for _, c := range []struct {
		rate  uint32
		burst uint64
	}{{0, 0}, {1, 1}, {5, 5}, {8, 8}, {50, 8}, {100, 10}, {1_000_000, 100_000}} {
		b := stormBucket(c.rate)
		if b.Rate != uint64(c.rate) || b.Burst != c.burst*stormToken || b.Tokens != b.Burst {
			t.Errorf("stormBucket(%d) = %+v, want a full bucket of %d frames", c.rate, b, c.burst)
		}
	}
}

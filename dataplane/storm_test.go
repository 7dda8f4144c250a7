package dataplane

import (
	"testing"
	"time"
)

func TestStormBucket(t *testing.T) {
	ms := int64(time.Millisecond)
	b := newStormBucket(100) // burst 10
	now := int64(5 * time.Second)
	passed := 0
	for range 30 {
		if b.take(now) {
			passed++
		}
	}
	if passed != 10 {
		t.Errorf("a full bucket of 100/s passed %d of 30 at once, want its burst of 10", passed)
	}
	// 10 ms is one frame at 100/s.
	if !b.take(now+10*ms) || b.take(now+10*ms) {
		t.Error("10 ms later: want one frame and no more")
	}
	// A long pause refills to the burst, not beyond.
	passed = 0
	for range 30 {
		if b.take(now + 60*int64(time.Second)) {
			passed++
		}
	}
	if passed != 10 {
		t.Errorf("after a minute: %d passed, want 10", passed)
	}
	// Over a second at 100/s the rate holds within the burst.
	b = newStormBucket(100)
	passed = 0
	for i := range int64(10000) { // one try every 100 µs for a second
		if b.take(now + i*ms/10) {
			passed++
		}
	}
	if passed < 100 || passed > 111 {
		t.Errorf("a second of tries at 10000/s passed %d, want 100 and the burst", passed)
	}
	if z := (stormBucket{}); !z.take(0) {
		t.Error("a bucket without a rate refused")
	}
	for _, c := range []struct {
		rate  uint32
		burst uint64
	}{{1, 1}, {5, 5}, {50, 8}, {100, 10}, {1_000_000, 100_000}} {
		if got := newStormBucket(c.rate); got.burst != c.burst*stormToken || got.tokens != got.burst {
			t.Errorf("newStormBucket(%d): %+v, want a full burst of %d", c.rate, got, c.burst)
		}
	}
}

func TestStormKind(t *testing.T) {
	for _, c := range []struct {
		dst  []byte
		want int
	}{
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, stormBroadcast},
		{[]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, stormMulticast},
		{[]byte{0x33, 0x33, 0xff, 0xff, 0xff, 0xff}, stormMulticast},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, stormMulticast},
		{[]byte{0x02, 0, 0, 0, 0, 1}, stormUnknownUnicast},
	} {
		if got := stormKind(c.dst); got != c.want {
			t.Errorf("stormKind(% x) = %d, want %d", c.dst, got, c.want)
		}
	}
}

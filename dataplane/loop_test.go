package dataplane

import (
	"testing"
	"time"

	"github.com/xswitch/xswitch/fdb"
)

const ms = int64(time.Millisecond)

func TestFlapDetectorThreshold(t *testing.T) {
	k := fdb.MakeKey(0, []byte{2, 0, 0, 0, 0, 1})
	for _, c := range []struct {
		name      string
		threshold int
		window    time.Duration
		moves     []int64 // times in ms; the MAC alternates between ports 1 and 2
		flapAt    []int   // indexes of the moves that report a flap
		span      time.Duration
	}{
		{"below the threshold", 5, time.Second, []int64{0, 10, 20, 30}, nil, 0},
		{"at the threshold", 5, time.Second, []int64{0, 10, 20, 30, 40}, []int{4}, 40 * time.Millisecond},
		{"spread over more than the window", 5, time.Second, []int64{0, 300, 600, 900, 1200}, nil, 0},
		{"the window slides", 5, time.Second, []int64{0, 300, 600, 900, 1200, 1250}, []int{5}, 950 * time.Millisecond},
		{"exactly the window", 3, 100 * time.Millisecond, []int64{0, 50, 100}, []int{2}, 100 * time.Millisecond},
		{"history starts over after a flap", 3, time.Second, []int64{0, 1, 2, 3, 4, 5, 6}, []int{2, 5}, 2 * time.Millisecond},
		{"a threshold below 2 is 2", 1, time.Second, []int64{0, 1}, []int{1}, time.Millisecond},
		{"a loop at full speed", 10, time.Second, []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []int{9}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewFlapDetector(c.threshold, c.window)
			var got []int
			for i, at := range c.moves {
				from, to := fdb.PortID(1), fdb.PortID(2)
				if i%2 == 1 {
					from, to = to, from
				}
				f, ok := d.Moved(k, from, to, at*ms)
				if !ok {
					continue
				}
				got = append(got, i)
				if f.Key != k || f.From != from || f.To != to || f.Moves != max(c.threshold, 2) || f.Span != c.span {
					t.Errorf("move %d: flap %+v, want key %v from %d to %d, %d moves in %v", i, f, k, from, to, max(c.threshold, 2), c.span)
				}
			}
			if len(got) != len(c.flapAt) || len(got) > 0 && got[0] != c.flapAt[0] || len(got) > 1 && got[1] != c.flapAt[1] {
				t.Errorf("flaps at moves %v, want %v", got, c.flapAt)
			}
		})
	}
}

// TestFlapDetectorHome checks that a flap tells the port the MAC lived on
// from those the loop took it to: its guest keeps sending from home, the
// loop brings its frames back on two other ports.
func TestFlapDetectorHome(t *testing.T) {
	k := fdb.MakeKey(0, []byte{2, 0, 0, 0, 0, 1})
	d := NewFlapDetector(5, time.Second)
	var f Flap
	ok := false
	for i, m := range [][2]fdb.PortID{{1, 3}, {3, 1}, {1, 4}, {4, 1}, {1, 3}} {
		f, ok = d.Moved(k, m[0], m[1], int64(i)*ms)
	}
	if !ok || f.Home != 1 || len(f.Away) != 2 || f.Away[0] != 3 || f.Away[1] != 4 {
		t.Errorf("flap %+v, %v; want home 1, away [3 4]", f, ok)
	}
	// The next history starts where the MAC is: 3.
	for i, m := range [][2]fdb.PortID{{3, 4}, {4, 3}, {3, 4}, {4, 3}, {3, 4}} {
		f, ok = d.Moved(k, m[0], m[1], int64(10+i)*ms)
	}
	if !ok || f.Home != 3 || len(f.Away) != 1 || f.Away[0] != 4 {
		t.Errorf("flap %+v, %v; want home 3, away [4]", f, ok)
	}
}

// TestFlapDetectorMACsApart checks that moves of different MACs do not add
// up: each MAC must flap on its own.
func TestFlapDetectorMACsApart(t *testing.T) {
	d := NewFlapDetector(3, time.Second)
	for i := range 100 {
		k := fdb.MakeKey(0, []byte{2, 0, 0, 0, 0, byte(i)})
		if _, ok := d.Moved(k, 1, 2, int64(i)*ms); ok {
			t.Fatalf("MAC %d moved once and flapped", i)
		}
	}
	k := fdb.MakeKey(7, []byte{2, 0, 0, 0, 0, 1}) // the same MAC in another VLAN
	d.Moved(k, 1, 2, 0)
	if _, ok := d.Moved(k, 2, 1, 0); ok {
		t.Fatal("a MAC flapped on its second move with a threshold of 3")
	}
	if _, ok := d.Moved(k, 1, 2, 0); !ok {
		t.Fatal("a MAC did not flap on its third move")
	}
}

// TestFlapDetectorScore shows how the ports of a loop stand out: every MAC
// that crosses the loop moves between its two ports, while the port a
// looping MAC lives behind sees only that MAC's moves.
func TestFlapDetectorScore(t *testing.T) {
	const (
		home1, home2 fdb.PortID = 1, 2 // two guests whose broadcasts loop
		loopA, loopB fdb.PortID = 3, 4 // the two vifs a guest bridges
		quiet        fdb.PortID = 5
	)
	d := NewFlapDetector(5, time.Second)
	now := int64(0)
	for _, home := range []fdb.PortID{home1, home2} {
		k := fdb.MakeKey(0, []byte{2, 0, 0, 0, 0, byte(home)})
		d.Moved(k, home, loopA, now)
		for i := range 6 {
			now += ms
			if i%2 == 0 {
				d.Moved(k, loopA, loopB, now)
			} else {
				d.Moved(k, loopB, loopA, now)
			}
		}
	}
	scores := map[fdb.PortID]int64{}
	for _, p := range []fdb.PortID{home1, home2, loopA, loopB, quiet} {
		scores[p] = d.Score(p, now)
	}
	if scores[loopA] <= scores[home1] || scores[loopB] <= scores[home1] || scores[loopA] <= scores[home2] {
		t.Errorf("scores %v: the loop's ports 3 and 4 should score above the guests' 1 and 2", scores)
	}
	if scores[quiet] != 0 {
		t.Errorf("a port no move touched scores %d", scores[quiet])
	}
	if got := d.MovesTo(loopB); got != 6 {
		t.Errorf("moves to port 4: %d, want 6", got)
	}

	// Scores fade: a window later the last one is left, two windows later none.
	if s := d.Score(loopA, now+int64(time.Second)); s != scores[loopA] {
		t.Errorf("one window later port 3 scores %d, want the last window's %d", s, scores[loopA])
	}
	if s := d.Score(loopA, now+3*int64(time.Second)); s != 0 {
		t.Errorf("three windows later port 3 scores %d, want 0", s)
	}
	if d.MovesTo(loopB) != 6 {
		t.Error("the count of moves to a port fades with its score")
	}
	d.Forget(func(p fdb.PortID) bool { return p != loopB })
	if d.MovesTo(loopB) != 0 || d.MovesTo(loopA) == 0 {
		t.Error("Forget dropped the wrong ports")
	}
}

// TestFlapDetectorBounded checks that the MACs followed are bounded, and
// that room is made once the old moves leave the window.
func TestFlapDetectorBounded(t *testing.T) {
	d := NewFlapDetector(2, time.Second)
	key := func(i int) fdb.Key { return fdb.MakeKey(0, []byte{2, 0, byte(i >> 16), byte(i >> 8), byte(i), 0}) }
	for i := range maxFlapMACs {
		d.Moved(key(i), 1, 2, 0)
	}
	extra := key(maxFlapMACs)
	d.Moved(extra, 1, 2, 0)
	if _, ok := d.Moved(extra, 2, 1, ms); ok {
		t.Error("a MAC past the bound was followed")
	}
	if len(d.macs) != maxFlapMACs {
		t.Errorf("%d MACs followed, want the bound %d", len(d.macs), maxFlapMACs)
	}
	later := 2 * int64(time.Second)
	d.Moved(extra, 1, 2, later)
	if _, ok := d.Moved(extra, 2, 1, later); !ok {
		t.Error("once the old moves left the window, a new MAC was not followed")
	}
	if len(d.macs) > 1 {
		t.Errorf("%d MACs followed after the sweep, want 1", len(d.macs))
	}
}

// TestFlapDetectorSetLimits checks that new limits apply from the next move.
func TestFlapDetectorSetLimits(t *testing.T) {
	k := fdb.MakeKey(0, []byte{2, 0, 0, 0, 0, 1})
	d := NewFlapDetector(10, time.Second)
	d.Moved(k, 1, 2, 0)
	d.SetLimits(2, 0)
	d.Moved(k, 2, 1, 500*ms)
	if _, ok := d.Moved(k, 1, 2, 1400*ms); !ok {
		t.Error("a threshold of 2 in the default window of 1s: no flap for two moves 900ms apart")
	}
}

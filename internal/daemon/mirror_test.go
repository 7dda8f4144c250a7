package daemon

import (
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/fdb"
)

func loadFastPath(t *testing.T) *bpf.FastPath {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the mirror tests need root to load BPF maps, and CI runs them")
		}
		t.Skip("needs root to load BPF maps; run as root (CI does)")
	}
	fp, err := bpf.Load(bpf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fp.Close() })
	return fp
}

func key(n byte) fdb.Key { return fdb.MakeKey(0, net.HardwareAddr{2, 0, 0, 0, 0, n}) }

// mapOf returns the MAC map's entries of bridge as key → ifindex.
func mapOf(fp *bpf.FastPath, bridge uint32) map[fdb.Key]int {
	m := map[fdb.Key]int{}
	for _, e := range fp.FDB() {
		if e.Bridge == bridge {
			m[e.Key] = e.Ifindex
		}
	}
	return m
}

func TestMirrorFollowsTheTable(t *testing.T) {
	fp := loadFastPath(t)
	m := newMirror(fp, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	defer m.stop()
	const br = 42
	const fast, slow fdb.PortID = 1, 2 // fast has the fast path (ifindex 7), slow not
	tbl := fdb.New(fdb.DefaultConfig(), m.onEvent(br))
	m.addBridge(br, tbl)

	// Learned before the port joined the fast path: mirrored when it joins.
	tbl.Learn(key(1), fast, fdb.Now())
	m.addPort(br, fast, 7)
	tbl.Learn(key(2), fast, fdb.Now())
	tbl.Learn(key(3), slow, fdb.Now())
	m.sync()
	if got := mapOf(fp, br); len(got) != 2 || got[key(1)] != 7 || got[key(2)] != 7 {
		t.Fatalf("map %v, want MACs 1 and 2 on ifindex 7 (3 is behind a port without fast path)", got)
	}

	// A move to a port without fast path takes the entry out; aging too.
	tbl.Learn(key(2), slow, fdb.Now())
	tbl.Delete(key(1))
	m.sync()
	if got := mapOf(fp, br); len(got) != 0 {
		t.Fatalf("map %v, want empty", got)
	}

	// Lost events: the queued ones are dropped and the map rebuilt from
	// the table.
	tbl.Learn(key(4), fast, fdb.Now())
	m.sync()
	m.queue <- mirrorMsg{kind: msgEvent, bridge: br, ev: fdb.Event{Kind: fdb.EventLearned, Key: key(9), Port: fast}}
	m.lost.Store(true)
	m.nudge <- struct{}{}
	deadline := time.Now().Add(2 * time.Second)
	for {
		m.sync()
		got := mapOf(fp, br)
		if len(got) == 1 && got[key(4)] == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after lost events: map %v, want only MAC 4 on ifindex 7", got)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A removed port: the flush that follows empties its entries.
	m.removePort(br, fast)
	tbl.FlushPort(fast)
	m.sync()
	if got := mapOf(fp, br); len(got) != 0 {
		t.Fatalf("after the port left: map %v, want empty", got)
	}

	// Stopping keeps the map as it is, for the next daemon.
	m.addPort(br, fast, 7)
	tbl.Learn(key(5), fast, fdb.Now())
	m.stop()
	tbl.Flush() // as a daemon shutting down does
	if got := mapOf(fp, br); len(got) != 1 || got[key(5)] != 7 {
		t.Fatalf("after stop and flush: map %v, want MAC 5 still on ifindex 7", got)
	}
}

// TestMirrorTakesWhatTheKernelLearned gives the mirror MACs as the programs
// report them, with the map entries the programs made, and checks that the
// table learns them, that a port not attached yet gets its MACs when it
// attaches, and that what the table refuses leaves the map.
func TestMirrorTakesWhatTheKernelLearned(t *testing.T) {
	fp := loadFastPath(t)
	m := newMirror(fp, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	defer m.stop()
	const br = 43
	const p1, p2 fdb.PortID = 1, 2 // ifindexes 7 and 8
	tbl := fdb.New(fdb.Config{MaxPerPort: 2}, m.onEvent(br))
	m.addBridge(br, tbl)
	learned := func(k fdb.Key, ifindex int) {
		t.Helper()
		if err := fp.PutFDB(br, k, ifindex, false, fdb.Now()); err != nil {
			t.Fatal(err)
		}
		m.queue <- mirrorMsg{kind: msgLearned, bridge: br, ev: fdb.Event{Key: k}, ifindex: ifindex}
	}
	on := func(k fdb.Key) fdb.PortID {
		p, _ := tbl.Lookup(k)
		return p
	}

	// Before its port is attached (a restart), then after.
	learned(key(1), 7)
	m.sync()
	if p := on(key(1)); p != 0 {
		t.Fatalf("MAC 1 on port %d before its port is attached", p)
	}
	m.addPort(br, p1, 7)
	m.addPort(br, p2, 8)
	learned(key(2), 7)
	m.sync()
	if on(key(1)) != p1 || on(key(2)) != p1 {
		t.Fatalf("MACs 1 and 2 on ports %d and %d, want %d", on(key(1)), on(key(2)), p1)
	}
	// Past the port's limit: refused, and gone from the map.
	learned(key(3), 7)
	m.sync()
	if p, ok := mapOf(fp, br)[key(3)]; ok || on(key(3)) != 0 {
		t.Errorf("MAC 3 past the limit: in the map on %d (%v), in the table on port %d", p, ok, on(key(3)))
	}
	// Static on p1, reported on p2: the map points it back at p1.
	if err := tbl.AddStatic(key(4), p1); err != nil {
		t.Fatal(err)
	}
	m.sync()
	learned(key(4), 8)
	m.sync()
	if got := mapOf(fp, br)[key(4)]; got != 7 || on(key(4)) != p1 {
		t.Errorf("static MAC 4 reported on port 2: map has it on ifindex %d, the table on port %d; want 7 and %d", got, on(key(4)), p1)
	}
	// A move to p2.
	learned(key(1), 8)
	m.sync()
	if got := mapOf(fp, br)[key(1)]; got != 8 || on(key(1)) != p2 {
		t.Errorf("MAC 1 moved: map has it on ifindex %d, the table on port %d; want 8 and %d", got, on(key(1)), p2)
	}
}

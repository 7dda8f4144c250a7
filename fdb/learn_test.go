package fdb_test

import (
	"testing"
	"time"

	"github.com/xswitch/xswitch/fdb"
)

var (
	keyA     = mac(0xa)
	keyB     = mac(0xb)
	keyC     = mac(0xc)
	keyAVLAN = fdb.MakeKey(2, keyA.MAC())
	keyGroup = fdb.MakeKey(1, []byte{0x01, 0x00, 0x5e, 0, 0, 1})
	keyBcast = fdb.MakeKey(1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
)

// step is one call in a scenario: AddStatic if static, else Learn, which must
// return want.
type step struct {
	key    fdb.Key
	port   fdb.PortID
	now    int64
	static bool
	want   fdb.LearnResult
}

func TestLearn(t *testing.T) {
	ms := int64(time.Millisecond)
	tests := []struct {
		name      string
		cfg       fdb.Config
		steps     []step
		wantPorts map[fdb.Key]fdb.PortID // 0: absent
		wantStats fdb.Stats
	}{{
		name: "new then refresh",
		steps: []step{
			{key: keyA, port: 1, now: 0, want: fdb.Learned},
			{key: keyA, port: 1, now: 5 * ms, want: fdb.Refreshed},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyA: 1, keyB: 0},
		wantStats: fdb.Stats{Entries: 1, Learned: 1},
	}, {
		name: "move",
		steps: []step{
			{key: keyA, port: 1, want: fdb.Learned},
			{key: keyB, port: 1, want: fdb.Learned},
			{key: keyA, port: 2, want: fdb.Moved},
			{key: keyA, port: 2, want: fdb.Refreshed},
			{key: keyA, port: 1, want: fdb.Moved},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyA: 1, keyB: 1},
		wantStats: fdb.Stats{Entries: 2, Learned: 2, Moved: 2},
	}, {
		name: "VLANs are separate",
		steps: []step{
			{key: keyA, port: 1, want: fdb.Learned},
			{key: keyAVLAN, port: 2, want: fdb.Learned},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyA: 1, keyAVLAN: 2},
		wantStats: fdb.Stats{Entries: 2, Learned: 2},
	}, {
		name: "static does not move",
		steps: []step{
			{key: keyA, port: 1, static: true},
			{key: keyA, port: 2, want: fdb.StaticConflict},
			{key: keyA, port: 2, want: fdb.StaticConflict},
			{key: keyA, port: 1, want: fdb.Refreshed},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyA: 1},
		wantStats: fdb.Stats{Entries: 1, StaticConflicts: 2},
	}, {
		name: "static replaces dynamic",
		steps: []step{
			{key: keyA, port: 1, want: fdb.Learned},
			{key: keyA, port: 2, static: true},
			{key: keyA, port: 1, want: fdb.StaticConflict},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyA: 2},
		wantStats: fdb.Stats{Entries: 1, Learned: 1, StaticConflicts: 1},
	}, {
		name: "per-port limit",
		cfg:  fdb.Config{MaxPerPort: 2},
		steps: []step{
			{key: keyA, port: 1, want: fdb.Learned},
			{key: keyB, port: 1, want: fdb.Learned},
			{key: keyC, port: 1, want: fdb.Refused},
			{key: keyC, port: 1, want: fdb.Refused},
			{key: keyC, port: 2, want: fdb.Learned},
			{key: keyB, port: 1, want: fdb.Refreshed},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyA: 1, keyB: 1, keyC: 2},
		wantStats: fdb.Stats{Entries: 3, Learned: 3, Refused: 2},
	}, {
		name: "no move into a full port",
		cfg:  fdb.Config{MaxPerPort: 1},
		steps: []step{
			{key: keyA, port: 1, want: fdb.Learned},
			{key: keyB, port: 2, want: fdb.Learned},
			{key: keyA, port: 2, want: fdb.Refused},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyA: 1, keyB: 2},
		wantStats: fdb.Stats{Entries: 2, Learned: 2, Refused: 1},
	}, {
		name: "static entries do not count toward the port limit",
		cfg:  fdb.Config{MaxPerPort: 1},
		steps: []step{
			{key: keyA, port: 1, static: true},
			{key: keyB, port: 1, want: fdb.Learned},
			{key: keyC, port: 1, want: fdb.Refused},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyA: 1, keyB: 1, keyC: 0},
		wantStats: fdb.Stats{Entries: 2, Learned: 1, Refused: 1},
	}, {
		name: "group source or port 0 is not learned",
		steps: []step{
			{key: keyGroup, port: 1, want: fdb.Refused},
			{key: keyBcast, port: 1, want: fdb.Refused},
			{key: keyA, port: 0, want: fdb.Refused},
		},
		wantPorts: map[fdb.Key]fdb.PortID{keyGroup: 0, keyBcast: 0, keyA: 0},
		wantStats: fdb.Stats{Refused: 3},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMirror(t)
			tbl := fdb.New(tt.cfg, m.record)
			for i, s := range tt.steps {
				if s.static {
					if err := tbl.AddStatic(s.key, s.port); err != nil {
						t.Fatalf("step %d: AddStatic(%v, %d): %v", i, s.key, s.port, err)
					}
					continue
				}
				if got := tbl.Learn(s.key, s.port, s.now); got != s.want {
					t.Fatalf("step %d: Learn(%v, %d) = %v, want %v", i, s.key, s.port, got, s.want)
				}
			}
			for k, p := range tt.wantPorts {
				wantPort(t, tbl, k, p)
			}
			if got := tbl.Stats(); got != tt.wantStats {
				t.Errorf("Stats() = %+v, want %+v", got, tt.wantStats)
			}
			checkInvariants(t, tbl)
			m.check(tbl)
		})
	}
}

func TestPortCount(t *testing.T) {
	tbl := fdb.New(fdb.Config{}, nil)
	tbl.Learn(keyA, 1, 0)
	tbl.Learn(keyB, 1, 0)
	tbl.Learn(keyC, 2, 0)
	if err := tbl.AddStatic(mac(0xd), 1); err != nil {
		t.Fatal(err)
	}
	tbl.Learn(keyB, 2, 0)
	for port, want := range map[fdb.PortID]int{1: 2, 2: 2, 3: 0} {
		if got := tbl.PortCount(port); got != want {
			t.Errorf("PortCount(%d) = %d, want %d", port, got, want)
		}
	}
	if got := tbl.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
	checkInvariants(t, tbl)
}

// TestRefreshGrain checks that the fast path stores the time only when the
// stored one is a millisecond or more old, and never moves it backwards.
func TestRefreshGrain(t *testing.T) {
	ms := int64(time.Millisecond)
	tbl := fdb.New(fdb.Config{}, nil)
	tbl.Learn(keyA, 1, 10*ms)
	for _, tt := range []struct{ now, want int64 }{
		{10*ms + ms/2, 10 * ms},
		{11*ms - 1, 10 * ms},
		{11 * ms, 11 * ms},
		{5 * ms, 11 * ms},
		{100 * ms, 100 * ms},
	} {
		if r := tbl.Learn(keyA, 1, tt.now); r != fdb.Refreshed {
			t.Fatalf("Learn at %d = %v, want Refreshed", tt.now, r)
		}
		if got := lastSeen(t, tbl, keyA); got != tt.want {
			t.Errorf("after Learn at %d: LastSeen = %d, want %d", tt.now, got, tt.want)
		}
	}
}

func TestResultAndKindStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{fdb.Refreshed.String(), "refreshed"},
		{fdb.StaticConflict.String(), "static conflict"},
		{fdb.LearnResult(99).String(), "LearnResult(99)"},
		{fdb.EventEvicted.String(), "evicted"},
		{fdb.EventKind(99).String(), "EventKind(99)"},
		{fdb.Event{Kind: fdb.EventMoved, Key: keyA, Port: 2, OldPort: 1}.String(),
			"moved 02:00:00:00:00:0a vlan 1 port 2 from port 1"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

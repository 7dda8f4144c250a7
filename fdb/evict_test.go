package fdb_test

import (
	"slices"
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

// seed is an entry learned before the table fills.
type seed struct {
	key  fdb.Key
	port fdb.PortID
	now  int64
}

func TestEvict(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		statics []seed // added with AddStatic before the seeds
		seeds   []seed
		learn   seed
		victim  fdb.Key
		vport   fdb.PortID
	}{{
		name: "oldest of the port with most entries, not the oldest overall",
		max:  4,
		seeds: []seed{
			{mac(1), 1, 10}, {mac(2), 1, 5}, {mac(3), 1, 20},
			{mac(4), 2, 1},
		},
		learn:  seed{mac(5), 3, 30},
		victim: mac(2), vport: 1,
	}, {
		name: "the learning port pays when it holds the most",
		max:  3,
		seeds: []seed{
			{mac(1), 2, 1},
			{mac(2), 3, 9}, {mac(3), 3, 7},
		},
		learn:  seed{mac(4), 3, 30},
		victim: mac(3), vport: 3,
	}, {
		name: "tie between ports goes to the lower port id",
		max:  4,
		seeds: []seed{
			{mac(1), 7, 1}, {mac(2), 7, 2},
			{mac(3), 4, 5}, {mac(4), 4, 3},
		},
		learn:  seed{mac(5), 1, 30},
		victim: mac(4), vport: 4,
	}, {
		name:    "static entries neither count nor go",
		max:     2,
		statics: []seed{{mac(10), 1, 0}, {mac(11), 1, 0}, {mac(12), 1, 0}},
		seeds:   []seed{{mac(1), 2, 4}, {mac(2), 2, 3}},
		learn:   seed{mac(3), 1, 30},
		victim:  mac(2), vport: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMirror(t)
			var r recorder
			tbl := fdb.New(fdb.Config{MaxEntries: tt.max}, func(ev fdb.Event) {
				m.record(ev)
				r.record(ev)
			})
			for _, s := range tt.statics {
				if err := tbl.AddStatic(s.key, s.port); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range tt.seeds {
				if got := tbl.Learn(s.key, s.port, s.now); got != fdb.Learned {
					t.Fatalf("seeding Learn(%v, %d) = %v", s.key, s.port, got)
				}
			}
			r.events = nil
			if got := tbl.Learn(tt.learn.key, tt.learn.port, tt.learn.now); got != fdb.Learned {
				t.Fatalf("Learn on a full table = %v, want Learned", got)
			}
			want := []fdb.Event{
				{Kind: fdb.EventEvicted, Key: tt.victim, Port: tt.vport},
				{Kind: fdb.EventLearned, Key: tt.learn.key, Port: tt.learn.port},
			}
			if !slices.Equal(r.events, want) {
				t.Errorf("events %v, want %v", r.events, want)
			}
			wantPort(t, tbl, tt.victim, 0)
			for _, s := range append(tt.statics, tt.seeds...) {
				if s.key != tt.victim {
					wantPort(t, tbl, s.key, s.port)
				}
			}
			if got := tbl.Stats().Evicted; got != 1 {
				t.Errorf("Stats().Evicted = %d, want 1", got)
			}
			checkInvariants(t, tbl)
			m.check(tbl)
		})
	}
}

// TestEvictFollowsRefresh checks that a lock-free refresh counts when picking
// the oldest entry.
func TestEvictFollowsRefresh(t *testing.T) {
	ms := int64(1e6)
	tbl := fdb.New(fdb.Config{MaxEntries: 2}, nil)
	tbl.Learn(keyA, 1, 0)
	tbl.Learn(keyB, 1, 1*ms)
	tbl.Learn(keyA, 1, 5*ms)
	tbl.Learn(keyC, 2, 6*ms)
	wantPort(t, tbl, keyA, 1)
	wantPort(t, tbl, keyB, 0)
	wantPort(t, tbl, keyC, 2)
	checkInvariants(t, tbl)
}

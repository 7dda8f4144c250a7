package fdb_test

import (
	"testing"
	"time"

	"github.com/xswitch/xswitch/fdb"
)

func TestAge(t *testing.T) {
	s := int64(time.Second)
	// hook answers for Config.LastSeen; keys absent from it answer false.
	tests := []struct {
		name      string
		aging     time.Duration
		setAging  *time.Duration // SetAgingTime before Age, if not nil
		seeds     []seed
		static    []fdb.Key // added on port 9
		hook      map[fdb.Key]int64
		now       int64
		wantAged  []fdb.Key
		wantSeen  map[fdb.Key]int64 // LastSeen of kept entries after Age
		wantAsked []fdb.Key         // keys the hook must be asked about
	}{{
		name:  "zero aging time never ages",
		aging: 0,
		seeds: []seed{{keyA, 1, 0}},
		now:   1000 * s,
	}, {
		name:     "older than the aging time goes, static stays",
		aging:    10 * time.Second,
		seeds:    []seed{{keyA, 1, 0}, {keyB, 1, 5 * s}, {keyC, 2, 2 * s}, {mac(4), 3, 2*s - 1}},
		static:   []fdb.Key{mac(5)},
		now:      12 * s,
		wantAged: []fdb.Key{keyA, mac(4)},
	}, {
		name:     "a lock-free refresh keeps the entry",
		aging:    10 * time.Second,
		seeds:    []seed{{keyA, 1, 0}, {keyB, 1, 1 * s}, {keyA, 1, 5 * s}},
		now:      12 * s,
		wantAged: []fdb.Key{keyB},
		wantSeen: map[fdb.Key]int64{keyA: 5 * s},
	}, {
		name:      "hook with a newer time keeps the entry",
		aging:     10 * time.Second,
		seeds:     []seed{{keyA, 1, 0}, {keyB, 1, 11 * s}},
		hook:      map[fdb.Key]int64{keyA: 11 * s, keyB: 1},
		now:       12 * s,
		wantSeen:  map[fdb.Key]int64{keyA: 11 * s, keyB: 11 * s},
		wantAsked: []fdb.Key{keyA},
	}, {
		name:      "hook with a time still too old, older or none does not",
		aging:     10 * time.Second,
		seeds:     []seed{{keyA, 1, 0}, {keyB, 1, 1 * s}, {keyC, 1, 0}},
		hook:      map[fdb.Key]int64{keyA: 1 * s, keyB: 0},
		now:       12 * s,
		wantAged:  []fdb.Key{keyA, keyB, keyC},
		wantAsked: []fdb.Key{keyA, keyB, keyC},
	}, {
		name:     "SetAgingTime turns aging on",
		aging:    0,
		setAging: ptr(time.Second),
		seeds:    []seed{{keyA, 1, 0}, {keyB, 1, 3 * s}},
		now:      3 * s,
		wantAged: []fdb.Key{keyA},
	}, {
		name:     "SetAgingTime(0) turns aging off",
		aging:    time.Second,
		setAging: ptr(time.Duration(0)),
		seeds:    []seed{{keyA, 1, 0}},
		now:      3 * s,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fdb.Config{AgingTime: tt.aging}
			asked := map[fdb.Key]bool{}
			if tt.hook != nil {
				cfg.LastSeen = func(k fdb.Key) (int64, bool) {
					asked[k] = true
					seen, ok := tt.hook[k]
					return seen, ok
				}
			}
			m := newMirror(t)
			var r recorder
			tbl := fdb.New(cfg, func(ev fdb.Event) {
				m.record(ev)
				r.record(ev)
			})
			for _, s := range tt.seeds {
				tbl.Learn(s.key, s.port, s.now)
			}
			for _, k := range tt.static {
				if err := tbl.AddStatic(k, 9); err != nil {
					t.Fatal(err)
				}
			}
			if tt.setAging != nil {
				tbl.SetAgingTime(*tt.setAging)
			}
			r.events = nil
			if got := tbl.Age(tt.now); got != len(tt.wantAged) {
				t.Errorf("Age() = %d, want %d", got, len(tt.wantAged))
			}
			aged := map[fdb.Key]bool{}
			for _, k := range tt.wantAged {
				aged[k] = true
				wantPort(t, tbl, k, 0)
			}
			for _, s := range tt.seeds {
				if !aged[s.key] {
					wantPort(t, tbl, s.key, s.port)
				}
			}
			for _, k := range tt.static {
				wantPort(t, tbl, k, 9)
			}
			if len(r.events) != len(tt.wantAged) {
				t.Errorf("events %v, want %d aged", r.events, len(tt.wantAged))
			}
			for _, ev := range r.events {
				if ev.Kind != fdb.EventAged || !aged[ev.Key] {
					t.Errorf("unexpected event %v", ev)
				}
			}
			for k, want := range tt.wantSeen {
				if got := lastSeen(t, tbl, k); got != want {
					t.Errorf("LastSeen(%v) = %d, want %d", k, got, want)
				}
			}
			if len(asked) != len(tt.wantAsked) {
				t.Errorf("hook asked about %v, want %v", asked, tt.wantAsked)
			}
			for _, k := range tt.wantAsked {
				if !asked[k] {
					t.Errorf("hook not asked about %v", k)
				}
			}
			if got := tbl.Stats().Aged; got != uint64(len(tt.wantAged)) {
				t.Errorf("Stats().Aged = %d, want %d", got, len(tt.wantAged))
			}
			checkInvariants(t, tbl)
			m.check(tbl)
		})
	}
}

func TestDefaultConfigAges(t *testing.T) {
	tbl := fdb.New(fdb.DefaultConfig(), nil)
	tbl.Learn(keyA, 1, 0)
	if got := tbl.Age(int64(fdb.DefaultAgingTime)); got != 0 {
		t.Fatalf("Age at exactly the aging time removed %d", got)
	}
	if got := tbl.Age(int64(fdb.DefaultAgingTime) + 1); got != 1 {
		t.Fatalf("Age past the aging time removed %d, want 1", got)
	}
}

func ptr[T any](v T) *T { return &v }

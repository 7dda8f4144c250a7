package fdb_test

import (
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

func TestFlush(t *testing.T) {
	// Port 1: dynamic 1, 2, static 3. Port 2: dynamic 4, static 5.
	dyn := map[fdb.Key]fdb.PortID{mac(1): 1, mac(2): 1, mac(4): 2}
	static := map[fdb.Key]fdb.PortID{mac(3): 1, mac(5): 2}
	tests := []struct {
		name      string
		flush     func(*fdb.Table) int
		wantGone  []fdb.Key
		wantStays []fdb.Key
	}{{
		name:      "port takes static entries of that port only",
		flush:     func(tbl *fdb.Table) int { return tbl.FlushPort(1) },
		wantGone:  []fdb.Key{mac(1), mac(2), mac(3)},
		wantStays: []fdb.Key{mac(4), mac(5)},
	}, {
		name:      "unknown port",
		flush:     func(tbl *fdb.Table) int { return tbl.FlushPort(7) },
		wantStays: []fdb.Key{mac(1), mac(2), mac(3), mac(4), mac(5)},
	}, {
		name:      "all takes dynamic entries only",
		flush:     func(tbl *fdb.Table) int { return tbl.Flush() },
		wantGone:  []fdb.Key{mac(1), mac(2), mac(4)},
		wantStays: []fdb.Key{mac(3), mac(5)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMirror(t)
			var r recorder
			tbl := fdb.New(fdb.Config{}, func(ev fdb.Event) {
				m.record(ev)
				r.record(ev)
			})
			ports := map[fdb.Key]fdb.PortID{}
			for k, p := range dyn {
				tbl.Learn(k, p, 0)
				ports[k] = p
			}
			for k, p := range static {
				if err := tbl.AddStatic(k, p); err != nil {
					t.Fatal(err)
				}
				ports[k] = p
			}
			r.events = nil
			if got := tt.flush(tbl); got != len(tt.wantGone) {
				t.Errorf("flushed %d, want %d", got, len(tt.wantGone))
			}
			gone := map[fdb.Key]bool{}
			for _, k := range tt.wantGone {
				gone[k] = true
				wantPort(t, tbl, k, 0)
			}
			for _, k := range tt.wantStays {
				wantPort(t, tbl, k, ports[k])
			}
			if len(r.events) != len(tt.wantGone) {
				t.Errorf("events %v, want %d flushed", r.events, len(tt.wantGone))
			}
			for _, ev := range r.events {
				if ev.Kind != fdb.EventFlushed || !gone[ev.Key] || ev.Port != ports[ev.Key] {
					t.Errorf("unexpected event %v", ev)
				}
			}
			if got := tbl.Stats(); got.Flushed != uint64(len(tt.wantGone)) || got.Entries != len(tt.wantStays) {
				t.Errorf("Stats() = %+v, want Flushed %d, Entries %d", got, len(tt.wantGone), len(tt.wantStays))
			}
			checkInvariants(t, tbl)
			m.check(tbl)
		})
	}
}

package dataplane

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

// sharedBridges attaches ports[i] ports to bridge i, all of them of one
// Shared whose goroutine is not started: tests and benchmarks drive a
// sharedLoop of their own. The ports' ifindexes are 1, 2, ... in order; the
// bridges' ports are returned in the same order.
func sharedBridges(tb testing.TB, batch int, ports ...int) (*Shared, []*Bridge, [][]*port) {
	tb.Helper()
	s := newShared(&idleReceiver{batch: batch}, slog.New(slog.DiscardHandler))
	var brs []*Bridge
	var lists [][]*port
	ifindex := 0
	for i, n := range ports {
		br := NewBridge(BridgeConfig{Name: fmt.Sprint("br", i), FDB: fdb.DefaultConfig()}, slog.New(slog.DiscardHandler))
		tb.Cleanup(func() { br.Close() })
		for j := range n {
			ifindex++
			p := newNullPort(fmt.Sprintf("p%d.%d", i, j))
			if _, err := br.AddPort(p, PortInfo{Name: p.Name(), Ifindex: ifindex, Shared: s}); err != nil {
				tb.Fatal(err)
			}
		}
		brs = append(brs, br)
		lists = append(lists, br.ports.Load().list)
	}
	return s, brs, lists
}

// idleReceiver delivers nothing: the frames come from the test.
type idleReceiver struct{ batch int }

func (r *idleReceiver) BatchSize() int                        { return r.batch }
func (r *idleReceiver) Receive([]Frame, []int32) (int, error) { select {} }
func (r *idleReceiver) Close() error                          { return nil }

// TestSharedAllocs holds a Shared batch to no allocation: runs of several
// ports of two bridges, known and flooded destinations, and an unknown
// ifindex. The counters show that each frame went where it should.
func TestSharedAllocs(t *testing.T) {
	s, brs, lists := sharedBridges(t, 16, 3, 2)
	a, b, c := lists[0][0], lists[0][1], lists[0][2]
	d, e := lists[1][0], lists[1][1]
	host := func(n byte) []byte { return []byte{0x02, 0, 0, 0, 0, n} }
	now := fdb.Now()
	brs[0].fdb.Learn(fdb.MakeKey(0, host(1)), a.id, now)
	brs[0].fdb.Learn(fdb.MakeKey(0, host(2)), b.id, now)
	brs[1].fdb.Learn(fdb.MakeKey(0, host(4)), d.id, now)
	brs[1].fdb.Learn(fdb.MakeKey(0, host(5)), e.id, now)
	frame := func(dst, src byte) Frame {
		f := make([]byte, 60)
		copy(f, host(dst))
		copy(f[6:], host(src))
		return Frame{Data: f}
	}
	batch := []Frame{frame(2, 1), frame(2, 1), frame(5, 4), frame(1, 2), frame(9, 1), frame(5, 4), frame(4, 5), frame(2, 1)}
	ifindex := []int32{1, 1, 4, 2, 1, 99, 5, 1}

	l := newSharedLoop(s)
	before := make(map[*port]CounterValues)
	for _, list := range lists {
		for _, q := range list {
			before[q] = q.c.Load()
		}
	}
	const runs = 100
	if allocs := testing.AllocsPerRun(runs, func() { l.forward(batch, ifindex) }); allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
	// AllocsPerRun runs the function once more, to warm up.
	want := map[*port]CounterValues{
		a: {RxPackets: 4, RxBytes: 240, Flooded: 1, TxPackets: 1, TxBytes: 60},
		b: {RxPackets: 1, RxBytes: 60, TxPackets: 4, TxBytes: 240},
		c: {TxPackets: 1, TxBytes: 60},
		d: {RxPackets: 1, RxBytes: 60, TxPackets: 1, TxBytes: 60},
		e: {RxPackets: 1, RxBytes: 60, TxPackets: 1, TxBytes: 60},
	}
	for q, w := range want {
		if got := sub(q.c.Load(), before[q]); got != scale(w, runs+1) {
			t.Errorf("port %s: counters moved by %+v, want %+v", q.info.Name, got, scale(w, runs+1))
		}
	}
	if st := s.Stats(); st.Unknown != runs+1 || st.Frames != uint64(len(batch))*(runs+1) || st.Batches != runs+1 {
		t.Errorf("stats %+v, want %d batches of %d frames, one unknown each", st, runs+1, len(batch))
	}
}

// BenchmarkShared is BenchmarkForward through a Shared: a batch of 64
// 64-byte frames to learned hosts behind other ports, from one ingress port
// (ingress=1) or from a different one at every frame (ingress=64, which
// costs a forward pass per frame).
func BenchmarkShared(b *testing.B) {
	for _, ports := range []int{2, 16, 256} {
		for _, ingress := range []int{1, 64} {
			b.Run(fmt.Sprintf("ports=%d/ingress=%d", ports, ingress), func(b *testing.B) {
				s, brs, lists := sharedBridges(b, 64, ports)
				br, list := brs[0], lists[0]
				hostOf := func(k int) []byte { return []byte{0x02, 0, 0, 0, byte(k >> 8), byte(k)} }
				for k, q := range list {
					br.fdb.Learn(fdb.MakeKey(0, hostOf(k)), q.id, fdb.Now())
				}
				batch := make([]Frame, 64)
				ifindex := make([]int32, 64)
				for i := range batch {
					in := i % ingress % ports
					out := (in + 1 + i%(ports-1)) % ports
					d := make([]byte, 64)
					copy(d, hostOf(out))
					copy(d[6:], hostOf(in))
					batch[i] = Frame{Data: d}
					ifindex[i] = int32(list[in].info.Ifindex)
				}
				l := newSharedLoop(s)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					l.forward(batch, ifindex)
				}
				b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}

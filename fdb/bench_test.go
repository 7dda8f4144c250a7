package fdb_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

const (
	benchEntries = 100_000
	benchPorts   = 32
)

// benchTable returns a table of benchEntries entries spread over benchPorts
// ports, with limits high enough to hold them, and their keys in random
// order, so that walking them defeats the cache as real traffic would.
func benchTable(b *testing.B) (*fdb.Table, []fdb.Key) {
	b.Helper()
	tbl := fdb.New(fdb.Config{MaxPerPort: benchEntries, MaxEntries: 2 * benchEntries}, nil)
	keys := make([]fdb.Key, benchEntries)
	for i := range keys {
		keys[i] = mac(uint32(i))
		if r := tbl.Learn(keys[i], fdb.PortID(1+i%benchPorts), 0); r != fdb.Learned {
			b.Fatalf("Learn(%v) = %v", keys[i], r)
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return tbl, keys
}

func BenchmarkLookupHit(b *testing.B) {
	tbl, keys := benchTable(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := tbl.Lookup(keys[i]); !ok {
			b.Fatal("miss")
		}
		if i++; i == len(keys) {
			i = 0
		}
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	tbl, _ := benchTable(b)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		if _, ok := tbl.Lookup(mac(benchEntries + i%benchEntries)); ok {
			b.Fatal("hit")
		}
		i++
	}
}

// BenchmarkLearnRefresh learns sources that are already on their port:
// "hot" is one busy MAC, cached, within the refresh grain, so nothing is
// written; "spread" walks all entries in random order with every call a
// cache miss and a store, the worst case.
func BenchmarkLearnRefresh(b *testing.B) {
	tbl, keys := benchTable(b)
	ports := make([]fdb.PortID, len(keys))
	for i, k := range keys {
		ports[i], _ = tbl.Lookup(k)
	}
	b.Run("hot", func(b *testing.B) {
		b.ReportAllocs()
		now := fdb.Now()
		tbl.Learn(keys[0], ports[0], now)
		for b.Loop() {
			if r := tbl.Learn(keys[0], ports[0], now); r != fdb.Refreshed {
				b.Fatalf("Learn = %v", r)
			}
		}
	})
	b.Run("spread", func(b *testing.B) {
		b.ReportAllocs()
		i, now := 0, fdb.Now()
		for b.Loop() {
			if r := tbl.Learn(keys[i], ports[i], now); r != fdb.Refreshed {
				b.Fatalf("Learn = %v", r)
			}
			if i++; i == len(keys) {
				i = 0
				now = fdb.Now()
			}
		}
	})
}

// BenchmarkLearnNew learns fresh MACs into a full default-sized table, so
// each one also evicts: the worst case of the slow path.
func BenchmarkLearnNew(b *testing.B) {
	tbl := fdb.New(fdb.Config{MaxPerPort: fdb.DefaultMaxEntries}, nil)
	b.ReportAllocs()
	n := uint32(0)
	for b.Loop() {
		if r := tbl.Learn(mac(n), fdb.PortID(1+n%benchPorts), int64(n)); r != fdb.Learned {
			b.Fatalf("Learn = %v", r)
		}
		n++
	}
}

// BenchmarkLookupParallel looks up from every core while one goroutine
// keeps moving entries between ports, as a busy bridge would.
func BenchmarkLookupParallel(b *testing.B) {
	tbl, keys := benchTable(b)
	var (
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			tbl.Learn(keys[i%len(keys)], fdb.PortID(1+(i+1)%benchPorts), int64(i))
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	var worker atomic.Uint32
	b.RunParallel(func(pb *testing.PB) {
		i := int(worker.Add(1)) * 7919
		for pb.Next() {
			if _, ok := tbl.Lookup(keys[i%len(keys)]); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
}

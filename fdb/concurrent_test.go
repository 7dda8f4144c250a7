package fdb_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

// TestConcurrent runs lock-free learners and readers against a writer that
// ages, flushes, deletes and adds static entries, then checks that the table
// is consistent and that its events alone rebuild it. Run it with -race.
func TestConcurrent(t *testing.T) {
	const (
		learners  = 4
		perWorker = 20000
		keys      = 512
		ports     = 4
		static    = ports + 1 // the port static entries go to
		// step is the clock tick per frame: a tenth of the refresh grain, so
		// refreshes store, and entries unseen for 200 frames age.
		step = 100_000
	)
	var clock atomic.Int64
	m := newMirror(t)
	tbl := fdb.New(fdb.Config{AgingTime: 200 * step, MaxPerPort: 64, MaxEntries: 200}, m.record)

	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		badPort atomic.Uint32
	)
	for w := range learners {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range perWorker {
				k := mac(rng.Uint32N(keys))
				tbl.Learn(k, fdb.PortID(1+rng.IntN(ports)), clock.Add(step))
				if p, ok := tbl.Lookup(mac(rng.Uint32N(keys))); ok && (p == 0 || p > static) {
					badPort.Store(uint32(p))
				}
			}
		})
	}
	var writer sync.WaitGroup
	writer.Go(func() {
		rng := rand.New(rand.NewPCG(99, 1))
		for i := 0; !stop.Load(); i++ {
			k := mac(rng.Uint32N(keys))
			switch {
			case i%1024 == 0:
				tbl.Flush()
			case i%64 == 1:
				tbl.FlushPort(fdb.PortID(1 + rng.IntN(static)))
			case i%64 == 2:
				if err := tbl.AddStatic(k, static); err != nil {
					t.Error(err)
				}
			default:
				if i%2 == 0 {
					tbl.Delete(k)
				} else {
					tbl.Age(clock.Load())
				}
			}
			_ = tbl.Stats()
		}
	})
	wg.Wait()
	stop.Store(true)
	writer.Wait()

	if p := badPort.Load(); p != 0 {
		t.Fatalf("Lookup returned port %d", p)
	}
	checkInvariants(t, tbl)
	m.check(tbl)
	s := tbl.Stats()
	t.Logf("%+v", s)
	if s.Learned == 0 || s.Moved == 0 || s.Aged == 0 || s.Refused+s.Evicted == 0 {
		t.Errorf("workload did not exercise learn, move, aging and limits: %+v", s)
	}
}

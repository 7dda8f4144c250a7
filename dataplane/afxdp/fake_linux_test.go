package afxdp

import (
	"runtime"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// fakeRing returns a ring in ordinary memory, for a port without a socket.
func fakeRing(size uint32, entry int) ring {
	mem := make([]byte, 192+int(size)*entry)
	r := newRing(mem, unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}, size)
	r.mem = nil // not a mapping: nothing to unmap
	return r
}

// fakePort opens a port on u whose one queue has rings in ordinary memory
// and no socket; kernel plays the kernel's part. Its Receive must only be
// called when its RX ring holds frames: with no socket to poll, it would
// wait forever.
func fakePort(tb testing.TB, u *UMEM, cfg Config) *Port {
	cfg, err := cfg.withDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	s := &xsk{fd: -1}
	s.rx = fakeRing(uint32(cfg.RxRingSize), 16)
	s.fill = fakeRing(uint32(cfg.RxRingSize), 8)
	s.tx = fakeRing(uint32(cfg.TxRingSize), 16)
	s.comp = fakeRing(uint32(cfg.TxRingSize), 8)
	s.batch = make([]uint64, 0, cfg.RxRingSize)
	u.mu.Lock()
	u.join(s)
	u.mu.Unlock()

	p := &Port{name: "fake", cfg: cfg, umem: u, queues: []*xsk{s}, h: handles{evfd: -1, promfd: -1}}
	p.maxLen.Store(1514)
	p.start()
	tb.Cleanup(func() {
		p.Close()
		kernel(p, 0)
		p.Receive(nil)
	})
	return p
}

// kernel does the kernel's part for a fake port: it completes every frame
// on the TX ring, and receives into every fill entry a frame of size bytes
// (none if size is 0). It returns the frames on the RX ring.
func kernel(p *Port, size uint32) uint32 {
	s := p.queues[0]
	tx, comp := &s.tx, &s.comp
	c, end, prod := atomic.LoadUint32(tx.cons), atomic.LoadUint32(tx.prod), atomic.LoadUint32(comp.prod)
	for ; c != end; c, prod = c+1, prod+1 {
		*comp.addr(prod) = tx.desc(c).Addr
	}
	atomic.StoreUint32(comp.prod, prod)
	atomic.StoreUint32(tx.cons, c)
	fill, rx := &s.fill, &s.rx
	if size > 0 {
		c, end, prod := atomic.LoadUint32(fill.cons), atomic.LoadUint32(fill.prod), atomic.LoadUint32(rx.prod)
		for ; c != end && prod-atomic.LoadUint32(rx.cons) < rx.size; c, prod = c+1, prod+1 {
			d := rx.desc(prod)
			d.Addr, d.Len = *fill.addr(c)+256, size
		}
		atomic.StoreUint32(rx.prod, prod)
		atomic.StoreUint32(fill.cons, c)
	}
	return atomic.LoadUint32(rx.prod) - atomic.LoadUint32(rx.cons)
}

// BenchmarkPool forwards between ports whose rings are in ordinary memory,
// so that only the port's own work is measured: the rings, the UMEM's
// pool and the counters, no kernel. Each goroutine forwards back and forth
// between two ports of its own; all ports share one UMEM, as the ports of
// a bridge do. One op is one Receive of a batch and one Send of it, without
// copies.
func BenchmarkPool(b *testing.B) {
	// Enough frames that every fill ring gets its share whatever the order
	// the ports open in (the first ones fill up before the others join).
	u, err := NewUMEM(UMEMConfig{Frames: 16384})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := u.Close(); err != nil {
			b.Error(err)
		}
	})
	pairs := runtime.GOMAXPROCS(0)
	ports := make([]*Port, 2*pairs)
	for i := range ports {
		ports[i] = fakePort(b, u, Config{})
	}
	var next atomic.Int32
	var frames atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)-1) % pairs
		pair := [2]*Port{ports[2*i], ports[2*i+1]}
		buf := make([]dataplane.Frame, pair[0].BatchSize())
		forwarded := 0
		for k := 0; pb.Next(); k ^= 1 {
			in, out := pair[k], pair[k^1]
			if kernel(in, 64) == 0 {
				b.Error("the RX ring is empty: the fill ring was starved")
				return
			}
			n, err := in.Receive(buf)
			if err != nil {
				b.Error(err)
				return
			}
			for j := range buf[:n] {
				buf[j].Exclusive = true
			}
			sent, _ := out.Send(buf[:n])
			forwarded += sent
		}
		frames.Add(int64(forwarded))
	})
	b.ReportMetric(float64(frames.Load())/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames.Load()), "ns/frame")
}

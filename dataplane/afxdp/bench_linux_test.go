package afxdp

import (
	"fmt"
	"sync"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
)

// BenchmarkForward measures a port's Receive and another's Send on one
// UMEM, as the dataplane's worker calls them: frames a blaster port sends
// into the first veth pair are received and forwarded, without copies, out
// of the second. One op is one Receive and one Send of the batch it
// returned. The blaster runs on the same CPUs, so the figure is the
// forwarding rate of this machine, not the port's limit.
func BenchmarkForward(b *testing.B) { benchForward(b, 0) }

// BenchmarkForwardAmongIdle is BenchmarkForward with 254 more ports on the
// UMEM, opened first and idle, as on a bridge of many guests: their fill
// rings must not take the frames the busy ports need.
func BenchmarkForwardAmongIdle(b *testing.B) { benchForward(b, 254) }

func benchForward(b *testing.B, idle int) {
	e := newEnv(b, 8192)
	for i := range idle {
		nstest.Veth(b, e.ns, fmt.Sprintf("bi%d", i), e.ns, fmt.Sprintf("bgi%d", i))
		e.open(fmt.Sprintf("bi%d", i), e.umem, Config{})
	}
	nstest.Veth(b, e.ns, "bin", e.ns, "bgin")
	nstest.Veth(b, e.ns, "bout", e.ns, "bgout")
	in := e.open("bin", e.umem, Config{})
	out := e.open("bout", e.umem, Config{})
	own, err := NewUMEM(UMEMConfig{Frames: 4096})
	if err != nil {
		b.Fatal(err)
	}
	blaster := e.open("bgin", own, Config{})
	b.Cleanup(func() {
		blaster.Close()
		own.Close()
	})

	var stop sync.WaitGroup
	quit := make(chan struct{})
	stop.Add(1)
	go func() {
		defer stop.Done()
		batch := make([]dataplane.Frame, blaster.BatchSize())
		for i := range batch {
			batch[i].Data = frame(1, uint32(i), 64)
		}
		for {
			select {
			case <-quit:
				return
			default:
			}
			blaster.Send(batch)
		}
	}()
	defer func() {
		close(quit)
		stop.Wait()
	}()

	buf := make([]dataplane.Frame, in.BatchSize())
	forwarded := 0
	b.ReportAllocs()
	for b.Loop() {
		n, err := in.Receive(buf)
		if err != nil {
			b.Fatal(err)
		}
		for i := range buf[:n] {
			buf[i].Exclusive = true
		}
		sent, _ := out.Send(buf[:n])
		forwarded += sent
	}
	b.ReportMetric(float64(forwarded)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(forwarded)/float64(b.N), "frames/op")
}

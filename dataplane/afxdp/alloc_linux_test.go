package afxdp

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
)

// TestForwardDoesNotAllocate receives batches on one port and sends them
// out of another, without copies, as the dataplane does; and sends copies,
// some tagged. Neither may allocate once warm.
func TestForwardDoesNotAllocate(t *testing.T) {
	e := newEnv(t, 4096)
	in, gin := e.port("x7", "g7", Config{BatchSize: 16})
	out, _ := e.port("x8", "g8", Config{BatchSize: 16})
	const runs, batch = 25, 16
	// A first frame makes the port's fill ring as deep as a receiving
	// port's; then enough frames queued that no Receive waits, no more
	// than that depth: AllocsPerRun counts every goroutine's allocations,
	// so nothing may send meanwhile.
	buf := make([]dataplane.Frame, batch)
	gin.Send(t, frame(1, 0, 100))
	if _, err := in.Receive(buf); err != nil {
		t.Fatal(err)
	}
	in.rx.mu.Lock()
	in.recycle()
	in.refill(false)
	in.rx.mu.Unlock()
	if depth := int(e.umem.floor(uint32(in.cfg.RxRingSize))); depth < (runs+2)*batch {
		t.Fatalf("a fill ring %d frames deep", depth)
	}
	for i := range (runs + 2) * batch {
		gin.Send(t, frame(1, uint32(i), 100))
	}
	time.Sleep(50 * time.Millisecond)
	// Should Receive ever wait for frames that do not come, unblock it.
	watchdog := time.AfterFunc(10*time.Second, func() { in.Close() })
	defer watchdog.Stop()
	var err error
	allocs := testing.AllocsPerRun(runs, func() {
		n, e := in.Receive(buf)
		if e != nil {
			err = e
			return
		}
		for i := range buf[:n] {
			buf[i].Exclusive = true
		}
		if _, e := out.Send(buf[:n]); e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Receive and Send without copies allocate %v times per batch, want 0", allocs)
	}
	if s := out.Stats(); s.TxZeroCopy < runs*batch {
		t.Errorf("%d frames sent without a copy, want %d or more", s.TxZeroCopy, runs*batch)
	}

	copies := make([]dataplane.Frame, batch)
	for i := range copies {
		copies[i].Data = frame(2, uint32(i), 100)
		if i%4 == 0 {
			copies[i].Tagged, copies[i].VLAN = true, 100
		}
	}
	allocs = testing.AllocsPerRun(runs, func() {
		if _, e := out.Send(copies); e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Send of copies allocates %v times per call, want 0", allocs)
	}
	// A refused frame makes its error once, then reuses it.
	copies[5].Data = frame(2, 5, 2000)
	allocs = testing.AllocsPerRun(runs, func() { _, err = out.Send(copies) })
	if !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("Send of a frame longer than the MTU: %v, want EMSGSIZE", err)
	}
	if allocs != 0 {
		t.Errorf("Send with a refused frame allocates %v times per call, want 0", allocs)
	}
}

// TestReceiveThatWaitsDoesNotAllocate has every Receive find the rings
// empty and sleep in poll until a frame sent a millisecond later wakes it.
func TestReceiveThatWaitsDoesNotAllocate(t *testing.T) {
	e := newEnv(t, 1024)
	p, g := e.port("x9", "g9", Config{})
	f := frame(1, 0, 100)
	kick, quit := make(chan struct{}), make(chan struct{})
	defer close(quit)
	go func() {
		for {
			select {
			case <-kick:
			case <-quit:
				return
			}
			time.Sleep(time.Millisecond)
			g.Send(t, f)
		}
	}()
	watchdog := time.AfterFunc(10*time.Second, func() { p.Close() })
	defer watchdog.Stop()
	buf := make([]dataplane.Frame, 8)
	var err error
	got := 0
	allocs := testing.AllocsPerRun(50, func() {
		kick <- struct{}{}
		n, e := p.Receive(buf)
		if e != nil {
			err = e
		}
		got += n
	})
	if err != nil {
		t.Fatal(err)
	}
	if got < 51 {
		t.Fatalf("%d frames received, want 51", got)
	}
	if allocs != 0 {
		t.Errorf("a Receive that waits allocates %v times per call, want 0", allocs)
	}
}

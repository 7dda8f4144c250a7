package afpacket

import (
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
)

// sendBatch returns a batch of small frames, every fourth one tagged.
func sendBatch(n int) []dataplane.Frame {
	frames := make([]dataplane.Frame, n)
	for i := range frames {
		frames[i].Data = testFrame(uint32(i), 64)
		if i%4 == 0 {
			frames[i].Tagged, frames[i].VLAN = true, 100
		}
	}
	return frames
}

func TestSendDoesNotAllocate(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{BatchSize: 16})
	frames := sendBatch(40) // three sendmmsg calls
	if allocs := testing.AllocsPerRun(100, func() { p.Send(frames) }); allocs != 0 {
		t.Errorf("Send allocates %v times per call, want 0", allocs)
	}
	// A refused frame makes an error once per errno, then reuses it.
	frames[5].Data = testFrame(5, 2000)
	if allocs := testing.AllocsPerRun(100, func() { p.Send(frames) }); allocs != 0 {
		t.Errorf("Send with a refused frame allocates %v times per call, want 0", allocs)
	}
}

func TestReceiveDoesNotAllocate(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", burstConfig)
	peer := openRaw(t, pr.nsPeer, "peer0", false)
	const runs, batch = 50, 8
	for i := range (runs + 1) * batch * 2 {
		peer.send(t, testFrame(uint32(i), 100))
	}
	buf := make([]dataplane.Frame, batch)
	if _, err := p.Receive(buf); err != nil { // waits for the first block
		t.Fatal(err)
	}
	time.Sleep(2 * burstConfig.BlockTimeout) // every block retired
	// Should Receive ever wait for frames that do not come, unblock it.
	watchdog := time.AfterFunc(10*time.Second, func() { p.Close() })
	defer watchdog.Stop()
	var err error
	allocs := testing.AllocsPerRun(runs, func() {
		if _, e := p.Receive(buf); e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Receive allocates %v times per call, want 0", allocs)
	}
}

// TestReceiveThatWaitsDoesNotAllocate has every Receive find the ring
// empty, since the kernel hands a block over only when it retires it, and
// wait in the netpoller for the frame sent just before.
func TestReceiveThatWaitsDoesNotAllocate(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{})
	peer := openRaw(t, pr.nsPeer, "peer0", false)
	f := testFrame(0, 100)
	buf := make([]dataplane.Frame, 8)
	watchdog := time.AfterFunc(10*time.Second, func() { p.Close() })
	defer watchdog.Stop()
	var err error
	got := 0
	allocs := testing.AllocsPerRun(50, func() {
		peer.send(t, f)
		n, e := p.Receive(buf)
		if e != nil {
			err = e
		}
		got += n
	})
	if err != nil {
		t.Fatal(err)
	}
	if got == 0 {
		t.Fatal("no frame received")
	}
	if allocs != 0 {
		t.Errorf("a Receive that waits allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkSend(b *testing.B) {
	pr := newPair(b)
	p := openPort(b, pr.nsPort, "port0", Config{})
	frames := sendBatch(p.BatchSize())
	b.ReportAllocs()
	for b.Loop() {
		p.Send(frames)
	}
	b.ReportMetric(float64(b.N*len(frames))/b.Elapsed().Seconds(), "frames/s")
}

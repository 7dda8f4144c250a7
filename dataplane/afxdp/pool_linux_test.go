package afxdp

import (
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
)

// TestIdleSendersGiveFramesBack has a port forward, without copies, to one
// port after another, each of which is never sent to again: the frames it
// sent wait in its completion ring, more of them than the UMEM has. The
// receiving port must keep getting frames: its refills collect them.
func TestIdleSendersGiveFramesBack(t *testing.T) {
	u := newFakeUMEM(t, 1024)
	in := fakePort(t, u, Config{})
	outs := make([]*Port, 32)
	for i := range outs {
		outs[i] = fakePort(t, u, Config{})
	}
	buf := make([]dataplane.Frame, in.BatchSize())
	forwarded := 0
	for i, out := range outs {
		for try := 0; kernel(in, 64) == 0; try++ {
			if try == 10 {
				t.Fatalf("round %d: the fill ring stays empty, %d frames forwarded so far, %d in the pool", i, forwarded, u.Free())
			}
			time.Sleep(2 * time.Millisecond)
			in.retry()
		}
		n, err := in.Receive(buf)
		if err != nil {
			t.Fatal(err)
		}
		for j := range buf[:n] {
			buf[j].Exclusive = true
		}
		sent, _ := out.Send(buf[:n])
		kernel(out, 0)
		forwarded += sent
	}
	// Only collect brings frames back from the completion rings.
	if forwarded <= u.Frames() {
		t.Errorf("%d frames forwarded, want more than the UMEM's %d", forwarded, u.Frames())
	}
	if err := u.audit(); err != nil {
		t.Error(err)
	}
}

// TestFillFollowsDemand checks a fill ring's target: the floor while idle,
// growing with what the kernel takes, and once demand drops for longer than
// peakHold, twice the demand on top of the floor, the frames the socket
// receives beyond that going back to the pool.
func TestFillFollowsDemand(t *testing.T) {
	u := newFakeUMEM(t, 4096)
	p := fakePort(t, u, Config{})
	s := p.queues[0]
	floor := u.floor(uint32(p.cfg.RxRingSize))
	if got := s.fill.pending(); got != floor {
		t.Fatalf("an idle fill ring holds %d frames, want its floor of %d", got, floor)
	}
	buf := make([]dataplane.Frame, p.BatchSize())
	for range 8 {
		kernel(p, 64)
		p.Receive(buf)
	}
	if busy, most := s.fill.pending(), u.fillMax(uint32(p.cfg.RxRingSize)); busy != most {
		t.Errorf("a busy fill ring holds %d frames, want %d", busy, most)
	}
	// Demand drops to 8 frames a Receive.
	const demand = 8
	for range 1000 {
		s.peakAt = s.peakAt.Add(-2 * peakHold)
		kernelN(p, 64, demand)
		p.Receive(buf)
	}
	want := int(floor) + 2*demand
	if got := s.fill.pending(); int(got) > want {
		t.Errorf("the fill ring holds %d frames, want %d at most", got, want)
	}
	held := u.held(s.rxOwner)
	if held > want+demand {
		t.Errorf("the socket holds %d frames, want %d at most", held, want+demand)
	}
	if free := u.Free(); free+held != u.Frames() {
		t.Errorf("%d frames in the pool and %d held by the only socket, of %d", free, held, u.Frames())
	}
	if err := u.audit(); err != nil {
		t.Error(err)
	}
}

// retry does what a Receive that finds nothing does before it waits: it
// lets go of the frames of the last Receive and refills.
func (p *Port) retry() {
	p.rx.mu.Lock()
	defer p.rx.mu.Unlock()
	p.recycle()
	p.refill()
}

func newFakeUMEM(t *testing.T, frames int) *UMEM {
	u, err := NewUMEM(UMEMConfig{Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Error(err)
		}
		if free := u.Free(); free != u.Frames() {
			t.Errorf("%d of %d UMEM frames free once every port is closed", free, u.Frames())
		}
	})
	return u
}

package afxdp

import (
	"testing"

	"github.com/xswitch/xswitch/dataplane"
)

// TestFillFollowsDemand has one port among 256 on a UMEM, so that its floor
// is a few frames: a ring the kernel keeps emptying grows to its full size
// within a few Receives, one that gets little shrinks as its port goes to
// sleep, and a port that never received holds only its first fill.
func TestFillFollowsDemand(t *testing.T) {
	u, err := NewUMEM(UMEMConfig{Frames: 8192})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	ports := make([]*Port, 256)
	for i := range ports {
		ports[i] = fakePort(t, u, Config{})
	}
	p := ports[len(ports)-1]
	s := p.queues[0]
	ring := s.fill.size
	if floor := u.floor(ring); floor > 16 {
		t.Fatalf("a floor of %d frames with 256 sockets", floor)
	}
	// The ports that never received hold at most a quarter of the UMEM
	// together, beyond the minFill each is sure of.
	held := 0
	for _, q := range ports[:len(ports)-1] {
		held += int(q.queues[0].fill.pending())
	}
	if limit := u.Frames()/4 + minFill*(len(ports)-1); held > limit {
		t.Fatalf("the ports that never received hold %d fill frames, more than %d", held, limit)
	}

	buf := make([]dataplane.Frame, ring)
	for i := 0; s.target < ring; i++ {
		if i == 8 {
			t.Fatalf("the fill target is %d after %d Receives that emptied the ring, want %d", s.target, i, ring)
		}
		if kernel(p, 64) == 0 {
			t.Fatal("the fill ring is empty")
		}
		if _, err := p.Receive(buf); err != nil {
			t.Fatal(err)
		}
	}
	p.rx.mu.Lock()
	p.recycle()
	p.refill(false)
	if got := s.fill.pending(); got != ring {
		t.Errorf("%d frames in a fill ring whose target is %d", got, ring)
	}
	// Idle: the port goes to sleep again and again with nothing taken.
	for range 16 {
		p.refill(true)
	}
	p.rx.mu.Unlock()
	if floor := u.floor(ring); s.target != floor {
		t.Errorf("the fill target of an idle port is %d, want its floor %d", s.target, floor)
	}
	checkOwners(t, u)
}

// TestDryPortWokenByPool has a port wait for frames with the pool empty:
// frames put back wake it.
func TestDryPortWokenByPool(t *testing.T) {
	u, err := NewUMEM(UMEMConfig{Frames: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	p := fakePort(t, u, Config{RxRingSize: 64, TxRingSize: 64, BatchSize: 16})
	taken := make([]uint64, 64)
	taken = taken[:u.get(taken, 0)]
	u.wakeWhenFree(p)
	if p.rx.woken.Load() {
		t.Fatal("woken with the pool empty")
	}
	u.put(taken)
	if !p.rx.woken.Load() {
		t.Error("not woken when frames came back to the pool")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.waiting) != 0 {
		t.Errorf("%d ports still wait after the pool woke them", len(u.waiting))
	}
}

// checkOwners checks that every frame of u is in the pool once and marked
// free, or owned by a socket of u.
func checkOwners(t *testing.T, u *UMEM) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	inPool := make([]bool, len(u.owner))
	for _, a := range u.free {
		i := a >> u.shift
		if inPool[i] || u.owner[i].Load() != ownerFree {
			t.Fatalf("frame %d is in the pool twice or with an owner", i)
		}
		inPool[i] = true
	}
	open := map[uint32]bool{}
	for _, s := range u.socks {
		open[s.rxOwner], open[s.txOwner] = true, true
	}
	for i := range u.owner {
		if o := u.owner[i].Load(); !inPool[i] && !open[o] {
			t.Fatalf("frame %d is neither in the pool nor owned by an open socket (owner %d)", i, o)
		}
	}
}

package afxdp

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/nstest"
)

// TestManyPorts opens many ports on one UMEM, forwarding in pairs. One pair
// carries a stream while every other port gets a burst as large as its
// floor from its guest, all at once: each burst must reach the guest at the
// other end of the pair, and the stream must flow. The UMEM's frames are
// counted after the traffic, after half the ports close and after all do.
func TestManyPorts(t *testing.T) {
	const ports = 128
	e := newEnv(t, 4096)
	ps := make([]*Port, ports)
	gs := make([]*nstest.Raw, ports)
	for i := range ports {
		ps[i], gs[i] = e.port(fmt.Sprintf("m%d", i), fmt.Sprintf("h%d", i), Config{})
	}
	var dones []chan struct{}
	for i := 0; i < ports; i += 2 {
		dones = append(dones, forward(ps[i], ps[i+1]), forward(ps[i+1], ps[i]))
	}
	floor := int(e.umem.floor(uint32(DefaultConfig().RxRingSize)))
	if floor < 2 {
		t.Fatalf("a floor of %d frames", floor)
	}

	// The stream, paced as in TestForwardWithoutCopies.
	const n, size = 20000, 100
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		expect(t, func() ([]byte, bool) { return gs[1].Recv(t, 2*time.Second) }, n, size)
	}()
	go func() {
		for i := range n {
			gs[0].Send(t, frame(1, uint32(i), size))
			if i%maxFloor == maxFloor-1 {
				waitFor(func() bool { return ps[0].Stats().RxPackets > uint64(i) })
			}
		}
	}()

	// The bursts: every idle guest sends floor frames at once, while the
	// stream flows.
	time.Sleep(50 * time.Millisecond)
	for i := 2; i < ports; i++ {
		for k := range floor {
			gs[i].Send(t, burstFrame(i, k))
		}
	}
	var wg sync.WaitGroup
	for i := 2; i < ports; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := i ^ 1
			got := make([]bool, floor)
			for range floor {
				f, ok := gs[i].Recv(t, 2*time.Second)
				if !ok {
					break
				}
				if src, k := int(binary.BigEndian.Uint16(f[14:])), int(binary.BigEndian.Uint16(f[16:])); src == from && k < floor {
					got[k] = true
				}
			}
			for k, ok := range got {
				if !ok {
					t.Errorf("port %d: frame %d of its burst of %d never reached port %d's guest", from, k, floor, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-streamed
	if t.Failed() {
		return
	}

	// Idle ports keep no more than their floor in their fill rings.
	checkFrames(t, e.umem)
	for i := 2; i < ports; i++ {
		if held := e.umem.held(ps[i].queues[0].rxOwner); held > maxFloor {
			t.Errorf("idle port %d holds %d frames for receiving, more than %d", i, held, maxFloor)
		}
	}
	var closed []*Port
	for i := 0; i < ports; i += 2 {
		ps[i].Close()
		closed = append(closed, ps[i])
	}
	waitClosed(closed)
	checkFrames(t, e.umem)
	for i := 1; i < ports; i += 2 {
		ps[i].Close()
	}
	for _, d := range dones {
		<-d
	}
	if free := e.umem.Free(); free != e.umem.Frames() {
		t.Errorf("%d of %d UMEM frames free once every port is closed", free, e.umem.Frames())
	}
}

// burstFrame is frame k of port i's burst: the port and k after the
// header, where frame puts its sequence number.
func burstFrame(i, k int) []byte {
	f := frame(byte(i), 0, 64)
	binary.BigEndian.PutUint16(f[14:], uint16(i))
	binary.BigEndian.PutUint16(f[16:], uint16(k))
	return f
}

// waitClosed waits for the Receive loops of closed ports to tear them
// down.
func waitClosed(ps []*Port) {
	for _, p := range ps {
		waitFor(func() bool {
			p.tx.mu.Lock()
			defer p.tx.mu.Unlock()
			return p.tx.down
		})
	}
}

// held counts the frames owned by owner.
func (u *UMEM) held(owner uint32) int {
	n := 0
	for i := range u.owner {
		if u.owner[i].Load() == owner {
			n++
		}
	}
	return n
}

// checkFrames checks that every frame of u has one owner: the pool, where
// it is once and marked free, or an open socket. A frame on its way out of
// the pool is in neither for a moment, so the check is tried again for up
// to a second before it fails.
func checkFrames(t *testing.T, u *UMEM) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err = u.audit(); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Error(err)
	}
}

func (u *UMEM) audit() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	inPool := make([]bool, len(u.owner))
	for _, a := range u.free {
		i := a >> u.shift
		switch {
		case inPool[i]:
			return fmt.Errorf("frame %d is in the pool twice", i)
		case u.owner[i].Load() != ownerFree:
			return fmt.Errorf("frame %d is in the pool and owned by %d", i, u.owner[i].Load())
		}
		inPool[i] = true
	}
	open := map[uint32]bool{}
	for _, s := range u.socks {
		open[s.rxOwner], open[s.txOwner] = true, true
	}
	for i := range u.owner {
		if o := u.owner[i].Load(); !inPool[i] && !open[o] {
			return fmt.Errorf("frame %d is neither in the pool nor owned by an open socket (owner %d)", i, o)
		}
	}
	return nil
}

package afxdp

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// drainTimeout bounds how long Close waits for the kernel to complete the
// frames a port has sent before it takes their buffers back.
const drainTimeout = 200 * time.Millisecond

// zeroCopyGrace is how long the frames of a closed zero-copy socket are
// kept out of the pool.
const zeroCopyGrace = 2 * time.Second

// handles are the port's descriptors besides the sockets', which Close and
// KernelDrops may use while teardown closes them; mu guards them and the
// sockets' descriptors.
type handles struct {
	mu sync.Mutex
	// evfd wakes a Receive waiting in the netpoller when the port
	// closes, or when the pool has frames for it; -1 once closed.
	evfd int
	// promfd is an AF_PACKET socket that receives nothing and holds the
	// interface promiscuous; -1 once closed. Only Open and teardown use it.
	promfd int
	// last holds the kernel's drop counters of the closed sockets: ring
	// full, and dropped.
	last [2]uint64
}

// Close implements dataplane.Port. It wakes a blocked Receive. The sockets
// close once the dataplane no longer uses frames the port returned: at
// once, or at the next Receive.
func (p *Port) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	var one [8]byte
	one[0] = 1
	p.h.mu.Lock() // a Receive that sees the close may be tearing down
	if p.h.evfd >= 0 {
		unix.Write(p.h.evfd, one[:])
	}
	p.h.mu.Unlock()
	p.rx.mu.Lock()
	defer p.rx.mu.Unlock()
	if !p.rx.holding {
		p.teardown()
	}
	return nil
}

// teardown waits briefly for frames in flight, closes the sockets and
// returns every frame they owned to the pool; under rx.mu, or in Open.
func (p *Port) teardown() {
	t := &p.tx
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.down {
		return
	}
	t.down = true
	if t.q != nil {
		p.drain()
	}
	u := p.umem
	u.leave(p)
	p.rx.w.close()
	// The last counters and the close in one step, so KernelDrops never
	// counts a socket twice or goes back.
	p.h.mu.Lock()
	for _, s := range p.queues {
		if st, err := s.stats(); err == nil {
			full, long := kernelDrops(st)
			p.h.last[0] += full
			p.h.last[1] += long
		}
		s.close()
	}
	p.h.mu.Unlock()
	for _, s := range p.queues {
		if s.zeroCopy {
			// The kernel lets go of a zero-copy queue later than close:
			// until then the driver may still write to its fill
			// frames or read its TX frames.
			id := s.id
			time.AfterFunc(zeroCopyGrace, func() { u.reclaim(id) })
			continue
		}
		u.reclaim(s.id)
	}
	t.spare = t.spare[:0]
	p.h.mu.Lock()
	if p.h.evfd >= 0 {
		unix.Close(p.h.evfd)
		p.h.evfd = -1
	}
	p.h.mu.Unlock()
	if p.h.promfd >= 0 {
		unix.Close(p.h.promfd)
		p.h.promfd = -1
	}
	if p.ownUMEM {
		u.Close()
	}
}

// drain waits up to drainTimeout for the kernel to complete the frames in
// flight, and puts the frames on their way back into the pool; under tx.mu.
func (p *Port) drain() {
	t := &p.tx
	deadline := time.Now().Add(drainTimeout)
	for t.done < t.posted && time.Now().Before(deadline) {
		p.kick()
		if t.done < t.posted {
			time.Sleep(time.Millisecond)
		}
	}
	p.putBack()
	p.c.addTx(&t.n)
}

// KernelDrops implements dataplane.KernelDropper: frames the kernel dropped
// because the RX ring was full or the fill ring empty, and frames longer
// than a UMEM frame on sockets without multi-buffer (or otherwise refused
// by the socket), or longer than the MTU allows.
func (p *Port) KernelDrops() (ringFull, truncated uint64) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	ringFull, truncated = p.h.last[0], p.h.last[1]+p.rx.tooLong.Load()
	for _, s := range p.queues {
		if s.fd < 0 {
			continue
		}
		if st, err := s.stats(); err == nil {
			full, long := kernelDrops(st)
			ringFull += full
			truncated += long
		}
	}
	return
}

// kernelDrops splits a socket's drop counters: frames that found the RX
// ring full or the fill ring empty, and the others (too long for a UMEM
// frame). The kernel counts a frame that found no fill entry in both
// rx_dropped and rx_fill_ring_empty_descs.
func kernelDrops(st unix.XDPStatistics) (full, long uint64) {
	full = st.Rx_ring_full + st.Rx_fill_ring_empty_descs
	if st.Rx_dropped > st.Rx_fill_ring_empty_descs {
		long = st.Rx_dropped - st.Rx_fill_ring_empty_descs
	}
	return full, long
}

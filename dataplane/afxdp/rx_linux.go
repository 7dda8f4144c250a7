package afxdp

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// rxState is the receive side of a port. Receive holds mu throughout, and
// Close takes it to wait for a Receive; nothing else touches these fields
// but woken.
type rxState struct {
	mu sync.Mutex
	// holding: the dataplane may still use frames the last Receive
	// returned; the next Receive lets go of them, and until then the
	// sockets stay open.
	holding bool
	// w is where Receive sleeps: in the netpoller, until a socket has
	// frames or the eventfd is written.
	w waiter
	// evfd is the port's eventfd (Port.h.evfd), read here to clear it.
	evfd int
	// woken is set by Close and by the pool before they write the
	// eventfd; Receive clears it.
	woken atomic.Bool
	// next is the queue the next Receive reads first (modulo the number of
	// queues), so that a busy queue cannot starve the others.
	next int
	// spinned: the last Receive returned a full batch, so the next one
	// spins for Config.SpinTime before it sleeps.
	spinned bool
	// need[i] is what the fill ring of queue i is short of; refill's.
	need []uint32
	// frames holds the addresses on their way from the pool, or from a
	// full fill ring back to the pool; at least a ring long.
	frames []uint64
	// joins holds, in slots of slot bytes, the multi-buffer frames the
	// last Receive joined into one piece, joined of them (see join); made
	// on the first such frame.
	joins        []byte
	slot, joined int
	// tooLong counts the multi-buffer frames dropped for being longer than
	// the MTU allows.
	tooLong atomic.Uint64
}

func (r *rxState) init(queues []*xsk, cfg Config, u *UMEM) {
	r.need = make([]uint32, len(queues))
	r.frames = make([]uint64, max(cfg.RxRingSize, min(len(queues)*cfg.RxRingSize, u.Frames())))
}

// openWaiter puts the sockets and the eventfd in the port's epoll
// instance.
func (p *Port) openWaiter() error {
	fds := []int{p.h.evfd}
	for _, s := range p.queues {
		fds = append(fds, s.fd)
	}
	p.rx.evfd = p.h.evfd
	return p.rx.w.open(fds, p.ready)
}

// ready reports whether Receive has work: frames on an RX ring, a close,
// or frames in the pool for fill rings that ran dry. Called by the waiting
// Receive only.
func (p *Port) ready() bool {
	if p.closed.Load() {
		return true
	}
	if p.rx.woken.Swap(false) {
		var b [8]byte
		unix.Read(p.rx.evfd, b[:])
		return true
	}
	for _, s := range p.queues {
		if s.rx.avail() > 0 {
			return true
		}
	}
	return false
}

// Receive implements dataplane.Port. It returns frames as soon as any
// socket has some; it spins while frames flow and sleeps in poll(2)
// otherwise.
func (p *Port) Receive(frames []dataplane.Frame) (int, error) {
	r := &p.rx
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.closed.Load() {
		p.teardown()
		return 0, p.closedErr()
	}
	p.recycle()
	p.refill(false) // frames other ports took are replaced from the pool
	var spinUntil time.Time
	for {
		if n := p.receive(frames); n > 0 {
			// Only a full batch says more frames are coming: after a
			// short one, spinning would take the CPU from the guests
			// that are to answer it.
			r.holding, r.spinned = true, n == len(frames)
			return n, nil
		}
		if p.closed.Load() {
			p.teardown()
			return 0, p.closedErr()
		}
		if r.spinned && p.cfg.SpinTime > 0 {
			now := time.Now()
			if spinUntil.IsZero() {
				spinUntil = now.Add(p.cfg.SpinTime)
			}
			if now.Before(spinUntil) {
				continue
			}
		}
		r.spinned = false
		if err := p.wait(); err != nil {
			return 0, err
		}
	}
}

func (p *Port) closedErr() error { return opError(p.name, "receive", net.ErrClosed) }

// receive takes up to len(frames) frames from the RX rings, starting with
// the queue after the one that came first last time. The counters are
// added once for the batch.
func (p *Port) receive(frames []dataplane.Frame) int {
	u := p.umem
	n, csums := 0, 0
	var bytes uint64
	p.rx.joined = 0
	for i := range p.queues {
		s := p.queues[(p.rx.next+i)%len(p.queues)]
		start, end := s.rx.local, s.rx.local+s.rx.avail()
		for s.rx.local != end && n < len(frames) {
			d := s.rx.desc(s.rx.local)
			var data []byte
			if d.Options&unix.XDP_PKT_CONTD == 0 {
				s.rx.local++
				s.batch = append(s.batch, d.Addr)
				data = u.frame(d.Addr, int(d.Len))
			} else {
				var ok bool
				if data, ok = p.join(s, end); !ok {
					break // the rest waits for the next Receive
				}
				if data == nil {
					continue // dropped: longer than the port's MTU
				}
			}
			if p.cfg.CompleteChecksums && dataplane.CompletePendingChecksum(data) {
				csums++
			}
			frames[n] = dataplane.Frame{Data: data}
			bytes += uint64(len(data))
			n++
		}
		if s.rx.local != start {
			s.rx.release()
		}
		if n == len(frames) {
			break
		}
	}
	p.rx.next++
	if n > 0 {
		p.c.rxPackets.Add(uint64(n))
		p.c.rxBytes.Add(bytes)
	}
	if csums > 0 {
		p.c.rxCsumCompleted.Add(uint64(csums))
	}
	return n
}

// recycle hands the frames of the last Receive back to their fill rings,
// up to each ring's target, except those another port's Send took; the
// rest go to the pool. Reading each frame's owner is a plain load; the
// owner changes only by a sender's compare-and-swap in UMEM.take, which is
// inherent to handing a frame over without a copy.
func (p *Port) recycle() {
	u := p.umem
	for _, s := range p.queues {
		if len(s.batch) == 0 {
			continue
		}
		room := uint32(0)
		if have := s.fill.local - s.cons; have < s.target {
			room = s.fill.free(s.target - have)
			room = min(room, s.target-have)
		}
		extra := p.rx.frames[:0]
		posted := uint32(0)
		for _, a := range s.batch {
			base := a &^ (u.frameSize - 1)
			if u.owner[a>>u.shift].Load() != s.rxOwner {
				continue // sent without a copy: the sender owns it now
			}
			if posted == room {
				extra = append(extra, base)
				continue
			}
			*s.fill.addr(s.fill.local) = base
			s.fill.local++
			posted++
		}
		if posted > 0 {
			u.inFill.Add(int64(posted))
			s.fill.submit()
			s.wakeFill()
		}
		if len(extra) > 0 {
			u.put(extra)
		}
		s.batch = s.batch[:0]
	}
	p.rx.holding = false
}

// observe takes note of what the kernel took from s's fill ring since the
// last look, and raises the ring's target to twice that, so that the ring
// outlasts the wait for the next Receive, and doubles it when the kernel
// emptied the ring: at least the floor, at most the ring's size. Going to sleep, a port halves the target, down to the
// floor, of a ring that gave less than a quarter of it since it last
// slept. A socket that has never received keeps the target it opened with
// (firstFill).
func (p *Port) observe(s *xsk, sleeping bool) {
	u := p.umem
	c := atomic.LoadUint32(s.fill.cons)
	used := c - s.cons
	s.cons = c
	if used == 0 && !s.active {
		return
	}
	if used > 0 {
		u.inFill.Add(-int64(used))
		s.active = true
		s.used += used
	}
	if 2*used > s.target {
		s.target = min(2*used, s.fill.size)
	}
	if used > 0 && c == s.fill.local {
		// The kernel took all there was: it may have found the ring
		// empty and dropped frames.
		s.target = min(2*s.target, s.fill.size)
	}
	if sleeping {
		if s.used < s.target/4 {
			s.target /= 2
		}
		s.used = 0
	}
	s.target = max(s.target, u.floor(s.fill.size), p.leastFill(s))
}

// leastFill is the fewest frames s's fill ring must hold for the port's
// longest frame to arrive: minFill, or the UMEM frames that frame spans on
// a jumbo link, at most the ring.
func (p *Port) leastFill(s *xsk) uint32 {
	n := Segments(int(p.umem.frameSize), int(p.maxLen.Load())-dataplane.EthHdrLen)
	return min(max(minFill, uint32(n)), s.fill.size)
}

// refill tops every fill ring up to its target (see observe; sleeping says
// the port is about to wait), taking the frames for all
// of them from the pool at once; under rx.mu, or before the port is shared.
// A ring's floor (minFill before its socket first received, or the UMEM
// frames of the longest frame on a jumbo link, if more) comes from the
// pool down to a sixteenth of the UMEM, which is left for senders; above
// it, a ring takes frames only while the fill rings of the UMEM hold less
// than three quarters of it (a quarter, before the socket first received:
// the first fills of idle ports leave busy ones half the UMEM), so that
// ports that fall idle, or never get busy, cannot park the UMEM in their
// rings.
func (p *Port) refill(sleeping bool) {
	r, u := &p.rx, p.umem
	total := 0
	for i, s := range p.queues {
		p.observe(s, sleeping)
		r.need[i] = 0
		have := s.fill.local - s.cons
		if have >= s.target {
			continue
		}
		want := min(s.target-have, s.fill.free(s.target-have))
		// What a ring holds beyond its guaranteed part is lent while the
		// fill rings hold less than their budget.
		least := p.leastFill(s)
		sure, budget := min(max(u.floor(s.fill.size), least), s.target), 3*u.Frames()/4
		if !s.active {
			sure, budget = min(least, s.target), u.Frames()/4
		}
		if have+want > sure {
			extra := have + want - max(sure, have)
			if left := int64(budget) - u.inFill.Load(); int64(extra) > left {
				want -= extra - uint32(max(left, 0))
			}
		}
		r.need[i] = want
		total += int(want)
	}
	if total == 0 {
		return
	}
	got := r.frames[:u.get(r.frames[:min(total, len(r.frames))], u.Frames()/16)]
	for i, s := range p.queues {
		n := min(int(r.need[i]), len(got))
		if n == 0 {
			continue
		}
		for _, a := range got[:n] {
			u.owner[a>>u.shift].Store(s.rxOwner)
			*s.fill.addr(s.fill.local) = a
			s.fill.local++
		}
		u.inFill.Add(int64(n))
		got = got[n:]
		s.fill.submit()
		s.wakeFill()
	}
}

// firstFill is the fill target of a socket that has not received yet, and
// minFill the part of it it is sure to get, whatever the other sockets hold.
const (
	firstFill = 64
	minFill   = 2
)

// wait sleeps until a socket has frames or the port closes. The fill rings
// are topped up first; when the pool had nothing for them, the port asks the
// pool to wake it when frames come back, instead of trying again on a timer.
func (p *Port) wait() error {
	p.refill(true)
	for _, s := range p.queues {
		if s.fill.pending() == 0 {
			p.umem.wakeWhenFree(p)
			break
		}
	}
	if err := p.rx.w.wait(); err != nil {
		return opError(p.name, "wait", err)
	}
	return nil
}

// wake makes a waiting Receive return to its loop: it refills.
func (p *Port) wake() {
	p.rx.woken.Store(true)
	p.h.mu.Lock()
	if p.h.evfd >= 0 {
		var one [8]byte
		one[0] = 1
		unix.Write(p.h.evfd, one[:])
	}
	p.h.mu.Unlock()
}

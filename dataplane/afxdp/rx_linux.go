package afxdp

import (
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// rxState is the receive side of a port. Receive holds mu throughout, and
// Close takes it to wait for a Receive; nothing else touches these fields.
type rxState struct {
	mu sync.Mutex
	// holding: the dataplane may still use frames the last Receive
	// returned; the next Receive lets go of them, and until then the
	// sockets stay open.
	holding bool
	// pfds has one entry per socket, then the eventfd Close writes to;
	// their Revents are cleared before each poll.
	pfds []unix.PollFd
	// next is the queue the next Receive reads first (modulo the number of
	// queues), so that a busy queue cannot starve the others.
	next int
	// spinned: the last Receive returned frames, so the next one spins for
	// Config.SpinTime before it sleeps.
	spinned bool
	// hungry counts the waits in a row that found a fill ring empty, up to
	// 7; the wait's timeout doubles with each.
	hungry int
	// need[i] is what the fill ring of queue i is short of, floor[i] the
	// part of it below the socket's floor; refill's.
	need, floor []uint32
	// owes is the sum of floor after the last refill, what this port adds
	// to UMEM.owed.
	owes int
	// frames holds the addresses on their way from the pool, or from a
	// full fill ring back to the pool; at least a ring long.
	frames []uint64
}

func (r *rxState) init(queues []*xsk, evfd int, cfg Config, u *UMEM) {
	r.need = make([]uint32, len(queues))
	r.floor = make([]uint32, len(queues))
	r.frames = make([]uint64, max(cfg.RxRingSize, min(len(queues)*cfg.RxRingSize, u.Frames())))
	for _, s := range queues {
		r.pfds = append(r.pfds, unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN})
	}
	r.pfds = append(r.pfds, unix.PollFd{Fd: int32(evfd), Events: unix.POLLIN})
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
	p.refill()
	var spinUntil time.Time
	for {
		if n := p.receive(frames); n > 0 {
			r.holding, r.spinned = true, true
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
	for i := range p.queues {
		s := p.queues[(p.rx.next+i)%len(p.queues)]
		avail := min(s.rx.avail(), uint32(len(frames)-n))
		for range avail {
			d := s.rx.desc(s.rx.local)
			s.rx.local++
			s.batch = append(s.batch, d.Addr)
			data := u.frame(d.Addr, int(d.Len))
			if p.cfg.CompleteChecksums && dataplane.CompletePendingChecksum(data) {
				csums++
			}
			frames[n] = dataplane.Frame{Data: data}
			bytes += uint64(d.Len)
			n++
		}
		if avail > 0 {
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

// recycle lets go of the frames of the last Receive: each socket keeps the
// ones no sender took, for refill. Reading each frame's owner is a plain
// load; the owner changes only by a sender's compare-and-swap in
// UMEM.take, which is inherent to handing a frame over without a copy.
func (p *Port) recycle() {
	u := p.umem
	for _, s := range p.queues {
		kept := s.batch[:0]
		for _, a := range s.batch {
			if u.owner[a>>u.shift].Load() == s.rxOwner {
				kept = append(kept, a&^(u.frameSize-1))
			}
		}
		s.batch = kept
	}
	p.rx.holding = false
}

// refill sets every fill ring's target from what the kernel took out of it
// since the last refill (twice that, on top of the floor: demand may grow
// until the next one; the highest of the last peakHold) and tops the ring
// up to it: with the frames the socket kept from its last Receive, then
// from the pool, floors first. Kept frames beyond the target go back to
// the pool, so a socket that falls idle shrinks to its floor as it receives
// its last frames. A port of one queue either returns frames or borrows
// them: one lock of the pool, two when it runs short. Under rx.mu, or
// before the port is shared.
func (p *Port) refill() {
	r, u := &p.rx, p.umem
	ring := uint32(p.cfg.RxRingSize)
	floor, most := u.floor(ring), u.fillMax(ring)
	surplus := r.frames[:0]
	floors, total, posted := 0, 0, false
	now := time.Now()
	for i, s := range p.queues {
		have := s.fill.pending()
		cons := s.fill.local - have
		target := s.target(floor+2*(cons-s.taken), most, now)
		s.taken = cons
		room := s.fill.free(ring)
		k := 0
		for ; k < len(s.batch) && have < target && room > 0; k++ {
			*s.fill.addr(s.fill.local) = s.batch[k]
			s.fill.local++
			have++
			room--
		}
		if k > 0 {
			s.fill.submit()
			posted = true
		}
		surplus = append(surplus, s.batch[k:]...)
		s.batch = s.batch[:0]
		r.floor[i], r.need[i] = 0, 0
		if have < target {
			r.need[i] = min(target-have, room)
			r.floor[i] = min(r.need[i], floor-min(have, floor))
		}
		floors += int(r.floor[i])
		total += int(r.need[i])
	}
	if len(surplus) > 0 {
		u.put(surplus)
	}
	if total = min(total, len(r.frames)); total > 0 {
		got := u.lend(r.frames[:total], min(floors, total))
		if got < total && u.collect(nil) {
			got += u.lend(r.frames[got:total], max(floors-got, 0))
		}
		p.give(p.give(r.frames[:got], r.floor), r.need)
		posted = posted || got > 0
	}
	owes := 0
	for _, f := range r.floor {
		owes += int(f)
	}
	if owes != r.owes {
		u.owed.Add(int64(owes - r.owes))
		r.owes = owes
	}
	if posted {
		for _, s := range p.queues {
			s.wakeFill()
		}
	}
}

// peakHold is how long a fill ring keeps the depth its busiest refill
// asked for: a Receive loop that loses its CPU for a few milliseconds
// must find frames in the ring when it gets it back.
const peakHold = 50 * time.Millisecond

// target returns the fill ring's target, for a demand of want frames: the
// peak of the last peakHold, at most most.
func (s *xsk) target(want, most uint32, now time.Time) uint32 {
	if want >= s.peak || now.Sub(s.peakAt) > peakHold {
		s.peak, s.peakAt = want, now
	}
	return min(s.peak, most)
}

// give posts frames from the pool to the fill rings, up to want[i] to
// queue i, and returns the frames left. What it posts counts against both
// the floors and the needs.
func (p *Port) give(frames []uint64, want []uint32) []uint64 {
	r, u := &p.rx, p.umem
	for i, s := range p.queues {
		n := min(want[i], uint32(len(frames)))
		if n == 0 {
			continue
		}
		for _, a := range frames[:n] {
			u.owner[a>>u.shift].Store(s.rxOwner)
			*s.fill.addr(s.fill.local) = a
			s.fill.local++
		}
		frames = frames[n:]
		r.floor[i] -= min(r.floor[i], n)
		r.need[i] -= n
		s.fill.submit()
	}
	return frames
}

// wait sleeps until a socket has frames or the port closes. The fill rings
// are topped up first; when the pool had nothing for them the sleep is
// short, to try again.
func (p *Port) wait() error {
	r := &p.rx
	p.refill()
	timeout := -1
	for _, s := range p.queues {
		if s.fill.pending() == 0 {
			// The pool had nothing: try again later, less often the
			// longer it lasts, so that ports waiting for frames do not
			// take the CPU from the ports that hold them.
			r.hungry = min(r.hungry+1, 7)
			timeout = 1 << r.hungry // 2 ms up to 128 ms
		}
	}
	if timeout < 0 {
		r.hungry = 0
	}
	for i := range r.pfds {
		r.pfds[i].Revents = 0
	}
	_, err := unix.Poll(r.pfds, timeout)
	if err != nil && err != unix.EINTR {
		return opError(p.name, "poll", err)
	}
	return nil
}

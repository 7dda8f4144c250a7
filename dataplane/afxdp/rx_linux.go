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
	// need[i] is what the fill ring of queue i is short of; refill's.
	need []uint32
	// frames holds the addresses on their way from the pool, or from a
	// full fill ring back to the pool; at least a ring long.
	frames []uint64
}

func (r *rxState) init(queues []*xsk, evfd int, cfg Config, u *UMEM) {
	r.need = make([]uint32, len(queues))
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
	p.refill() // frames other ports took are replaced from the pool
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

// recycle hands the frames of the last Receive back to their fill rings,
// except those another port's Send took. Reading each frame's owner is a
// plain load; the owner changes only by a sender's compare-and-swap in
// UMEM.take, which is inherent to handing a frame over without a copy.
func (p *Port) recycle() {
	u := p.umem
	for _, s := range p.queues {
		if len(s.batch) == 0 {
			continue
		}
		room := s.fill.free(uint32(len(s.batch)))
		extra := p.rx.frames[:0]
		posted := false
		for _, a := range s.batch {
			base := a &^ (u.frameSize - 1)
			if u.owner[a>>u.shift].Load() != s.rxOwner {
				continue // sent without a copy: the sender owns it now
			}
			if room == 0 {
				extra = append(extra, base)
				continue
			}
			*s.fill.addr(s.fill.local) = base
			s.fill.local++
			room--
			posted = true
		}
		if posted {
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

// refill tops every fill ring up to its share of the UMEM, taking the
// frames for all of them from the pool at once; under rx.mu, or before the
// port is shared. It leaves a sixteenth of the UMEM in the pool for
// senders.
func (p *Port) refill() {
	r, u := &p.rx, p.umem
	target := u.fillTarget(uint32(p.cfg.RxRingSize))
	total := 0
	for i, s := range p.queues {
		r.need[i] = 0
		if have := s.fill.pending(); have < target {
			r.need[i] = min(target-have, s.fill.free(target-have))
			total += int(r.need[i])
		}
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
		got = got[n:]
		s.fill.submit()
		s.wakeFill()
	}
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

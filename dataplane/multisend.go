package dataplane

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
)

// A MultiSender sends frames to the devices of many ports in one call, so
// that a flood to a thousand ports costs the worker a few system calls, not
// a thousand. It reaches only ports of its own kind (Reaches); the others
// are sent to with their own Send.
type MultiSender interface {
	// BatchSize is the most frames Send hands to the kernel at once: what
	// a worker queues for it before it sends.
	BatchSize() int
	// Reaches reports whether Send can send to p's device in place of
	// p.Send. It is asked once, when p is attached.
	Reaches(p Port) bool
	// Send transmits frames[i] to the device of port to[i], in order, until
	// one is refused, as Port.Send does: it returns n, the number handed to
	// the devices, and when n < len(frames) an error saying why frames[n]
	// failed. Many goroutines may call it at once; it keeps no frame after
	// it returns.
	Send(frames []Frame, to []Port) (n int, err error)
}

// multiTx is a bridge's MultiSender and what makes RemovePort wait for the
// frames a worker is handing it: nothing is sent to a port once
// RemovePort has detached it.
type multiTx struct {
	ms MultiSender // nil: every port is sent with its own Send; immutable
	// gate is held for reading by a worker from its check of its ports'
	// gone flags to the end of its Send, and taken for writing by detach
	// to wait for those that may have seen a port before it went.
	gate sync.RWMutex
}

// multiPort is a port's side of its bridge's multiTx.
type multiPort struct {
	reached bool        // the bridge's MultiSender sends the port's frames; set before the port is published
	gone    atomic.Bool // the port is being removed: frames queued for it are dropped
}

// attach decides whether q's frames go through the MultiSender; before q
// is published.
func (t *multiTx) attach(q *port) {
	q.mtx.reached = t.ms != nil && t.ms.Reaches(q.p)
}

// detach stops the sending of q's frames through the MultiSender: when it
// returns, no worker sends any more.
func (t *multiTx) detach(q *port) {
	if !q.mtx.reached {
		return
	}
	q.mtx.gone.Store(true)
	t.gate.Lock()
	t.gate.Unlock() //nolint:staticcheck // an empty critical section: waiting for the senders is the point
}

// multiQueue is a worker's queue of frames for the ports its bridge's
// MultiSender reaches, of all of them at once, in the order the worker
// forwarded them: a port's frames keep their order.
type multiQueue struct {
	frames []Frame // grown on use up to cap
	to     []Port  // to[i] is frames[i]'s egress port's Port
	owner  []*port // owner[i] is frames[i]'s egress port
	cap    int     // the MultiSender's BatchSize: the queue is sent when it holds that many
}

// addMulti queues a copy of f for e, which the MultiSender reaches, sending
// the queue first when it is full, and returns the copy.
func (w *worker) addMulti(e *port, f *Frame) *Frame {
	q := &w.mq
	if len(q.frames) >= q.cap {
		w.flushMulti()
	}
	q.frames = append(q.frames, *f)
	q.to = append(q.to, e.p)
	q.owner = append(q.owner, e)
	return &q.frames[len(q.frames)-1]
}

// flushMulti sends the frames queued for the MultiSender, skipping (and
// counting for its port) each frame it refuses, and empties the queue.
func (w *worker) flushMulti() {
	q := &w.mq
	if len(q.frames) == 0 {
		return
	}
	t := &w.b.tx
	t.gate.RLock()
	frames, to, owner := q.dropGone()
	for len(frames) > 0 {
		n, err := t.ms.Send(frames, to)
		countSent(frames[:n], owner[:n])
		if err == nil || n >= len(frames) {
			break
		}
		c := &owner[n].c
		if errors.Is(err, syscall.EMSGSIZE) {
			c.txDrops[DropMTU].Add(1)
		} else {
			c.txDrops[DropTxError].Add(1)
		}
		frames, to, owner = frames[n+1:], to[n+1:], owner[n+1:]
	}
	t.gate.RUnlock()
	clear(q.frames) // drop references into the ingress port's buffers
	clear(q.to)
	clear(q.owner)
	q.frames, q.to, q.owner = q.frames[:0], q.to[:0], q.owner[:0]
}

// dropGone takes the frames of ports being removed out of the queue,
// counting them, and returns what is left. Under the gate.
func (q *multiQueue) dropGone() ([]Frame, []Port, []*port) {
	n := 0
	for i := 0; i < len(q.frames); {
		e := q.owner[i]
		j := i + 1
		for j < len(q.frames) && q.owner[j] == e {
			j++
		}
		if e.mtx.gone.Load() {
			e.c.txDrops[DropPortRemoved].Add(uint64(j - i))
		} else {
			if n != i {
				copy(q.frames[n:], q.frames[i:j])
				copy(q.to[n:], q.to[i:j])
				copy(q.owner[n:], q.owner[i:j])
			}
			n += j - i
		}
		i = j
	}
	return q.frames[:n], q.to[:n], q.owner[:n]
}

// countSent counts frames, which were sent, for their ports owner, once per
// run of frames of the same port.
func countSent(frames []Frame, owner []*port) {
	for i := 0; i < len(frames); {
		e := owner[i]
		var bytes uint64
		j := i
		for ; j < len(frames) && owner[j] == e; j++ {
			bytes += uint64(len(frames[j].Data))
		}
		e.capture(frames[i:j], Out)
		e.mirrorOut(frames[i:j])
		e.c.txPackets.Add(uint64(j - i))
		e.c.txBytes.Add(bytes)
		i = j
	}
}

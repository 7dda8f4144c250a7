package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xswitch/xswitch/fdb"
)

// A Receiver delivers the frames of many ports, each with the ifindex it
// entered on.
type Receiver interface {
	BatchSize() int
	// Receive blocks until at least one frame is available and fills
	// frames[:n] and ifindex[:n]. Data stays valid until the next Receive.
	// After Close it returns an error satisfying errors.Is(err, net.ErrClosed).
	Receive(frames []Frame, ifindex []int32) (n int, err error)
	Close() error
}

// ErrSharedClosed is returned by AddPort for a port whose Shared is closed.
var ErrSharedClosed = errors.New("shared receiver closed")

// SharedStats are the figures of a Shared.
type SharedStats struct {
	Ports   int    // ports registered
	Frames  uint64 // frames received, of known ports or not
	Batches uint64 // Receive calls that returned frames
	// Unknown counts the frames dropped because no attached port has
	// their ifindex (e.g. one that arrived after its port was removed).
	Unknown uint64
}

// Shared forwards what one Receiver delivers, for ports of any bridge: a
// port attached with PortInfo.Shared has no goroutine of its own, and its
// frames are forwarded exactly as its own worker would (learning, policy,
// counters), in one forward pass per run of frames of the same ingress and
// one Send per egress port and batch.
//
// RemovePort of such a port returns only once no frame of it can be
// forwarded any more: it takes the port out of the table, then waits for the
// batch in progress, the only one that may still hold the old table, to end.
// Frames of the port received later are dropped as Unknown.
type Shared struct {
	r   Receiver
	log *slog.Logger

	mu      sync.Mutex                // serializes changes of table, bridges and closed
	table   atomic.Pointer[portTable] // loaded once per batch; replaced, never modified
	bridges map[*Bridge]*sharedBridge // the bridges with registered ports; under mu
	closed  bool                      // Close was called: no port may register; under mu

	// batchMu is held by the goroutine from the load of the table to the
	// end of the batch, so that unregister can wait for a batch that may
	// still hold the table from before.
	batchMu sync.Mutex

	frames, batches, unknown atomic.Uint64
	closeOnce                sync.Once
	closeErr                 error         // what closing r returned; set in closeOnce
	done                     chan struct{} // closed when the goroutine has returned
}

// portTable maps an ingress ifindex to its port and the worker of its bridge.
type portTable struct {
	ports   map[int32]sharedPort
	bridges int // distinct workers in ports
}

type sharedPort struct {
	w *worker // the Shared's worker of the port's bridge
	p *port
}

// sharedBridge is the Shared's forwarding state of one bridge.
type sharedBridge struct {
	w     *worker // its egress queues are used by the goroutine only
	ports int     // registered ports of the bridge; the entry goes at 0
}

// NewShared starts forwarding the frames r delivers. The Shared owns r and
// closes it in Close.
func NewShared(r Receiver, log *slog.Logger) *Shared {
	s := newShared(r, log)
	go s.run()
	return s
}

// newShared returns a Shared whose goroutine is not started.
func newShared(r Receiver, log *slog.Logger) *Shared {
	if log == nil {
		log = slog.Default()
	}
	s := &Shared{
		r:       r,
		log:     log.With("receiver", "shared"),
		bridges: make(map[*Bridge]*sharedBridge),
		done:    make(chan struct{}),
	}
	s.table.Store(&portTable{})
	return s
}

// Close closes the receiver and waits for the goroutine to return. Ports
// still attached receive nothing more; they are removed as usual.
func (s *Shared) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeOnce.Do(func() { s.closeErr = s.r.Close() })
	<-s.done
	return s.closeErr
}

// Stats returns the Shared's figures.
func (s *Shared) Stats() SharedStats {
	return SharedStats{
		Ports:   len(s.table.Load().ports),
		Frames:  s.frames.Load(),
		Batches: s.batches.Load(),
		Unknown: s.unknown.Load(),
	}
}

// register makes the frames of q's ifindex q's, for bridge b. They are
// forwarded once b's port set holds q too.
func (s *Shared) register(b *Bridge, q *port) error {
	idx := int32(q.info.Ifindex)
	if q.info.Ifindex <= 0 || int(idx) != q.info.Ifindex {
		return fmt.Errorf("shared receiver needs the ifindex, not %d", q.info.Ifindex)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSharedClosed
	}
	old := s.table.Load()
	if _, dup := old.ports[idx]; dup {
		return fmt.Errorf("ifindex %d is already another port's", idx)
	}
	sb := s.bridges[b]
	if sb == nil {
		sb = &sharedBridge{w: newWorker(b, nil, s.r.BatchSize())}
		s.bridges[b] = sb
	}
	sb.ports++
	t := &portTable{ports: make(map[int32]sharedPort, len(old.ports)+1), bridges: len(s.bridges)}
	for k, v := range old.ports {
		t.ports[k] = v
	}
	t.ports[idx] = sharedPort{w: sb.w, p: q}
	s.table.Store(t)
	return nil
}

// unregister ends the forwarding of q's frames: when it returns, none is
// forwarded any more.
func (s *Shared) unregister(b *Bridge, q *port) {
	idx := int32(q.info.Ifindex)
	s.mu.Lock()
	old := s.table.Load()
	if e, ok := old.ports[idx]; !ok || e.p != q {
		s.mu.Unlock()
		return
	}
	if sb := s.bridges[b]; sb != nil {
		if sb.ports--; sb.ports == 0 {
			delete(s.bridges, b)
		}
	}
	t := &portTable{ports: make(map[int32]sharedPort, len(old.ports)), bridges: len(s.bridges)}
	for k, v := range old.ports {
		if k != idx {
			t.ports[k] = v
		}
	}
	s.table.Store(t)
	s.mu.Unlock()
	// Only a batch begun before the Store can still hold q; the next one
	// loads the new table.
	s.batchMu.Lock()
	s.batchMu.Unlock() //nolint:staticcheck // an empty critical section: waiting for the batch is the point
}

// run is the forwarding loop. It ends when the receiver is closed.
func (s *Shared) run() {
	defer close(s.done)
	l := newSharedLoop(s)
	backoff := time.Duration(0)
	for {
		n, err := s.r.Receive(l.rx, l.ifindex)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = receiveFailed(s.log, err, backoff)
			continue
		}
		backoff = 0
		s.batchMu.Lock()
		l.forward(l.rx[:n], l.ifindex[:n])
		s.batchMu.Unlock()
	}
}

// sharedLoop is the goroutine's state: its receive buffers and the workers
// of the batch in progress.
type sharedLoop struct {
	s       *Shared
	rx      []Frame
	ifindex []int32
	// touched are the workers that passed frames in this batch, each with
	// its batchSet; empty between batches.
	touched []*worker
}

func newSharedLoop(s *Shared) *sharedLoop {
	bs := max(s.r.BatchSize(), 1)
	return &sharedLoop{s: s, rx: make([]Frame, bs), ifindex: make([]int32, bs)}
}

// forward forwards one batch: a pass per run of frames of the same ingress
// port, then one flush per bridge. The table is loaded once.
func (l *sharedLoop) forward(frames []Frame, ifindex []int32) {
	t := l.s.table.Load()
	if cap(l.touched) < t.bridges {
		l.touched = make([]*worker, 0, t.bridges)
	}
	now := fdb.Now()
	var unknown uint64
	for i := 0; i < len(frames); {
		idx := ifindex[i]
		j := i + 1
		for j < len(frames) && ifindex[j] == idx {
			j++
		}
		run := frames[i:j]
		i = j
		e, ok := t.ports[idx]
		if !ok {
			unknown += uint64(len(run))
			continue
		}
		w := e.w
		if w.batchSet == nil {
			w.batchSet = w.begin()
			l.touched = append(l.touched, w)
		}
		if w.batchSet.get(e.p.id) != e.p {
			// Registered, but AddPort has not published it yet.
			unknown += uint64(len(run))
			continue
		}
		w.pass(e.p, w.batchSet, run, now)
	}
	for _, w := range l.touched {
		w.flush(w.batchSet)
		w.batchSet = nil
	}
	clear(l.touched)
	l.touched = l.touched[:0]

	s := l.s
	s.frames.Add(uint64(len(frames)))
	s.batches.Add(1)
	if unknown != 0 {
		s.unknown.Add(unknown)
	}
}

// Package porttest provides an in-memory dataplane.Port, so the forwarding
// logic can be tested in-process, fast and without privileges.
package porttest

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/xswitch/xswitch/dataplane"
)

var _ dataplane.Port = (*Port)(nil)

// Port is a channel-backed port. Frames given to Inject come out of Receive;
// frames passed to Send are recorded for Sent and WaitSent.
type Port struct {
	name  string
	batch int
	// MTU, when non-zero, makes Send refuse frames longer than MTU plus an
	// Ethernet header with EMSGSIZE, as a device does.
	MTU int

	in     chan dataplane.Frame
	closed chan struct{}
	once   sync.Once
	rxBuf  [][]byte // per batch slot, the copy Receive hands out; reused, like a ring

	mu   sync.Mutex
	cond *sync.Cond        // signalled on every Send; under mu
	sent []dataplane.Frame // deep copies of what Send accepted; under mu
}

// New returns a port whose Receive returns at most batch frames at a time.
func New(name string, batch int) *Port {
	p := &Port{
		name:   name,
		batch:  batch,
		in:     make(chan dataplane.Frame, 4096),
		closed: make(chan struct{}),
		rxBuf:  make([][]byte, batch),
	}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// Name implements dataplane.Port.
func (p *Port) Name() string { return p.name }

// BatchSize implements dataplane.Port.
func (p *Port) BatchSize() int { return p.batch }

// Inject queues raw frames to be received by the switch.
func (p *Port) Inject(frames ...[]byte) {
	for _, f := range frames {
		p.InjectFrame(dataplane.Frame{Data: f})
	}
}

// InjectFrame queues a frame with its metadata.
func (p *Port) InjectFrame(f dataplane.Frame) {
	select {
	case p.in <- f:
	case <-p.closed:
	}
}

// Receive implements dataplane.Port: it blocks for the first frame, then takes
// whatever else is queued, up to len(frames).
func (p *Port) Receive(frames []dataplane.Frame) (int, error) {
	n := 0
	for n < len(frames) && n < p.batch {
		var f dataplane.Frame
		if n == 0 {
			select {
			case f = <-p.in:
			case <-p.closed:
				return 0, p.errClosed("receive")
			}
		} else {
			select {
			case f = <-p.in:
			default:
				return n, nil
			}
		}
		// Copy into a buffer that the next Receive overwrites, so a switch
		// that keeps Data too long sees it change.
		p.rxBuf[n] = append(p.rxBuf[n][:0], f.Data...)
		f.Data = p.rxBuf[n]
		frames[n] = f
		n++
	}
	return n, nil
}

func (p *Port) errClosed(op string) error {
	return &dataplane.OpError{Kind: "porttest", Port: p.name, Op: op, Err: net.ErrClosed}
}

// Send implements dataplane.Port.
func (p *Port) Send(frames []dataplane.Frame) (int, error) {
	select {
	case <-p.closed:
		return 0, p.errClosed("send")
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.cond.Broadcast()
	for i, f := range frames {
		if p.MTU > 0 && len(f.Data) > p.MTU+dataplane.EthHdrLen {
			return i, fmt.Errorf("porttest %s: send: %w", p.name, syscall.EMSGSIZE)
		}
		f.Data = append([]byte(nil), f.Data...)
		p.sent = append(p.sent, f)
	}
	return len(frames), nil
}

// Close implements dataplane.Port.
func (p *Port) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// Sent returns copies of the frames sent so far, and forgets them.
func (p *Port) Sent() []dataplane.Frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sent
	p.sent = nil
	return s
}

// WaitSent waits until at least n frames were sent (and not yet taken by
// Sent), or the timeout passes, and returns what was sent, forgetting it.
func (p *Port) WaitSent(n int, timeout time.Duration) []dataplane.Frame {
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer t.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.sent) < n && time.Now().Before(deadline) {
		p.cond.Wait()
	}
	s := p.sent
	p.sent = nil
	return s
}

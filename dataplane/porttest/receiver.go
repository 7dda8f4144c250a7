package porttest

import (
	"net"
	"sync"

	"github.com/xswitch/xswitch/dataplane"
)

var _ dataplane.Receiver = (*Receiver)(nil)

// Receiver is a channel-backed dataplane.Receiver: frames given to Inject
// come out of Receive with the ifindex they were injected with, in order.
type Receiver struct {
	batch  int
	in     chan ingress
	closed chan struct{}
	once   sync.Once
	rxBuf  [][]byte // per batch slot, the copy Receive hands out; reused, like a ring
}

type ingress struct {
	f       dataplane.Frame
	ifindex int32
}

// NewReceiver returns a receiver whose Receive returns at most batch frames
// at a time.
func NewReceiver(batch int) *Receiver {
	return &Receiver{
		batch:  batch,
		in:     make(chan ingress, 4096),
		closed: make(chan struct{}),
		rxBuf:  make([][]byte, batch),
	}
}

// BatchSize implements dataplane.Receiver.
func (r *Receiver) BatchSize() int { return r.batch }

// Inject queues raw frames that entered on ifindex.
func (r *Receiver) Inject(ifindex int32, frames ...[]byte) {
	for _, f := range frames {
		r.InjectFrame(ifindex, dataplane.Frame{Data: f})
	}
}

// InjectFrame queues a frame with its metadata.
func (r *Receiver) InjectFrame(ifindex int32, f dataplane.Frame) {
	select {
	case r.in <- ingress{f, ifindex}:
	case <-r.closed:
	}
}

// Receive implements dataplane.Receiver: it blocks for the first frame,
// then takes whatever else is queued, up to len(frames).
func (r *Receiver) Receive(frames []dataplane.Frame, ifindex []int32) (int, error) {
	n := 0
	for n < len(frames) && n < len(ifindex) && n < r.batch {
		var g ingress
		if n == 0 {
			select {
			case g = <-r.in:
			case <-r.closed:
				return 0, &dataplane.OpError{Kind: "porttest", Port: "shared", Op: "receive", Err: net.ErrClosed}
			}
		} else {
			select {
			case g = <-r.in:
			default:
				return n, nil
			}
		}
		// Copy into a buffer that the next Receive overwrites, so a switch
		// that keeps Data too long sees it change.
		r.rxBuf[n] = append(r.rxBuf[n][:0], g.f.Data...)
		g.f.Data = r.rxBuf[n]
		frames[n], ifindex[n] = g.f, g.ifindex
		n++
	}
	return n, nil
}

// Close implements dataplane.Receiver.
func (r *Receiver) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

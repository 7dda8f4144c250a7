package afxdp

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/packetsock"
)

// Open opens a port on ifname with one socket per receive queue, sharing
// umem. When the kernel refuses to share (a zero-copy UMEM on a device that
// cannot do zero-copy), or the link's MTU needs multi-buffer sockets and
// umem's are not, the port gets a UMEM of its own and its frames are
// copied to and from other ports. A link whose MTU the port cannot carry
// (see MaxMTU) is refused with an error that wraps ErrMTU. The XDP program
// that redirects to the sockets must be attached before or after;
// Config.Register gives it the sockets.
func Open(ifname string, umem *UMEM, cfg Config) (*Port, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, opError(ifname, "config", err)
	}
	ifindex, mtu, err := link(ifname)
	if err != nil {
		return nil, opError(ifname, "interface", err)
	}
	fs := umem.FrameSize()
	if limit := MaxMTU(fs, true); mtu > limit {
		return nil, opError(ifname, "mtu", fmt.Errorf("%w: MTU %d, at most %d with UMEM frames of %d bytes", ErrMTU, mtu, limit, fs))
	}
	p := &Port{name: ifname, ifindex: ifindex, cfg: cfg, umem: umem, h: handles{evfd: -1, promfd: -1}}
	p.maxLen.Store(int64(mtu + dataplane.EthHdrLen))
	if p.h.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, opError(ifname, "eventfd", err)
	}
	if p.h.promfd, err = promiscuous(ifindex); err != nil {
		p.teardown()
		return nil, opError(ifname, "promiscuous mode", err)
	}
	n := cfg.Queues
	if n == 0 {
		n = QueueCount(ifname)
	}
	need := mtu > MaxMTU(fs, false)
	for q := range n {
		s, op, err := p.openQueue(q, need)
		if err != nil {
			p.teardown()
			return nil, opError(ifname, op, err)
		}
		p.queues = append(p.queues, s)
		if q == 0 && need && !s.multiBuffer {
			p.teardown()
			return nil, opError(ifname, "mtu", fmt.Errorf("%w: MTU %d needs multi-buffer sockets (XDP_USE_SG, Linux 6.6), which the kernel refused; at most %d without", ErrMTU, mtu, MaxMTU(fs, false)))
		}
		if cfg.Register != nil {
			if err := cfg.Register(q, s.fd); err != nil {
				p.teardown()
				return nil, opError(ifname, fmt.Sprintf("register queue %d", q), err)
			}
		}
	}
	if err := p.openWaiter(); err != nil {
		p.teardown()
		return nil, opError(ifname, "epoll", err)
	}
	p.start()
	return p, nil
}

// start readies the receive and send sides once the sockets are bound, and
// fills the fill rings.
func (p *Port) start() {
	p.rx.init(p.queues, p.cfg, p.umem)
	p.tx.init(p.name, p.queues[0], p.cfg, p.umem)
	p.refill(false)
}

// binding is one way to bind a socket: a mode, with or without XDP_USE_SG.
type binding struct {
	mode BindMode
	sg   bool
}

// bindings returns the ways to try, in order, to bind the first socket of
// a UMEM; need says the MTU needs multi-buffer. Copy mode asks for
// multi-buffer always, as it costs nothing there and lets later ports of
// any MTU share the UMEM; zero-copy only when needed, as not every driver
// that does zero-copy does it with multi-buffer. Without multi-buffer (a
// kernel before 6.6) copy mode is tried last, when the MTU allows.
func bindings(mode BindMode, need bool) []binding {
	var b []binding
	if mode != BindCopy {
		b = append(b, binding{BindZeroCopy, need})
	}
	if mode != BindZeroCopy {
		b = append(b, binding{BindCopy, true})
		if !need {
			b = append(b, binding{BindCopy, false})
		}
	}
	return b
}

// openQueue binds queue q's socket: as bindings says, or as the UMEM's
// sockets when it is shared; on a UMEM of its own when sharing is refused
// or the shared UMEM lacks the multi-buffer the MTU needs.
func (p *Port) openQueue(q int, need bool) (*xsk, string, error) {
	var (
		op  string
		err error
	)
	deadline := time.Now().Add(busyWait)
	shared := p.umem.shared()
	if !shared || q > 0 || !need || p.umem.sharedMultiBuffer() {
		tries := bindings(p.cfg.Mode, need)
		if shared {
			// A socket that shares the UMEM inherits its mode.
			tries = []binding{{p.cfg.Mode, false}}
		}
		for _, b := range tries {
			var s *xsk
			if s, op, err = openXSKWait(p.umem, p.ifindex, q, p.cfg, b, deadline); err == nil {
				return s, "", nil
			}
		}
		if p.ownUMEM || q > 0 {
			return nil, op, err
		}
	}
	// The UMEM's mode or device does not fit this device: one of its own,
	// sized for this port's rings rather than for a bridge.
	frames := min(p.umem.Frames(), 2*(p.cfg.RxRingSize+p.cfg.TxRingSize))
	own, uerr := NewUMEM(UMEMConfig{FrameSize: p.umem.FrameSize(), Frames: frames})
	if uerr != nil {
		if err == nil {
			return nil, "umem", uerr
		}
		return nil, op, err
	}
	p.umem, p.ownUMEM = own, true
	for _, b := range bindings(p.cfg.Mode, need) {
		var s *xsk
		if s, op, err = openXSKWait(p.umem, p.ifindex, q, p.cfg, b, deadline); err == nil {
			return s, "", nil
		}
	}
	return nil, op, err
}

// busyWait bounds how long opening a queue's socket tries again binds that
// find the queue busy. The kernel lets go of a closed socket's queue some time after
// close (after an RCU grace period, from a work queue), so a port opened
// again right after it closed, as a reload does, finds its queue busy for a
// few milliseconds; another owner of the queue keeps it busy for good.
const busyWait = 500 * time.Millisecond

// openXSKWait is openXSK, tried again with a short backoff while the queue
// is busy, until deadline.
func openXSKWait(u *UMEM, ifindex, queue int, cfg Config, b binding, deadline time.Time) (*xsk, string, error) {
	delay := time.Millisecond
	for {
		s, op, err := openXSK(u, ifindex, queue, cfg, b.mode, b.sg)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return s, op, err
		}
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Millisecond)
	}
}

// link returns the index and the MTU of ifname. It asks for that interface
// alone: net.InterfaceByName reads every interface of the namespace, which
// makes opening a port cost in proportion to the ports already open.
func link(ifname string) (ifindex, mtu int, err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(ifname)
	if err != nil {
		return 0, 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, 0, err
	}
	ifindex = int(ifr.Uint32())
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return 0, 0, err
	}
	return ifindex, int(ifr.Uint32()), nil
}

// promiscuous opens an AF_PACKET socket that receives nothing (protocol 0)
// and holds the interface in promiscuous mode for as long as it is open: a
// switch port takes frames for every MAC.
func promiscuous(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := packetsock.AddPromiscuous(fd, ifindex); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func opError(port, op string, err error) *dataplane.OpError {
	return &dataplane.OpError{Kind: "afxdp", Port: port, Op: op, Err: err}
}

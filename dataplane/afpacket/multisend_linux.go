package afpacket

import (
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// MultiSender is a dataplane.MultiSender for the Ports and SendOnly ports
// of its network namespace: one socket bound to no interface, on which a
// sendmmsg carries frames for many interfaces, each message naming its
// interface in its address. A flood to a thousand ports then costs one
// system call per thousand frames, not one per port. It sends as the ports'
// own sockets do (virtio-net header, no qdisc) and counts each frame in
// its port's Stats.
//
// Its send buffer is shared by every port it sends to, where each port's
// own socket has one of its own: frames a device holds (a full queue of a
// guest that does not read) count against it until the device frees them.
type MultiSender struct {
	file  *os.File        // owns the socket's descriptor; closed by Close
	rc    syscall.RawConn // file's; every syscall on the socket goes through it
	netns uint64          // the socket's network namespace (SO_NETNS_COOKIE); immutable
	batch int             // MultiConfig.BatchSize; immutable

	mu   sync.Mutex    // guards free
	free []*multiBatch // message arrays not in use; one per Send running at once, made on demand
}

// MultiConfig sizes a MultiSender. A zero field takes its default.
type MultiConfig struct {
	// BatchSize is the most frames one sendmmsg carries, and what a
	// worker queues before it sends; at most 1024. Default 1024.
	BatchSize int
	// SndBuf is the socket's send buffer in bytes, which the kernel
	// doubles: what the frames of all ports may hold in their devices at
	// once before sends are refused as busy. Default 64 MiB.
	SndBuf int
}

var _ dataplane.MultiSender = (*MultiSender)(nil)

// OpenMultiSender opens a MultiSender in the network namespace of the
// calling thread. It reaches the ports opened in the same namespace.
func OpenMultiSender(cfg MultiConfig) (*MultiSender, error) {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = maxBatchSize
	}
	if cfg.SndBuf == 0 {
		cfg.SndBuf = 64 << 20
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > maxBatchSize || cfg.SndBuf < 0 {
		return nil, opError("*", "config", os.ErrInvalid)
	}
	fd, op, err := openMultiSocket(cfg.SndBuf)
	if err != nil {
		return nil, opError("*", op, err)
	}
	m := &MultiSender{file: os.NewFile(uintptr(fd), "afpacket-multisend"), batch: cfg.BatchSize}
	if m.rc, err = m.file.SyscallConn(); err != nil {
		m.file.Close()
		return nil, opError("*", "netpoller", err)
	}
	if m.netns, err = netnsCookie(m.rc); err != nil {
		m.file.Close()
		return nil, opError("*", "getsockopt SO_NETNS_COOKIE", err)
	}
	return m, nil
}

// openMultiSocket opens the socket: blocking and outside the netpoller, as
// a port's sending socket (see openSender), and bound to nothing, so it
// receives nothing and each message names its interface.
func openMultiSocket(sndbuf int) (fd int, op string, err error) {
	fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "socket", err
	}
	fail := func(op string, err error) (int, string, error) {
		unix.Close(fd)
		return -1, op, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("setsockopt PACKET_VNET_HDR", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return fail("setsockopt PACKET_QDISC_BYPASS", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf); err != nil {
			return fail("setsockopt SO_SNDBUF", err)
		}
	}
	return fd, "", nil
}

// netnsCookie returns the network namespace of rc's socket.
func netnsCookie(rc syscall.RawConn) (uint64, error) {
	var cookie uint64
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		cookie, err = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	}); cerr != nil {
		return 0, cerr
	}
	return cookie, err
}

// BatchSize returns MultiConfig.BatchSize.
func (m *MultiSender) BatchSize() int { return m.batch }

// Reaches reports whether p is a Port or SendOnly port of m's network
// namespace: an ifindex means an interface only within its namespace.
func (m *MultiSender) Reaches(p dataplane.Port) bool {
	t := transmitterOf(p)
	if t == nil || t.ifindex <= 0 {
		return false
	}
	cookie, err := netnsCookie(t.rc)
	return err == nil && cookie == m.netns
}

// txPort is a port that sends on a transmitter.
type txPort interface{ transmitter() *transmitter }

func (p *Port) transmitter() *transmitter     { return p.tx }
func (p *SendOnly) transmitter() *transmitter { return p.tx }

// transmitterOf returns the transmitter of p, nil if p has none.
func transmitterOf(p dataplane.Port) *transmitter {
	switch p := p.(type) {
	case *SendOnly:
		return p.tx
	case *Port:
		return p.tx
	case txPort:
		return p.transmitter()
	}
	return nil
}

// Send transmits frames[i] on the interface of to[i], which Reaches
// accepted, as dataplane.MultiSender says. A refused frame is counted in
// its port's Stats, as its own Send would, and the error wraps its errno
// (see Port.Send). It does not look at whether the ports are open: that is
// the caller's business.
func (m *MultiSender) Send(frames []dataplane.Frame, to []dataplane.Port) (int, error) {
	b := m.get()
	defer m.put(b)
	sent := 0
	for len(frames) > 0 {
		k, bad := b.s.load(frames)
		for i := range k {
			t := transmitterOf(to[i])
			b.tx[i] = t
			b.names[i].Ifindex = t.ifindex
		}
		frames, to = frames[k:], to[k:]
		if b.s.n > 0 {
			if err := m.rc.Write(b.flushFn); err != nil {
				b.s.reset()
				return sent, opError("*", "send", net.ErrClosed)
			}
			sent += b.sent
			if b.errno != 0 {
				return sent, b.errs.Get(b.errno)
			}
		}
		if bad {
			transmitterOf(to[0]).stats.txInvalid.Add(1)
			return sent, b.errs.Get(syscall.EINVAL)
		}
	}
	return sent, nil
}

// Close closes the socket. Send fails from then on.
func (m *MultiSender) Close() error {
	if err := m.file.Close(); err != nil {
		return opError("*", "close", err)
	}
	return nil
}

func (m *MultiSender) get() *multiBatch {
	m.mu.Lock()
	if n := len(m.free); n > 0 {
		b := m.free[n-1]
		m.free = m.free[:n-1]
		m.mu.Unlock()
		return b
	}
	m.mu.Unlock()
	return newMultiBatch(m.batch)
}

func (m *MultiSender) put(b *multiBatch) {
	m.mu.Lock()
	m.free = append(m.free, b)
	m.mu.Unlock()
}

// multiBatch is the state of one Send: messages that carry an address each,
// and the transmitter of each for its counters.
type multiBatch struct {
	s       sender
	names   []unix.RawSockaddrLinklayer // names[i] is s.msgs[i]'s address
	tx      []*transmitter              // tx[i] is the port of s.msgs[i]; cleared after each flush
	sent    int                         // messages sent by the last flush
	errno   syscall.Errno               // errno of the message the last flush stopped at; 0 if none
	errs    dataplane.OpErrors          // the errors of refused frames, made once per errno
	flushFn func(uintptr) bool          // b.flush, bound once so that RawConn.Write does not allocate
}

func newMultiBatch(batch int) *multiBatch {
	b := &multiBatch{
		s:     newSender(batch),
		names: make([]unix.RawSockaddrLinklayer, batch),
		tx:    make([]*transmitter, batch),
		errs:  dataplane.OpErrors{Kind: "afpacket", Port: "*", Op: "sendmmsg"},
	}
	for i := range b.names {
		b.names[i].Family = unix.AF_PACKET
		setName(&b.s.msgs[i].Hdr, &b.names[i])
	}
	b.flushFn = b.flush
	return b
}

// flush is RawConn.Write's callback: it sends the loaded messages in order,
// without waiting, until the kernel refuses one, and counts each for its
// port.
func (b *multiBatch) flush(fd uintptr) bool {
	n := b.s.n
	b.sent, b.errno = 0, 0
	for b.sent < n {
		r, e := sendmmsg(fd, b.s.msgs[b.sent:n])
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			// sendmmsg fails only when its first message fails.
			b.tx[b.sent].stats.countTxError(e)
			b.errno = e
			break
		}
		if r == 0 {
			break
		}
		b.count(b.sent, b.sent+r)
		b.sent += r
	}
	b.s.reset()
	clear(b.tx[:n])
	return true
}

// count counts messages [from, to), which were sent, for their ports, once
// per run of messages of the same port.
func (b *multiBatch) count(from, to int) {
	for i := from; i < to; {
		t := b.tx[i]
		bytes := 0
		j := i
		for ; j < to && b.tx[j] == t; j++ {
			bytes += int(b.s.msgs[j].Len) - dataplane.VNetHdrLen
		}
		t.stats.txPackets.Add(uint64(j - i))
		t.stats.txBytes.Add(uint64(bytes))
		i = j
	}
}

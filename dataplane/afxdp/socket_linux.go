package afxdp

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// xsk is the AF_XDP socket of one queue of a port.
type xsk struct {
	fd       int    // -1 once closed; closed by the port's teardown under Port.h.mu
	id       uint32 // owner id in the UMEM, given by UMEM.join; never reused
	rxOwner  uint32 // id<<1|roleRx: owner of the frames of the fill and RX rings and of those Receive returned
	txOwner  uint32 // id<<1|roleTx: owner of the frames of the TX and completion rings and of the sender's
	zeroCopy bool   // bound in zero-copy mode: the driver reads and writes the UMEM itself
	// multiBuffer: bound with XDP_USE_SG (its own, or its UMEM's): a
	// frame may span several descriptors, all but the last marked
	// XDP_PKT_CONTD.
	multiBuffer bool

	// The rings: fill and RX are the Receive goroutine's, TX and
	// completion the sender's (the port's first socket's only).
	fill, comp, rx, tx ring

	// target is the depth refill keeps the fill ring at, cons the
	// kernel's fill consumer index when last read, used what the kernel
	// took since the port last slept, active whether the socket has ever
	// received; all the Receive goroutine's.
	target, cons, used uint32
	active             bool

	// batch holds the addresses of the frames the last Receive returned
	// from this socket, until the next Receive recycles them; the Receive
	// goroutine's.
	batch []uint64
}

// openXSK opens the socket of one queue, bound in the given mode, and with
// XDP_USE_SG when sg is set: it registers u on the socket, or shares it
// through an already bound socket of u, whose mode and multi-buffer setting
// it inherits. It returns the name of the step that failed with its error.
func openXSK(u *UMEM, ifindex, queue int, cfg Config, mode BindMode, sg bool) (*xsk, string, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, "socket", err
	}
	s := &xsk{fd: fd}
	fail := func(op string, err error) (*xsk, string, error) {
		s.close()
		return nil, op, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return fail("umem", errors.New("umem closed"))
	}
	var share *xsk
	if len(u.socks) > 0 {
		share = u.socks[0]
	} else {
		err := registerUMEM(fd, u.mem, uint32(u.frameSize))
		runtime.KeepAlive(u)
		if err != nil {
			return fail("setsockopt XDP_UMEM_REG", err)
		}
	}
	if op, err := s.mapRings(cfg); err != nil {
		return fail(op, err)
	}
	sa := &unix.SockaddrXDP{Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	if share != nil {
		// The bind mode and need_wakeup come with the UMEM.
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(share.fd)
	} else {
		sa.Flags = unix.XDP_USE_NEED_WAKEUP
		switch mode {
		case BindZeroCopy:
			sa.Flags |= unix.XDP_ZEROCOPY
		case BindCopy:
			sa.Flags |= unix.XDP_COPY
		}
		if sg {
			sa.Flags |= unix.XDP_USE_SG
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(fmt.Sprintf("bind queue %d", queue), err)
	}
	if flags, err := xdpOptions(fd); err == nil {
		s.zeroCopy = flags&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	if mode == BindZeroCopy && !s.zeroCopy {
		return fail(fmt.Sprintf("bind queue %d", queue), errors.New("zero-copy asked for, the UMEM's sockets are in copy mode"))
	}
	if share == nil {
		u.multiBuffer = sg
	}
	s.multiBuffer = u.multiBuffer
	s.batch = make([]uint64, 0, cfg.RxRingSize)
	u.join(s)
	return s, "", nil
}

// mapRings sizes the socket's four rings and maps them. It returns the
// name of the step that failed with its error; close unmaps what was
// mapped.
func (s *xsk) mapRings(cfg Config) (string, error) {
	sizes := []struct {
		opt  int
		size int
		name string
	}{
		{unix.XDP_RX_RING, cfg.RxRingSize, "XDP_RX_RING"},
		{unix.XDP_TX_RING, cfg.TxRingSize, "XDP_TX_RING"},
		{unix.XDP_UMEM_FILL_RING, cfg.RxRingSize, "XDP_UMEM_FILL_RING"},
		{unix.XDP_UMEM_COMPLETION_RING, cfg.TxRingSize, "XDP_UMEM_COMPLETION_RING"},
	}
	for _, r := range sizes {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, r.opt, r.size); err != nil {
			return "setsockopt " + r.name, err
		}
	}
	off, err := mmapOffsets(s.fd)
	if err != nil {
		return "getsockopt XDP_MMAP_OFFSETS", err
	}
	maps := []struct {
		r     *ring
		off   unix.XDPRingOffset
		pgoff int64
		size  int
		entry uintptr
	}{
		{&s.rx, off.Rx, unix.XDP_PGOFF_RX_RING, cfg.RxRingSize, descSize},
		{&s.tx, off.Tx, unix.XDP_PGOFF_TX_RING, cfg.TxRingSize, descSize},
		{&s.fill, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, cfg.RxRingSize, 8},
		{&s.comp, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, cfg.TxRingSize, 8},
	}
	for _, m := range maps {
		mem, err := unix.Mmap(s.fd, m.pgoff, int(m.off.Desc)+m.size*int(m.entry), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return "mmap ring", err
		}
		*m.r = newRing(mem, m.off, uint32(m.size))
	}
	return "", nil
}

// wakeFill wakes a driver that stopped taking fill entries and asked to be
// told when there are some (zero-copy mode). The call does not block: made
// raw, it keeps the goroutine's P and does not wake the runtime's monitor.
func (s *xsk) wakeFill() {
	if s.fill.needWakeup() {
		unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
}

// close unmaps the rings and closes the descriptor; the caller removes the
// socket from its UMEM.
func (s *xsk) close() {
	for _, r := range []*ring{&s.rx, &s.tx, &s.fill, &s.comp} {
		r.unmap()
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// stats reads the kernel's counters of the socket.
func (s *xsk) stats() (unix.XDPStatistics, error) { return xdpStatistics(s.fd) }

// QueueCount returns the number of receive queues of ifname in use, which
// is the number of sockets Open gives the port: the ethtool channels (rx
// plus combined), or 1 when the driver does not say.
func QueueCount(ifname string) int {
	ch, err := channels(ifname)
	if err != nil || ch.rxCount+ch.combCount == 0 {
		return 1
	}
	return int(ch.rxCount + ch.combCount)
}

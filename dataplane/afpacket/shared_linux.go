package afpacket

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/packetsock"
)

// sharedName names the Shared receiver in errors.
const sharedName = "punt"

// copyQueueBytes bounds the socket's receive queue, which holds the frames
// too long for a slot (SO_RCVBUF; the kernel doubles it).
const copyQueueBytes = 4 << 20

// Shared is a dataplane.Receiver on one AF_PACKET socket bound to the punt
// ethertype on every interface of its network namespace: it receives what
// the fast path punts on any port, each frame with the ifindex it came in
// on, from a TPACKET_V2 ring. Such a ring hands each frame over as soon as
// it is written, with no timer, so an idle Shared costs nothing. Frame
// lifetime and Close are as for a Port (see the package documentation).
type Shared struct {
	name    string          // names the receiver in errors; immutable
	batch   int             // SharedConfig.BatchSize; immutable
	file    *os.File        // owns the socket's descriptor; closed once, by Close
	rc      syscall.RawConn // file's; every syscall on the socket goes through it
	mapping mapping         // ring.mem's, shared with Close

	// Used only by the Receive goroutine.
	ring     slots              // the mapped ring; its mem is nil after unmap
	rxFrames []dataplane.Frame  // the caller's frames during a Receive; nil otherwise
	rxIfs    []int32            // the caller's ifindexes during a Receive
	rxN      int                // frames stored by the current Receive
	rxWaited bool               // poll has already run once in this Receive
	pollFn   func(uintptr) bool // s.poll, bound once so that RawConn.Read does not allocate

	stats counters // Rx* only; written by Receive, read by Stats from any goroutine
}

var _ dataplane.Receiver = (*Shared)(nil)

// OpenShared opens the shared receiver in the network namespace of the
// calling thread. It receives nothing but frames of cfg.PuntEtherType.
func OpenShared(cfg SharedConfig) (*Shared, error) {
	if cfg.PuntEtherType == 0 {
		return nil, opError(sharedName, "config", syscall.EINVAL)
	}
	return openReceiver(sharedName, cfg, binding{proto: cfg.PuntEtherType, filter: -1})
}

// binding is what a receiver's socket takes frames of.
type binding struct {
	proto   uint16 // the ethertype bound to; ETH_P_ALL for every one
	ifindex int    // the interface bound to; 0 for every one
	filter  int    // the descriptor of an eBPF socket filter to attach, or -1
	// ignoreOutgoing hides what the interfaces transmit, the switch's own
	// frames first.
	ignoreOutgoing bool
	// fanout is the group the socket joins once bound, with filter
	// attached only then; nil for none.
	fanout *fanoutJoin
}

// openReceiver opens a receiver with a TPACKET_V2 ring of cfg on a socket
// bound as b says; name names it in errors. Nothing is queued before the
// ring and the filter are in place: the socket is bound last.
func openReceiver(name string, cfg SharedConfig, b binding) (*Shared, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, opError(name, "config", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opError(name, "socket", err)
	}
	g := cfg.geometry(os.Getpagesize())
	mem, op, err := setupShared(fd, cfg, g, b)
	if err != nil {
		if mem != nil {
			unix.Munmap(mem)
		}
		unix.Close(fd)
		return nil, opError(name, op, err)
	}
	punt := uint16(0)
	if b.proto == cfg.PuntEtherType {
		punt = cfg.PuntEtherType
	}
	s := &Shared{name: name, batch: cfg.BatchSize, file: os.NewFile(uintptr(fd), "afpacket:"+name),
		ring: newSlots(mem, g, cfg.FrameSize, punt)}
	s.mapping.mem = &s.ring.mem
	if s.rc, err = s.file.SyscallConn(); err != nil {
		s.file.Close()
		unix.Munmap(mem)
		return nil, opError(name, "netpoller", err)
	}
	s.pollFn = s.poll
	return s, nil
}

// setupShared configures the fresh socket fd in the order the kernel
// requires, and returns the mapped ring if it got that far.
func setupShared(fd int, cfg SharedConfig, g ringGeometry, b binding) ([]byte, string, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return nil, "setsockopt PACKET_VNET_HDR", err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, "setsockopt PACKET_VERSION", err
	}
	req := unix.TpacketReq{
		Block_size: uint32(g.blockSize),
		Block_nr:   uint32(g.blocks),
		Frame_size: uint32(cfg.FrameSize),
		Frame_nr:   uint32(g.blocks * g.perBlock),
	}
	// A frame longer than a slot is queued whole on the socket too.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_COPY_THRESH, 1); err != nil {
		return nil, "setsockopt PACKET_COPY_THRESH", err
	}
	// The kernel queues such copies only while the queue holds less than
	// SO_RCVBUF (net.core.rmem_max by default): room for a few dozen
	// super-frames. Without CAP_NET_ADMIN, take what SO_RCVBUF gives.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, copyQueueBytes); err != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, copyQueueBytes)
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, "setsockopt PACKET_RX_RING", err
	}
	// The kernel maps the whole ring at once: all of it counts in the RSS.
	mem, err := unix.Mmap(fd, 0, g.blockSize*g.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, "mmap", err
	}
	if b.fanout != nil {
		op, err := joinFanout(fd, b)
		return mem, op, err
	}
	if b.filter >= 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, b.filter); err != nil {
			return mem, "setsockopt SO_ATTACH_BPF", err
		}
	}
	if b.ignoreOutgoing {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return mem, "setsockopt PACKET_IGNORE_OUTGOING", err
		}
	}
	sa := unix.SockaddrLinklayer{Protocol: packetsock.Htons(b.proto), Ifindex: b.ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return mem, "bind", err
	}
	return mem, "", nil
}

// BatchSize returns SharedConfig.BatchSize.
func (s *Shared) BatchSize() int { return s.batch }

// Receive waits until at least one frame is in the ring and fills
// frames[:n] and ifindex[:n] (ifindex must be at least as long as frames).
// Their Data point into the ring and stay valid until the next Receive.
// After Close it returns an error satisfying errors.Is(err, net.ErrClosed).
func (s *Shared) Receive(frames []dataplane.Frame, ifindex []int32) (int, error) {
	if !s.mapping.hold() {
		return 0, opError(s.name, "receive", net.ErrClosed)
	}
	s.ring.release() // the caller is done with the previous frames
	frames = frames[:min(len(frames), len(ifindex))]
	if len(frames) == 0 {
		s.mapping.unhold()
		return 0, nil
	}
	s.rxFrames, s.rxIfs, s.rxN, s.rxWaited = frames, ifindex, 0, false
	for {
		err := s.rc.Read(s.pollFn)
		if err == nil {
			break
		}
		if s.mapping.closed() {
			s.rxFrames, s.rxIfs = nil, nil
			s.mapping.unhold()
			return 0, opError(s.name, "receive", net.ErrClosed)
		}
		if s.waitDirect() {
			break
		}
	}
	s.rxFrames, s.rxIfs = nil, nil
	return s.rxN, nil
}

// poll is RawConn.Read's callback, as Port.poll.
func (s *Shared) poll(fd uintptr) bool {
	if s.fillRx(fd) {
		return true
	}
	if s.rxWaited {
		takeSocketError(fd, &s.stats)
	}
	s.rxWaited = true
	return false
}

// fillRx fills rxFrames from the ring and the socket fd, and reports
// whether it got any.
func (s *Shared) fillRx(fd uintptr) bool {
	n, truncated, bytes := s.ring.fill(fd, s.rxFrames, s.rxIfs)
	if truncated > 0 {
		s.stats.rxTruncated.Add(uint64(truncated))
	}
	if n == 0 {
		s.ring.release() // slots of truncated frames only
		return false
	}
	s.rxN = n
	s.stats.rxPackets.Add(uint64(n))
	s.stats.rxBytes.Add(uint64(bytes))
	return true
}

// waitDirect is Receive's way out when the netpoller failed although the
// socket is open, as Port.waitDirect.
func (s *Shared) waitDirect() bool {
	got := false
	s.rc.Control(func(fd uintptr) {
		takeSocketError(fd, &s.stats)
		if got = s.fillRx(fd); got {
			return
		}
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		unix.Poll(fds[:], degradedPollMillis)
	})
	return got
}

// Stats returns the receiver's counters (the Tx ones stay 0). It may be
// called from any goroutine, also after Close.
func (s *Shared) Stats() Stats {
	s.readKernelStats()
	return s.stats.snapshot()
}

// KernelDrops returns the frames the kernel dropped because the ring was
// full, and those too long for a slot.
func (s *Shared) KernelDrops() (ringFull, truncated uint64) {
	st := s.Stats()
	return st.RxDropped, st.RxTruncated
}

// readKernelStats adds the kernel's counters, which it resets on every
// read, to s.stats.
func (s *Shared) readKernelStats() {
	s.rc.Control(func(fd uintptr) {
		st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			return
		}
		s.stats.rxDropped.Add(uint64(st.Drops))
	})
}

// Close closes the socket, which wakes a blocked Receive. It may be called
// from any goroutine, more than once. The ring is unmapped here if the
// Receive goroutine holds no frames, or else by its next Receive.
func (s *Shared) Close() error {
	if !s.mapping.close() {
		return nil
	}
	s.readKernelStats()
	err := s.file.Close()
	s.mapping.release()
	if err != nil {
		return opError(s.name, "close", err)
	}
	return nil
}

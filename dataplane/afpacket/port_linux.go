package afpacket

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// degradedPollMillis bounds a wait in poll(2) when the netpoller cannot be
// used (see waitDirect).
const degradedPollMillis = 10

// Port is a dataplane.Port on an AF_PACKET socket with a TPACKET_V3 receive
// ring. See the package documentation for frame lifetime and Close.
type Port struct {
	name    string          // interface name; immutable
	batch   int             // Config.BatchSize; immutable
	file    *os.File        // owns the receiving socket's descriptor; closed once, by Close
	rc      syscall.RawConn // file's; every syscall on the socket goes through it, so none can run on a closed (and perhaps reused) descriptor
	tx      *transmitter    // the sending socket; closed by Close
	mapping mapping         // ring.mem's, shared with Close

	// Used only by the Receive goroutine.
	ring     ring               // the mapped receive ring; its mem is nil after unmap
	rxFrames []dataplane.Frame  // the caller's frames during a Receive; nil otherwise
	rxN      int                // frames stored in rxFrames by the current Receive
	rxWaited bool               // poll has already run once in this Receive: it now runs after a wakeup
	pollFn   func(uintptr) bool // p.poll, bound once so that RawConn.Read does not allocate

	stats counters // written by Receive and Send, read by Stats from any goroutine
}

func newPort(name string, cfg Config, file, txf *os.File, mem []byte) (*Port, error) {
	p := &Port{
		name:  name,
		batch: cfg.BatchSize,
		file:  file,
		ring:  newRing(mem, cfg.BlockSize, cfg.BlockCount, cfg.PuntEtherType),
	}
	p.mapping.mem = &p.ring.mem
	var err error
	p.rc, err = file.SyscallConn()
	if err != nil {
		file.Close()
		txf.Close()
		unix.Munmap(mem)
		return nil, opError(name, "netpoller", err)
	}
	if p.tx, err = newTransmitter(name, cfg.BatchSize, txf, &p.stats); err != nil {
		file.Close()
		unix.Munmap(mem)
		return nil, err
	}
	p.pollFn = p.poll
	return p, nil
}

// Name returns the interface name.
func (p *Port) Name() string { return p.name }

// BatchSize returns Config.BatchSize: the number of frames Send passes to
// the kernel in one call, and a good size for Receive's frames.
func (p *Port) BatchSize() int { return p.batch }

// Receive waits until at least one frame is in the ring and fills
// frames[:n]. Their Data point into the ring and stay valid until the next
// Receive. After Close it returns an error satisfying
// errors.Is(err, net.ErrClosed).
func (p *Port) Receive(frames []dataplane.Frame) (int, error) {
	if !p.mapping.hold() {
		return 0, opError(p.name, "receive", net.ErrClosed)
	}
	// The caller is done with the frames of the previous Receive.
	p.ring.release()
	if len(frames) == 0 {
		p.mapping.unhold()
		return 0, nil
	}
	p.rxFrames, p.rxN, p.rxWaited = frames, 0, false
	for {
		err := p.rc.Read(p.pollFn)
		if err == nil {
			break
		}
		if p.mapping.closed() {
			p.rxFrames = nil
			p.mapping.unhold()
			return 0, opError(p.name, "receive", net.ErrClosed)
		}
		if p.waitDirect() {
			break
		}
	}
	p.rxFrames = nil
	return p.rxN, nil
}

// poll is RawConn.Read's callback: it reports whether it got frames, and
// false sends the netpoller to sleep until the socket is readable again.
func (p *Port) poll(fd uintptr) bool {
	if p.fillRx() {
		return true
	}
	if p.rxWaited {
		// Woken with nothing to read: perhaps a socket error, which would
		// otherwise wake the netpoller again and again.
		takeSocketError(fd, &p.stats)
	}
	p.rxWaited = true
	return false
}

// fillRx fills rxFrames from the ring and reports whether it got any.
func (p *Port) fillRx() bool {
	n, truncated, bytes := p.ring.fill(p.rxFrames)
	if truncated > 0 {
		p.stats.rxTruncated.Add(uint64(truncated))
	}
	if n == 0 {
		// Blocks holding only truncated frames are of no use to the caller.
		p.ring.release()
		return false
	}
	p.rxN = n
	p.stats.rxPackets.Add(uint64(n))
	p.stats.rxBytes.Add(uint64(bytes))
	return true
}

// waitDirect is Receive's way out when the netpoller failed although the
// port is open. Go's netpoller turns a wakeup that carries EPOLLERR alone
// (a socket error while the send buffer is full) into an error that sticks
// until the next event; retrying at once would spin. So take the socket
// error, look at the ring, and wait in poll(2) for a short while.
func (p *Port) waitDirect() bool {
	got := false
	p.rc.Control(func(fd uintptr) {
		takeSocketError(fd, &p.stats)
		if got = p.fillRx(); got {
			return
		}
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		unix.Poll(fds[:], degradedPollMillis)
	})
	return got
}

// takeSocketError reads and clears the socket's pending error, if any, and
// counts it in c.
func takeSocketError(fd uintptr, c *counters) {
	v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil || v == 0 {
		return
	}
	c.socketErrors.Add(1)
	c.lastSocketError.Store(uint32(v))
}

// Send transmits frames in order until one is refused, as dataplane.Port
// says: it returns n, the number the device took, and when n < len(frames)
// an error wrapping the errno of frames[n] (EMSGSIZE too long, ENOBUFS or
// EAGAIN busy, ENETDOWN link down, EINVAL malformed: empty, or Tagged and
// shorter than two MACs). Refusals are also counted in Stats. Send keeps no
// reference to frames.
func (p *Port) Send(frames []dataplane.Frame) (int, error) {
	if p.mapping.closed() {
		return 0, opError(p.name, "send", net.ErrClosed)
	}
	return p.tx.send(frames)
}

// Stats returns the port's counters. It may be called from any goroutine,
// also after Close.
func (p *Port) Stats() Stats {
	p.readKernelStats()
	return p.stats.snapshot()
}

// readKernelStats adds the kernel's ring counters to p.stats. The kernel
// resets them on every read, so they are added up here.
func (p *Port) readKernelStats() {
	p.rc.Control(func(fd uintptr) {
		st, err := unix.GetsockoptTpacketStatsV3(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			return
		}
		p.stats.rxDropped.Add(uint64(st.Drops))
		p.stats.rxFreezes.Add(uint64(st.Freeze_q_cnt))
	})
}

// Close closes the socket, which wakes a blocked Receive, and releases the
// promiscuous mode. It may be called from any goroutine, more than once. The
// ring is unmapped here if the Receive goroutine holds no frames, or else by
// its next Receive, which returns net.ErrClosed.
func (p *Port) Close() error {
	if !p.mapping.close() {
		return nil
	}
	p.readKernelStats()
	err := p.file.Close() // waits until no syscall uses the descriptor
	if terr := p.tx.close(); err == nil {
		err = terr
	}
	p.mapping.release()
	if err != nil {
		return opError(p.name, "close", err)
	}
	return nil
}

package afxdp

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

var _ dataplane.Port = (*Port)(nil)
var _ dataplane.KernelDropper = (*Port)(nil)

// drainTimeout bounds how long Close waits for the kernel to complete the
// frames a port has sent before it takes their buffers back.
const drainTimeout = 200 * time.Millisecond

// zeroCopyGrace is how long the frames of a closed zero-copy socket are
// kept out of the pool.
const zeroCopyGrace = 2 * time.Second

// Port is a dataplane.Port on the AF_XDP sockets of one interface, one per
// receive queue.
type Port struct {
	name    string
	ifindex int
	cfg     Config
	umem    *UMEM
	ownUMEM bool // umem is the port's alone (sharing was refused): Close closes it
	queues  []*xsk
	txq     *xsk // the socket Send uses: queues[0]
	maxLen  atomic.Int64
	evfd    int // wakes a Receive blocked in poll when the port closes
	promfd  int // an AF_PACKET socket that receives nothing and holds the interface promiscuous

	closed atomic.Bool

	rxMu    sync.Mutex // held by Receive, and by Close to wait for it
	holding bool       // the dataplane may still use frames the last Receive returned; under rxMu
	down    bool       // the sockets are closed; under rxMu and txMu
	pfds    []unix.PollFd
	next    int      // queue the next Receive starts with
	spinned bool     // the last Receive returned frames: spin before sleeping
	hungry  int      // waits in a row that found a fill ring empty
	refill  []uint64 // scratch for the fill ring

	sockMu sync.Mutex // guards the sockets' descriptors and evfd against teardown, for KernelDrops and Close
	last   [2]uint64  // kernel drop counters of the closed sockets: ring full, dropped; under sockMu

	txMu   sync.Mutex // serializes Send and guards the TX side
	spare  []uint64   // free frames the sender holds, owned by txq.txOwner
	segs   []uint64   // scratch for the frames of one super-frame's segments
	reaped []uint64   // scratch for the completion ring
	txPost uint64     // descriptors posted on the TX ring
	txDone uint64     // of those, completed
	// maxInFlight bounds txPost-txDone: what a stalled device can hold.
	maxInFlight uint64

	c counters
}

// Open opens a port on ifname with one socket per receive queue, sharing
// umem. When the kernel refuses to share (a zero-copy UMEM on a device that
// cannot do zero-copy), the port gets a UMEM of its own and its frames are
// copied to and from other ports. The XDP program that redirects to the
// sockets must be attached before or after; Config.Register gives it the
// sockets.
func Open(ifname string, umem *UMEM, cfg Config) (*Port, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, &OpError{Port: ifname, Op: "config", Err: err}
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, &OpError{Port: ifname, Op: "interface", Err: err}
	}
	p := &Port{name: ifname, ifindex: ifi.Index, cfg: cfg, umem: umem, evfd: -1, promfd: -1}
	p.maxLen.Store(int64(ifi.MTU + 14))
	if p.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, &OpError{Port: ifname, Op: "eventfd", Err: err}
	}
	if p.promfd, err = promiscuous(ifi.Index); err != nil {
		p.teardown()
		return nil, &OpError{Port: ifname, Op: "promiscuous mode", Err: err}
	}
	n := cfg.Queues
	if n == 0 {
		n = QueueCount(ifname)
	}
	for q := range n {
		s, op, err := p.openQueue(q)
		if err != nil {
			p.teardown()
			return nil, &OpError{Port: ifname, Op: op, Err: err}
		}
		p.queues = append(p.queues, s)
		if cfg.Register != nil {
			if err := cfg.Register(q, s.fd); err != nil {
				p.teardown()
				return nil, &OpError{Port: ifname, Op: fmt.Sprintf("register queue %d", q), Err: err}
			}
		}
	}
	p.txq = p.queues[0]
	for _, s := range p.queues {
		p.pfds = append(p.pfds, unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN})
	}
	p.pfds = append(p.pfds, unix.PollFd{Fd: int32(p.evfd), Events: unix.POLLIN})
	p.refill = make([]uint64, cfg.RxRingSize)
	p.reaped = make([]uint64, cfg.TxRingSize)
	// A sender keeps a few free frames, not so many that the fill rings
	// starve.
	p.spare = make([]uint64, 0, max(min(2*cfg.BatchSize, p.umem.Frames()/16), 1))
	p.segs = make([]uint64, 0, cfg.TxRingSize)
	p.maxInFlight = uint64(min(cfg.TxRingSize, max(p.umem.Frames()/8, cfg.BatchSize)))
	for _, s := range p.queues {
		p.fillQueue(s)
	}
	return p, nil
}

// openQueue binds queue q's socket: zero-copy first in auto mode, then copy;
// on a UMEM of its own when sharing is refused.
func (p *Port) openQueue(q int) (*xsk, string, error) {
	modes := []BindMode{p.cfg.Mode}
	p.umem.mu.Lock()
	shared := len(p.umem.socks) > 0
	p.umem.mu.Unlock()
	if p.cfg.Mode == BindAuto && !shared {
		// A socket that shares the UMEM inherits its mode. (Only one
		// attempt there: the kernel releases a bound socket's queue
		// later than close, so a second bind would find it busy.)
		modes = []BindMode{BindZeroCopy, BindCopy}
	}
	var (
		op  string
		err error
	)
	for _, m := range modes {
		var s *xsk
		if s, op, err = openXSK(p.umem, p.ifindex, q, p.cfg, m); err == nil {
			return s, "", nil
		}
	}
	if p.ownUMEM || q > 0 {
		return nil, op, err
	}
	// The UMEM's mode or device does not fit this device: one of its own,
	// sized for this port's rings rather than for a bridge.
	frames := min(p.umem.Frames(), 2*(p.cfg.RxRingSize+p.cfg.TxRingSize))
	own, uerr := NewUMEM(UMEMConfig{FrameSize: p.umem.FrameSize(), Frames: frames})
	if uerr != nil {
		return nil, op, err
	}
	p.umem, p.ownUMEM = own, true
	for _, m := range modes {
		var s *xsk
		if s, op, err = openXSK(p.umem, p.ifindex, q, p.cfg, m); err == nil {
			return s, "", nil
		}
	}
	return nil, op, err
}

// Name implements dataplane.Port.
func (p *Port) Name() string { return p.name }

// BatchSize implements dataplane.Port.
func (p *Port) BatchSize() int { return p.cfg.BatchSize }

// ZeroCopy reports whether the port's sockets are bound in zero-copy mode.
func (p *Port) ZeroCopy() bool { return p.queues[0].zeroCopy }

// SharesUMEM reports whether the port uses the UMEM it was opened with, so
// frames pass between it and the other ports of that UMEM without copies.
func (p *Port) SharesUMEM() bool { return !p.ownUMEM }

// Queues returns the number of sockets, one per receive queue.
func (p *Port) Queues() int { return len(p.queues) }

// SetMTU sets the MTU Send checks frames against; Open reads it from the
// interface.
func (p *Port) SetMTU(mtu int) { p.maxLen.Store(int64(mtu + 14)) }

// fillQueue tops the socket's fill ring up to its share of the UMEM; under
// rxMu (or before the port is shared).
func (p *Port) fillQueue(s *xsk) {
	have := s.fill.pending()
	target := p.umem.fillTarget(s.fill.size)
	if have >= target {
		return
	}
	room := min(target-have, s.fill.free(target-have))
	n := p.umem.getKeeping(p.refill[:room], s.rxOwner, p.umem.Frames()/16)
	for _, a := range p.refill[:n] {
		*s.fill.addr(s.fill.local) = a
		s.fill.local++
	}
	if n > 0 {
		s.fill.submit()
		s.wakeFill()
	}
}

// recycle hands the frames of the last Receive back to their fill rings,
// except those another port's Send took; under rxMu.
func (p *Port) recycle() {
	for _, s := range p.queues {
		if len(s.batch) == 0 {
			continue
		}
		room := s.fill.free(uint32(len(s.batch)))
		extra := p.refill[:0]
		posted := false
		for _, a := range s.batch {
			base := a &^ (p.umem.frameSize - 1)
			if p.umem.owner[a>>p.umem.shift].Load() != s.rxOwner {
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
			p.umem.put(extra)
		}
		s.batch = s.batch[:0]
	}
	p.holding = false
}

// Receive implements dataplane.Port. It returns frames as soon as any
// socket has some; it spins while frames flow and sleeps in poll(2)
// otherwise.
func (p *Port) Receive(frames []dataplane.Frame) (int, error) {
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	if p.closed.Load() {
		p.teardown()
		return 0, p.closedErr()
	}
	p.recycle()
	for _, s := range p.queues {
		p.fillQueue(s) // frames other ports took are replaced from the pool
	}
	var spinUntil time.Time
	for {
		if n := p.receive(frames); n > 0 {
			p.holding, p.spinned = true, true
			return n, nil
		}
		if p.closed.Load() {
			p.teardown()
			return 0, p.closedErr()
		}
		if p.spinned && p.cfg.SpinTime > 0 {
			now := time.Now()
			if spinUntil.IsZero() {
				spinUntil = now.Add(p.cfg.SpinTime)
			}
			if now.Before(spinUntil) {
				continue
			}
		}
		p.spinned = false
		if err := p.wait(); err != nil {
			return 0, err
		}
	}
}

// receive takes up to len(frames) frames from the RX rings, starting with
// the queue after the one that came first last time.
func (p *Port) receive(frames []dataplane.Frame) int {
	n := 0
	var bytes uint64
	for i := range p.queues {
		s := p.queues[(p.next+i)%len(p.queues)]
		avail := min(s.rx.avail(), uint32(len(frames)-n))
		for range avail {
			d := s.rx.desc(s.rx.local)
			s.rx.local++
			s.batch = append(s.batch, d.Addr)
			data := p.umem.frame(d.Addr, int(d.Len))
			if p.cfg.CompleteChecksums && dataplane.CompletePendingChecksum(data) {
				p.c.rxCsumCompleted.Add(1)
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
	p.next++
	if n > 0 {
		p.c.rxPackets.Add(uint64(n))
		p.c.rxBytes.Add(bytes)
	}
	return n
}

// wait sleeps until a socket has frames or the port closes. The fill rings
// are topped up first; when the pool had nothing for them the sleep is
// short, to try again.
func (p *Port) wait() error {
	timeout := -1
	for _, s := range p.queues {
		p.fillQueue(s)
		if s.fill.pending() == 0 {
			// The pool had nothing: try again later, less often the
			// longer it lasts, so that ports waiting for frames do not
			// take the CPU from the ports that hold them.
			p.hungry = min(p.hungry+1, 7)
			timeout = 1 << p.hungry // 2 ms up to 128 ms
		}
	}
	if timeout < 0 {
		p.hungry = 0
	}
	for i := range p.pfds {
		p.pfds[i].Revents = 0
	}
	_, err := unix.Poll(p.pfds, timeout)
	if err != nil && err != unix.EINTR {
		return &OpError{Port: p.name, Op: "poll", Err: err}
	}
	return nil
}

func (p *Port) closedErr() error { return &OpError{Port: p.name, Op: "receive", Err: net.ErrClosed} }

// Send implements dataplane.Port.
func (p *Port) Send(frames []dataplane.Frame) (int, error) {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.down || p.closed.Load() {
		return 0, &OpError{Port: p.name, Op: "send", Err: net.ErrClosed}
	}
	p.reap()
	for i := range frames {
		if err := p.post(&frames[i]); err != nil {
			p.kick()
			return i, &OpError{Port: p.name, Op: "send", Err: err}
		}
	}
	p.kick()
	return len(frames), nil
}

// post puts one frame (or all its segments) on the TX ring, or nothing.
func (p *Port) post(f *dataplane.Frame) error {
	maxLen := int(p.maxLen.Load())
	tag := 0
	if f.Tagged {
		tag = 4
	}
	if f.VNet.GSOType != dataplane.VNetHdrGSONone {
		return p.postSegments(f, tag, maxLen)
	}
	l := len(f.Data)
	if l+tag > int(p.umem.frameSize) || l > maxLen+vlanAllowance(f.Data) {
		p.c.txTooBig.Add(1)
		return syscall.EMSGSIZE
	}
	if l < 14 {
		p.c.txInvalid.Add(1)
		return syscall.EINVAL
	}
	if !p.room(1) {
		p.c.txNoBuffer.Add(1)
		return syscall.ENOBUFS
	}
	if f.Exclusive && !f.Tagged {
		if off, ok := p.umem.offset(f.Data); ok && p.umem.take(off, p.txq.txOwner) {
			if f.VNet.Flags&dataplane.VNetHdrFNeedsCsum != 0 {
				dataplane.FinishChecksum(f)
			}
			p.enqueue(off, l)
			p.c.txZeroCopy.Add(1)
			return nil
		}
	}
	addr, ok := p.alloc()
	if !ok {
		p.c.txNoBuffer.Add(1)
		return syscall.ENOBUFS
	}
	buf := p.umem.frame(addr, int(p.umem.frameSize))
	copy(buf[tag:], f.Data)
	if f.VNet.Flags&dataplane.VNetHdrFNeedsCsum != 0 {
		c := dataplane.Frame{Data: buf[tag : tag+l], VNet: f.VNet}
		if dataplane.FinishChecksum(&c) != nil {
			p.free(addr)
			p.c.txInvalid.Add(1)
			return syscall.EINVAL
		}
	}
	p.enqueue(addr, tagInPlace(buf, l, f))
	return nil
}

// postSegments cuts a GSO super-frame and posts every segment, or none:
// a stream with a hole would cost the receiver more than a lost
// super-frame.
func (p *Port) postSegments(f *dataplane.Frame, tag, maxLen int) error {
	n, err := dataplane.GSOSegments(f)
	if err != nil || n > int(p.txq.tx.size) {
		p.c.txInvalid.Add(1)
		return syscall.EINVAL
	}
	for i := range n {
		l, err := dataplane.SegmentLen(f, i)
		if err != nil {
			p.c.txInvalid.Add(1)
			return syscall.EINVAL
		}
		if l+tag > int(p.umem.frameSize) || l > maxLen+vlanAllowance(f.Data) {
			p.c.txTooBig.Add(1)
			return syscall.EMSGSIZE
		}
	}
	if !p.room(uint32(n)) {
		p.c.txNoBuffer.Add(1)
		return syscall.ENOBUFS
	}
	addrs := p.segs[:0]
	for range n {
		a, ok := p.alloc()
		if !ok {
			for _, a := range addrs {
				p.free(a)
			}
			p.c.txNoBuffer.Add(1)
			return syscall.ENOBUFS
		}
		addrs = append(addrs, a)
	}
	for i, a := range addrs {
		buf := p.umem.frame(a, int(p.umem.frameSize))
		l, err := dataplane.WriteSegment(f, i, buf[tag:])
		if err != nil { // GSOSegments vouched for every segment
			panic("afxdp: segment " + err.Error())
		}
		p.enqueue(a, tagInPlace(buf, l, f))
	}
	p.c.txSegmented.Add(1)
	p.c.txSegments.Add(uint64(n))
	return nil
}

// room reports whether n more descriptors may be posted: the TX ring has
// room (after a wake-up of the kernel if needed), and the port's frames in
// flight stay within its share, so a stalled device cannot take the whole
// UMEM.
func (p *Port) room(n uint32) bool {
	if p.txPost-p.txDone+uint64(n) > p.maxInFlight {
		p.reap()
		if p.txPost-p.txDone+uint64(n) > p.maxInFlight {
			return false
		}
	}
	r := &p.txq.tx
	if r.free(n) >= n {
		return true
	}
	p.kick()
	return r.free(n) >= n
}

// vlanAllowance is the length of an in-band 802.1Q tag, which the MTU does
// not count.
func vlanAllowance(d []byte) int {
	if len(d) >= 14 && (d[12] == 0x81 && d[13] == 0x00 || d[12] == 0x88 && d[13] == 0xa8) {
		return 4
	}
	return 0
}

// tagInPlace puts f's out-of-band tag into buf, where the frame was written
// 4 bytes in, and returns the frame's length on the wire.
func tagInPlace(buf []byte, l int, f *dataplane.Frame) int {
	if !f.Tagged {
		return l
	}
	copy(buf[0:12], buf[4:16])
	tpid := f.TPID
	if tpid == 0 {
		tpid = 0x8100
	}
	buf[12], buf[13] = byte(tpid>>8), byte(tpid)
	buf[14], buf[15] = byte(f.VLAN>>8), byte(f.VLAN)
	return l + 4
}

// enqueue posts one descriptor; room said there is room.
func (p *Port) enqueue(addr uint64, l int) {
	r := &p.txq.tx
	d := r.desc(r.local)
	d.Addr, d.Len, d.Options = addr, uint32(l), 0
	r.local++
	p.txPost++
	p.c.txPackets.Add(1)
	p.c.txBytes.Add(uint64(l))
}

// alloc returns a free frame for the sender.
func (p *Port) alloc() (uint64, bool) {
	if len(p.spare) == 0 {
		p.reap()
	}
	if len(p.spare) == 0 {
		n := p.umem.get(p.spare[:max(cap(p.spare)/2, 1)], p.txq.txOwner)
		p.spare = p.spare[:n]
		if n == 0 {
			return 0, false
		}
	}
	a := p.spare[len(p.spare)-1]
	p.spare = p.spare[:len(p.spare)-1]
	return a, true
}

// free gives a frame alloc returned back to the sender's spares.
func (p *Port) free(addr uint64) {
	addr &^= p.umem.frameSize - 1
	if len(p.spare) < cap(p.spare) {
		p.spare = append(p.spare, addr)
		return
	}
	p.umem.put([]uint64{addr})
}

// kick publishes the TX ring and, when the kernel asks for it, wakes it to
// send. In copy mode the kernel sends a bounded batch per call, so it is
// woken until the ring is empty or a wake-up makes no progress: the device
// queue is full (EAGAIN) or the completion ring is (reaped between tries).
func (p *Port) kick() {
	r := &p.txq.tx
	if atomic.LoadUint32(r.prod) != r.local {
		r.submit()
	}
	for r.pending() > 0 && r.needWakeup() {
		before := atomic.LoadUint32(r.cons)
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(p.txq.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		p.reap()
		switch errno {
		case 0, unix.EAGAIN, unix.EBUSY:
			if atomic.LoadUint32(r.cons) != before {
				continue
			}
			if errno == unix.EAGAIN {
				p.c.txDeviceBusy.Add(1)
			}
		case unix.ENETDOWN, unix.ENXIO:
			p.c.txDown.Add(1)
		default:
			p.c.txOther.Add(1)
		}
		break
	}
	p.reap()
}

// reap takes completed frames back: into the spares, the rest to the pool.
func (p *Port) reap() {
	r := &p.txq.comp
	n := r.avail()
	if n == 0 {
		return
	}
	back := p.reaped[:0]
	for range n {
		a := *r.addr(r.local) &^ (p.umem.frameSize - 1)
		r.local++
		if len(p.spare) < cap(p.spare) {
			p.spare = append(p.spare, a) // owned by txOwner since it was posted

		} else {
			back = append(back, a)
		}
	}
	r.release()
	p.txDone += uint64(n)
	if len(back) > 0 {
		p.umem.put(back)
	}
}

// Close implements dataplane.Port. It wakes a blocked Receive. The sockets
// close once the dataplane no longer uses frames the port returned: at
// once, or at the next Receive.
func (p *Port) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	var one [8]byte
	one[0] = 1
	p.sockMu.Lock() // a Receive that sees the close may be tearing down
	if p.evfd >= 0 {
		unix.Write(p.evfd, one[:])
	}
	p.sockMu.Unlock()
	p.rxMu.Lock()
	defer p.rxMu.Unlock()
	if !p.holding {
		p.teardown()
	}
	return nil
}

// teardown waits briefly for frames in flight, closes the sockets and
// returns every frame they owned to the pool; under rxMu, or in Open.
func (p *Port) teardown() {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.down {
		return
	}
	p.down = true
	if p.txq != nil {
		deadline := time.Now().Add(drainTimeout)
		for p.txDone < p.txPost && time.Now().Before(deadline) {
			p.kick()
			if p.txDone < p.txPost {
				time.Sleep(time.Millisecond)
			}
		}
	}
	u := p.umem
	u.mu.Lock()
	socks := u.socks[:0]
	for _, s := range u.socks {
		if !p.has(s) {
			socks = append(socks, s)
		}
	}
	clear(u.socks[len(socks):])
	u.socks = socks
	u.mu.Unlock()
	// The last counters and the close in one step, so KernelDrops never
	// counts a socket twice or goes back.
	p.sockMu.Lock()
	for _, s := range p.queues {
		if st, err := s.stats(); err == nil {
			full, long := kernelDrops(st)
			p.last[0] += full
			p.last[1] += long
		}
		s.close()
	}
	p.sockMu.Unlock()
	for _, s := range p.queues {
		if s.zeroCopy {
			// The kernel lets go of a zero-copy queue later than close:
			// until then the driver may still write to its fill
			// frames or read its TX frames.
			id := s.id
			time.AfterFunc(zeroCopyGrace, func() { u.reclaim(id) })
			continue
		}
		u.reclaim(s.id)
	}
	p.spare = p.spare[:0]
	p.sockMu.Lock()
	if p.evfd >= 0 {
		unix.Close(p.evfd)
		p.evfd = -1
	}
	p.sockMu.Unlock()
	if p.promfd >= 0 {
		unix.Close(p.promfd)
		p.promfd = -1
	}
	if p.ownUMEM {
		u.Close()
	}
}

func (p *Port) has(s *xsk) bool {
	for _, q := range p.queues {
		if q == s {
			return true
		}
	}
	return false
}

// KernelDrops implements dataplane.KernelDropper: frames the kernel dropped
// because the RX ring was full or the fill ring empty, and frames longer
// than a UMEM frame (or otherwise refused by the socket).
func (p *Port) KernelDrops() (ringFull, truncated uint64) {
	p.sockMu.Lock()
	defer p.sockMu.Unlock()
	ringFull, truncated = p.last[0], p.last[1]
	for _, s := range p.queues {
		if s.fd < 0 {
			continue
		}
		if st, err := s.stats(); err == nil {
			full, long := kernelDrops(st)
			ringFull += full
			truncated += long
		}
	}
	return
}

// kernelDrops splits a socket's drop counters: frames that found the RX
// ring full or the fill ring empty, and the others (too long for a UMEM
// frame). The kernel counts a frame that found no fill entry in both
// rx_dropped and rx_fill_ring_empty_descs.
func kernelDrops(st unix.XDPStatistics) (full, long uint64) {
	full = st.Rx_ring_full + st.Rx_fill_ring_empty_descs
	if st.Rx_dropped > st.Rx_fill_ring_empty_descs {
		long = st.Rx_dropped - st.Rx_fill_ring_empty_descs
	}
	return full, long
}

// promiscuous opens an AF_PACKET socket that receives nothing (protocol 0)
// and puts the interface in promiscuous mode for as long as it is open: a
// switch port takes frames for every MAC. A membership, unlike setting
// IFF_PROMISC, is counted per socket and undone by the kernel when the
// socket closes, also when the process dies.
func promiscuous(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

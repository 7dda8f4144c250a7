package afxdp

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// txState is the send side of a port. Send holds mu throughout, and
// teardown; nothing else touches these fields.
type txState struct {
	mu sync.Mutex
	// down: the sockets are closed and Send fails; set by teardown.
	down bool
	// q is the socket Send posts on: the port's first queue.
	q *xsk
	// maxLen is Port.maxLen, read once per Send.
	maxLen int
	// spare holds free frames for copies, owned by q.txOwner, during a
	// Send; at most cap(spare), a sixteenth of the UMEM or less. Send ends
	// with them back in the pool: a port that stops sending, as most of
	// a flood's do, keeps none.
	spare []uint64
	// left is how many frames of the current Send are still to post: what
	// alloc takes from the pool at once, at most.
	left int
	// back holds free frames on their way to the pool, still owned by
	// q.txOwner; putBack empties it once per Send.
	back []uint64
	// segs is scratch for the frames of one super-frame's segments, and
	// seg cuts that super-frame; both are reused from frame to frame.
	segs []uint64
	seg  dataplane.Segmenter
	// big holds a frame longer than a UMEM frame on its way to the UMEM
	// frames it spans (see postLong); made on first use.
	big []byte
	// posted counts the descriptors posted on the TX ring and done those
	// completed; posted-done frames are in flight, at most maxInFlight: what
	// a stalled device may hold of the UMEM.
	posted, done, maxInFlight uint64
	// n counts the current Send; it goes to the port's counters once, at
	// the end.
	n txCounts
	// errs are the errors of refused frames, made once per errno so that a
	// Send that fails, as under load, does not allocate.
	errs dataplane.OpErrors
}

func (t *txState) init(name string, q *xsk, cfg Config, u *UMEM) {
	t.q = q
	t.errs = dataplane.OpErrors{Kind: "afxdp", Port: name, Op: "send"}
	// At most a batch, which the TX ring and back hold, and not so many
	// that the fill rings starve.
	t.spare = make([]uint64, 0, max(min(cfg.BatchSize, u.Frames()/16), 1))
	t.back = make([]uint64, 0, cfg.TxRingSize)
	t.segs = make([]uint64, 0, cfg.TxRingSize)
	t.maxInFlight = uint64(min(cfg.TxRingSize, max(u.Frames()/8, cfg.BatchSize)))
}

// Send implements dataplane.Port.
func (p *Port) Send(frames []dataplane.Frame) (int, error) {
	t := &p.tx
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.down || p.closed.Load() {
		return 0, opError(p.name, "send", net.ErrClosed)
	}
	t.maxLen = int(p.maxLen.Load())
	p.reap()
	sent, err := len(frames), error(nil)
	for i := range frames {
		t.left = len(frames) - i
		if err = p.post(&frames[i]); err != nil {
			sent = i
			break
		}
	}
	p.kick()
	p.returnSpares()
	p.c.addTx(&t.n)
	if err != nil {
		return sent, t.errs.Get(err)
	}
	return sent, nil
}

// post puts one frame (or all its segments) on the TX ring, or nothing.
func (p *Port) post(f *dataplane.Frame) error {
	t, u := &p.tx, p.umem
	tag := 0
	if f.Tagged {
		tag = dataplane.VLANTagLen
	}
	if f.VNet.GSOType != dataplane.VNetHdrGSONone {
		return p.postSegments(f, tag)
	}
	l := len(f.Data)
	if t.tooLong(l, f.Data) {
		t.n.tooBig++
		return syscall.EMSGSIZE
	}
	if l < dataplane.EthHdrLen {
		t.n.invalid++
		return syscall.EINVAL
	}
	if l+tag > int(u.frameSize) {
		return p.postLong(f, tag)
	}
	if !p.room(1) {
		t.n.noBuffer++
		return syscall.ENOBUFS
	}
	if f.Exclusive && !f.Tagged {
		if off, ok := u.offset(f.Data); ok && u.take(off, t.q.txOwner) {
			if f.VNet.Flags&dataplane.VNetHdrFNeedsCsum != 0 {
				dataplane.FinishChecksum(f)
			}
			p.enqueue(off, l, false)
			t.n.zeroCopy++
			return nil
		}
	}
	addr, ok := p.alloc()
	if !ok {
		t.n.noBuffer++
		return syscall.ENOBUFS
	}
	buf := u.frame(addr, int(u.frameSize))
	copy(buf[tag:], f.Data)
	if f.VNet.Flags&dataplane.VNetHdrFNeedsCsum != 0 {
		c := dataplane.Frame{Data: buf[tag : tag+l], VNet: f.VNet}
		if dataplane.FinishChecksum(&c) != nil {
			p.free(addr)
			t.n.invalid++
			return syscall.EINVAL
		}
	}
	p.enqueue(addr, tagInPlace(buf, l, f), false)
	return nil
}

// postSegments cuts a GSO super-frame and posts every segment, or none:
// a stream with a hole would cost the receiver more than a lost
// super-frame.
func (p *Port) postSegments(f *dataplane.Frame, tag int) error {
	t, u := &p.tx, p.umem
	seg := &t.seg
	n, err := seg.Init(f)
	if err != nil || n > int(t.q.tx.size) {
		t.n.invalid++
		return syscall.EINVAL
	}
	// No segment is longer than the first.
	l := seg.Len(0)
	if t.tooLong(l, f.Data) {
		t.n.tooBig++
		return syscall.EMSGSIZE
	}
	per := u.chunks(l + tag) // UMEM frames per segment
	if per > 1 && (!p.MultiBuffer() || per > maxSegments) {
		t.n.tooBig++
		return syscall.EMSGSIZE
	}
	if n*per > int(t.q.tx.size) {
		t.n.invalid++
		return syscall.EINVAL
	}
	if !p.room(uint32(n * per)) {
		t.n.noBuffer++
		return syscall.ENOBUFS
	}
	addrs, ok := p.allocN(n * per)
	if !ok {
		t.n.noBuffer++
		return syscall.ENOBUFS
	}
	for i := range n {
		var buf []byte
		if per == 1 {
			buf = u.frame(addrs[i], int(u.frameSize))
		} else {
			buf = t.stage(per * int(u.frameSize))
		}
		l, err := seg.Write(i, buf[tag:])
		if err != nil { // Init vouched for every segment
			panic("afxdp: segment " + err.Error())
		}
		if per == 1 {
			p.enqueue(addrs[i], tagInPlace(buf, l, f), false)
			continue
		}
		// A segment spans UMEM frames from the first, as many as it
		// needs; the frames left over go back.
		mine := addrs[i*per : (i+1)*per]
		wire := tagInPlace(buf, l, f)
		k := u.chunks(wire)
		p.scatter(mine[:k], buf[:wire])
		for _, a := range mine[k:] {
			p.free(a)
		}
	}
	t.n.segmented++
	t.n.segments += uint64(n)
	return nil
}

// room reports whether n more descriptors may be posted: the TX ring has
// room (after a wake-up of the kernel if needed), and the port's frames in
// flight stay within its share, so a stalled device cannot take the whole
// UMEM.
func (p *Port) room(n uint32) bool {
	t := &p.tx
	if t.posted-t.done+uint64(n) > t.maxInFlight {
		p.reap()
		if t.posted-t.done+uint64(n) > t.maxInFlight {
			return false
		}
	}
	r := &t.q.tx
	if r.free(n) >= n {
		return true
	}
	p.kick()
	return r.free(n) >= n
}

// tooLong reports whether a frame of l bytes whose header starts d exceeds
// the MTU. It reads d only when l does: the common case touches no data.
func (t *txState) tooLong(l int, d []byte) bool {
	return l > t.maxLen && l > t.maxLen+vlanAllowance(d)
}

// vlanAllowance is the length of an in-band 802.1Q or 802.1ad tag, which
// the MTU does not count.
func vlanAllowance(d []byte) int {
	if len(d) < dataplane.EthHdrLen {
		return 0
	}
	switch binary.BigEndian.Uint16(d[dataplane.EthHdrLen-2:]) {
	case dataplane.EtherTypeVLAN, dataplane.EtherTypeQinQ:
		return dataplane.VLANTagLen
	}
	return 0
}

// tagInPlace puts f's out-of-band tag into buf, where the frame was written
// a tag's length in, and returns the frame's length on the wire.
func tagInPlace(buf []byte, l int, f *dataplane.Frame) int {
	if !f.Tagged {
		return l
	}
	const macs = dataplane.EthHdrLen - 2
	copy(buf[:macs], buf[dataplane.VLANTagLen:dataplane.VLANTagLen+macs])
	tpid := f.TPID
	if tpid == 0 {
		tpid = dataplane.EtherTypeVLAN
	}
	binary.BigEndian.PutUint16(buf[macs:], tpid)
	binary.BigEndian.PutUint16(buf[macs+2:], f.VLAN)
	return l + dataplane.VLANTagLen
}

// enqueue posts one descriptor, marked XDP_PKT_CONTD when more parts of
// its frame follow; room said there is room. A frame counts once, with its
// last part.
func (p *Port) enqueue(addr uint64, l int, more bool) {
	t := &p.tx
	r := &t.q.tx
	d := r.desc(r.local)
	d.Addr, d.Len, d.Options = addr, uint32(l), 0
	if more {
		d.Options = unix.XDP_PKT_CONTD
	} else {
		t.n.packets++
	}
	r.local++
	t.posted++
	t.n.bytes += uint64(l)
}

// kick publishes the TX ring and, when the kernel asks for it, wakes it to
// send. In copy mode the kernel sends a bounded batch per call, so it is
// woken until the ring is empty or a wake-up makes no progress: the device
// queue is full (EAGAIN) or the completion ring is (reaped between tries).
func (p *Port) kick() {
	t := &p.tx
	r := &t.q.tx
	if atomic.LoadUint32(r.prod) != r.local {
		r.submit()
	}
	for r.pending() > 0 && r.needWakeup() {
		before := atomic.LoadUint32(r.cons)
		// Raw: the call does not block (in copy mode it sends, and the
		// peer's receive runs in it), and a plain one would hand the P
		// off and wake the runtime's monitor thread, a context switch
		// on the path of every frame.
		_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(t.q.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		p.reap()
		switch errno {
		case 0, unix.EAGAIN, unix.EBUSY:
			if atomic.LoadUint32(r.cons) != before {
				continue
			}
			if errno == unix.EAGAIN {
				t.n.deviceBusy++
			}
		case unix.ENETDOWN, unix.ENXIO:
			t.n.down++
		default:
			t.n.other++
		}
		break
	}
	p.reap()
}

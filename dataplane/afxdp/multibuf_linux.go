package afxdp

// Multi-buffer frames: on sockets bound with XDP_USE_SG, a frame longer
// than a UMEM frame spans several descriptors, all but the last marked
// XDP_PKT_CONTD. The dataplane wants a frame in one piece, so Receive joins
// the parts into a buffer of the port's, and Send cuts a frame into as many
// UMEM frames as it needs.

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// joinSlots is how many multi-buffer frames one Receive returns at most:
// the buffer they are joined into costs joinSlots frames of the MTU, made
// only for a port that receives such frames.
const joinSlots = 32

// join copies the parts of the multi-buffer frame whose first descriptor is
// s's next into a slot of the joins buffer and consumes its descriptors;
// end is the RX ring's producer index. It returns false, consuming
// nothing, when the frame's last part is not on the ring yet or the slots
// are used up; nil data when the frame is longer than the MTU allows, which
// is dropped and counted. The UMEM frames go back to the fill ring with the
// rest of the batch.
func (p *Port) join(s *xsk, end uint32) (data []byte, ok bool) {
	r, u := &p.rx, p.umem
	l, last := 0, s.rx.local
	for {
		if last == end {
			return nil, false
		}
		d := s.rx.desc(last)
		last++
		l += int(d.Len)
		if d.Options&unix.XDP_PKT_CONTD == 0 {
			break
		}
	}
	if want := int(p.maxLen.Load()) + dataplane.VLANTagLen; r.joins == nil || r.slot < want {
		if r.joined > 0 {
			return nil, false // the MTU grew: a bigger buffer, from the next Receive
		}
		r.slot = (want + 63) &^ 63
		r.joins = make([]byte, joinSlots*r.slot)
	}
	if r.joined == joinSlots {
		return nil, false
	}
	long := l > r.slot
	buf := r.joins[r.joined*r.slot : (r.joined+1)*r.slot]
	off := 0
	for ; s.rx.local != last; s.rx.local++ {
		d := s.rx.desc(s.rx.local)
		s.batch = append(s.batch, d.Addr)
		if !long {
			off += copy(buf[off:], u.frame(d.Addr, int(d.Len)))
		}
	}
	if long {
		r.tooLong.Add(1)
		return nil, true
	}
	r.joined++
	return buf[:l:l], true
}

// stage returns the sender's buffer for a frame of n bytes that spans
// several UMEM frames, made on first use and grown with the MTU.
func (t *txState) stage(n int) []byte {
	if cap(t.big) < n {
		t.big = make([]byte, (n+63)&^63)
	}
	return t.big[:n]
}

// chunks returns how many UMEM frames a frame of n bytes spans.
func (u *UMEM) chunks(n int) int { return (n + int(u.frameSize) - 1) / int(u.frameSize) }

// scatter posts data, a whole frame, across as many UMEM frames as it
// needs (taken from addrs), all but the last descriptor marked
// XDP_PKT_CONTD; room said there is room.
func (p *Port) scatter(addrs []uint64, data []byte) {
	u := p.umem
	for i, a := range addrs {
		part := data[min(i*int(u.frameSize), len(data)):min((i+1)*int(u.frameSize), len(data))]
		copy(u.frame(a, len(part)), part)
		p.enqueue(a, len(part), i < len(addrs)-1)
	}
}

// allocN takes n frames for the sender into t.segs[:n], or none.
func (p *Port) allocN(n int) ([]uint64, bool) {
	t := &p.tx
	addrs := t.segs[:0]
	for range n {
		a, ok := p.alloc()
		if !ok {
			for _, a := range addrs {
				p.free(a)
			}
			return nil, false
		}
		addrs = append(addrs, a)
	}
	return addrs, true
}

// postLong posts a frame longer than a UMEM frame, on multi-buffer sockets:
// staged in one piece with its tag and checksum, then scattered.
func (p *Port) postLong(f *dataplane.Frame, tag int) error {
	t, u := &p.tx, p.umem
	l := len(f.Data)
	n := u.chunks(l + tag)
	if !p.MultiBuffer() || n > maxSegments {
		t.n.tooBig++
		return syscall.EMSGSIZE
	}
	if !p.room(uint32(n)) {
		t.n.noBuffer++
		return syscall.ENOBUFS
	}
	buf := t.stage(l + tag)
	copy(buf[tag:], f.Data)
	if f.VNet.Flags&dataplane.VNetHdrFNeedsCsum != 0 {
		c := dataplane.Frame{Data: buf[tag : tag+l], VNet: f.VNet}
		if dataplane.FinishChecksum(&c) != nil {
			t.n.invalid++
			return syscall.EINVAL
		}
	}
	addrs, ok := p.allocN(n)
	if !ok {
		t.n.noBuffer++
		return syscall.ENOBUFS
	}
	p.scatter(addrs, buf[:tagInPlace(buf, l, f)])
	return nil
}

// MultiBufferKernel reports whether the kernel binds sockets with
// XDP_USE_SG: Linux 6.6 and later. (A kernel that backported it is taken
// for one without: auto mode then gives its jumbo links another port type.)
func MultiBufferKernel() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 6 || major == 6 && minor >= 6
}

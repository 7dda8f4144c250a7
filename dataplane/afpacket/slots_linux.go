package afpacket

// The shared receiver's ring: TPACKET_V2, one frame per slot. The kernel's
// slot headers are read in place (slots_unsafe_linux.go finds them), and
// slots are handed back with atomic stores to their tp_status.

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// slots reads a TPACKET_V2 receive ring. The kernel fills slots in order and
// flips a slot's status to TP_STATUS_USER when it is done with it (and drops
// a frame while the next slot is still the reader's); the reader takes the
// slots in the same order and flips them back to TP_STATUS_KERNEL once
// nothing points into them. Only one goroutine uses it at a time.
//
// A frame longer than a slot (a super-frame) gets only its start in the
// slot, marked TP_STATUS_COPY, and the whole of it in the socket's receive
// queue (PACKET_COPY_THRESH), in ring order: the reader takes it from there
// into big. So slots can be small, and the ring with them: the kernel maps
// all of it into the switch, where it counts in the RSS.
type slots struct {
	mem       []byte // the mapped ring: blocks of blockSize bytes, each with perBlock slots of frameSize bytes from its start
	blockSize int    // a power of two pages
	perBlock  int    // slots per block, ≥ 1
	frameSize int    // bytes per slot, a multiple of 16
	count     int    // slots in the ring: perBlock × blocks
	cur       int    // the next slot to read; in [0, count)
	held      int    // slots before cur read but not released; in [0, count]
	punt      uint16 // the punt ethertype whose header fill removes; 0 if none
	big       []byte // holds a frame read from the receive queue, with its virtio-net header; at most one per fill
}

func newSlots(mem []byte, g ringGeometry, frameSize int, punt uint16) slots {
	return slots{mem: mem, blockSize: g.blockSize, perBlock: g.perBlock, frameSize: frameSize,
		count: g.perBlock * g.blocks, punt: punt, big: make([]byte, dataplane.VNetHdrLen+maxPuntedLen)}
}

// offset returns where slot i starts in mem.
func (s *slots) offset(i int) int {
	return i/s.perBlock*s.blockSize + i%s.perBlock*s.frameSize
}

// fill stores in frames[:n] and ifindex[:n] the next frames of the ring and
// the interfaces they came in on, at most len(frames), without waiting; fd
// is the socket, whose receive queue holds the frames too long for a slot.
// Their Data point into the ring, or into big, and stay valid until release
// and the next fill. Frames the kernel truncated are skipped and counted in
// truncated; bytes sums the lengths of the returned frames.
func (s *slots) fill(fd uintptr, frames []dataplane.Frame, ifindex []int32) (n, truncated, bytes int) {
	bigUsed := false // big holds a frame returned by this fill
	for n < len(frames) && s.held < s.count {
		off := s.offset(s.cur)
		h := s.hdr(off)
		status := atomic.LoadUint32(&h.Status)
		if status&unix.TP_STATUS_USER == 0 || status&unix.TP_STATUS_COPY != 0 && bigUsed {
			break
		}
		s.cur++
		if s.cur == s.count {
			s.cur = 0
		}
		s.held++
		f := &frames[n]
		switch {
		case status&unix.TP_STATUS_COPY != 0:
			m := recvDontWait(fd, s.big)
			if m < dataplane.VNetHdrLen || m > len(s.big) {
				truncated++
				continue
			}
			bigUsed = true
			f.Data = s.big[dataplane.VNetHdrLen:m:m]
			f.VNet = decodeVNetHdr(s.big)
		case h.Snaplen < h.Len || int(h.Mac) < dataplane.VNetHdrLen:
			truncated++
			continue
		default:
			mac := off + int(h.Mac)
			end := mac + int(h.Snaplen)
			f.Data = s.mem[mac:end:end]
			f.VNet = decodeVNetHdr(s.mem[mac-dataplane.VNetHdrLen : mac])
		}
		if s.punt != 0 {
			unpunt(f, s.punt)
		}
		f.Tagged, f.VLAN, f.TPID = false, 0, 0
		if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
			f.Tagged, f.VLAN, f.TPID = true, h.Vlan_tci, dataplane.EtherTypeVLAN
			if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && h.Vlan_tpid != 0 {
				f.TPID = h.Vlan_tpid
			}
		}
		ifindex[n] = s.ifindex(off)
		bytes += len(f.Data)
		n++
	}
	return n, truncated, bytes
}

// release hands the slots read back to the kernel. The caller must be done
// with every frame that points into them.
func (s *slots) release() {
	for ; s.held > 0; s.held-- {
		i := s.cur - s.held
		if i < 0 {
			i += s.count
		}
		atomic.StoreUint32(&s.hdr(s.offset(i)).Status, unix.TP_STATUS_KERNEL)
	}
}

package afpacket

// The receive ring: the kernel's block and packet headers are read in place
// in the mmap'd ring (ring_unsafe_linux.go finds them), and blocks are handed
// back with atomic stores to their block_status.

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// ring reads a TPACKET_V3 receive ring. The kernel fills blocks in order and
// flips a block's status to TP_STATUS_USER when it is done with it; the
// reader walks the packets of user-owned blocks in the same order and flips
// each block back to TP_STATUS_KERNEL once nothing points into it anymore.
// Only one goroutine uses a ring at a time.
type ring struct {
	mem       []byte // the mapped ring: count blocks of blockSize bytes; block i starts at i*blockSize
	blockSize int    // bytes per block, a multiple of the page size
	count     int    // blocks in the ring, ≥ 2
	cur       int    // the block being read, or the next one to wait for; in [0, count)
	left      uint32 // packets of cur not yet read; 0 while cur is not open (not yet seen as user-owned)
	next      int    // offset in mem of cur's next unread packet header; meaningful while left > 0
	done      int    // blocks before cur read to the end but still user-owned; in [0, count]
	punt      uint16 // the punt ethertype whose 4-byte header fill removes; 0: none
}

func newRing(mem []byte, blockSize, count int, punt uint16) ring {
	return ring{mem: mem, blockSize: blockSize, count: count, punt: punt}
}

// fill stores in frames[:n] the next packets of the ring, at most len(frames),
// without waiting. Their Data point into the ring and stay valid until the
// blocks holding them are released. Packets the kernel truncated are skipped
// and counted in truncated; bytes sums the lengths of the returned frames.
func (r *ring) fill(frames []dataplane.Frame) (n, truncated, bytes int) {
	for n < len(frames) {
		if r.left == 0 && !r.open() {
			break
		}
		off := r.next
		h := r.packetHdr(off)
		if h.Snaplen < h.Len {
			truncated++
		} else {
			mac := off + int(h.Mac)
			end := mac + int(h.Snaplen)
			f := &frames[n]
			f.Data = r.mem[mac:end:end]
			f.VNet = decodeVNetHdr(r.mem[mac-dataplane.VNetHdrLen : mac])
			if r.punt != 0 {
				unpunt(f, r.punt)
			}
			f.Tagged, f.VLAN, f.TPID = false, 0, 0
			if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				f.Tagged, f.VLAN, f.TPID = true, uint16(h.Hv1.Vlan_tci), dataplane.EtherTypeVLAN
				if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && h.Hv1.Vlan_tpid != 0 {
					f.TPID = h.Hv1.Vlan_tpid
				}
			}
			bytes += len(f.Data)
			n++
		}
		r.left--
		if r.left == 0 {
			r.finishBlock()
		} else {
			r.next += int(h.Next_offset)
		}
	}
	return n, truncated, bytes
}

// open makes cur readable: it reports false if the kernel has not handed cur
// over yet, or if cur is one of the read blocks not yet released (the reader
// went all the way around the ring within one batch).
func (r *ring) open() bool {
	for r.done < r.count {
		bh := r.blockHdr(r.cur)
		if atomic.LoadUint32(&bh.Block_status)&unix.TP_STATUS_USER == 0 {
			return false
		}
		r.left = bh.Num_pkts
		r.next = r.cur*r.blockSize + int(bh.Offset_to_first_pkt)
		if r.left > 0 {
			return true
		}
		r.finishBlock() // the kernel does not retire empty blocks, but one would simply be skipped
	}
	return false
}

func (r *ring) finishBlock() {
	r.done++
	r.cur = (r.cur + 1) % r.count
}

// release hands the blocks read to the end back to the kernel. The caller
// must be done with every frame that points into them.
func (r *ring) release() {
	for ; r.done > 0; r.done-- {
		b := (r.cur - r.done + r.count) % r.count
		atomic.StoreUint32(&r.blockHdr(b).Block_status, unix.TP_STATUS_KERNEL)
	}
}

// PuntHeaderLen is the length of the fast path's punt header: its ethertype
// and a reason, between a punted frame's MAC addresses and its own
// ethertype (bpf.PuntHeaderLen, which this package cannot import).
const PuntHeaderLen = 4

// unpunt removes the punt header from a frame the fast path punted, moving
// the MAC addresses over it, and corrects the offsets of the virtio-net
// header, which the kernel counted from the start of the longer frame.
func unpunt(f *dataplane.Frame, ethertype uint16) {
	d := f.Data
	if len(d) < macsLen+PuntHeaderLen || binary.BigEndian.Uint16(d[macsLen:]) != ethertype {
		return
	}
	copy(d[PuntHeaderLen:PuntHeaderLen+macsLen], d[:macsLen])
	f.Data = d[PuntHeaderLen:]
	if f.VNet.Flags&dataplane.VNetHdrFNeedsCsum != 0 && f.VNet.CsumStart >= PuntHeaderLen {
		f.VNet.CsumStart -= PuntHeaderLen
	}
	if f.VNet.HdrLen >= PuntHeaderLen {
		f.VNet.HdrLen -= PuntHeaderLen
	}
}

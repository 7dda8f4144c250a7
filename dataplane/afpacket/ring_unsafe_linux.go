package afpacket

// The receive ring's unsafe code: it finds the kernel's headers in the ring.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// blockHdrOffset is where struct tpacket_hdr_v1 starts in a block, after the
// version and offset_to_priv words of struct tpacket_block_desc.
const blockHdrOffset = int(unsafe.Offsetof(unix.TpacketBlockDesc{}.Hdr))

// blockHdr returns the header of block b.
func (r *ring) blockHdr(b int) *unix.TpacketHdrV1 {
	off := b*r.blockSize + blockHdrOffset
	_ = r.mem[off+int(unsafe.Sizeof(unix.TpacketHdrV1{}))-1]
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&r.mem[off]))
}

// packetHdr returns the header of the packet at offset off of the ring.
func (r *ring) packetHdr(off int) *unix.Tpacket3Hdr {
	_ = r.mem[off+unix.SizeofTpacket3Hdr-1]
	return (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[off]))
}

package afxdp

// The ring's unsafe code: it finds the indices and entries in the memory the
// kernel maps.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// descSize is the size of an entry of the RX and TX rings.
const descSize = unsafe.Sizeof(unix.XDPDesc{})

func newRing(mem []byte, off unix.XDPRingOffset, size uint32) ring {
	base := unsafe.Pointer(&mem[0])
	return ring{
		mem:   mem,
		prod:  (*uint32)(unsafe.Add(base, off.Producer)),
		cons:  (*uint32)(unsafe.Add(base, off.Consumer)),
		flags: (*uint32)(unsafe.Add(base, off.Flags)),
		descs: (*byte)(unsafe.Add(base, off.Desc)),
		mask:  size - 1,
		size:  size,
	}
}

// Entries of the address rings (fill, completion).
func (r *ring) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(unsafe.Pointer(r.descs), uintptr(i&r.mask)*8))
}

// Entries of the descriptor rings (RX, TX).
func (r *ring) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(unsafe.Pointer(r.descs), uintptr(i&r.mask)*descSize))
}

package afxdp

// The UMEM's unsafe code: where a buffer lies in it.

import "unsafe"

// offset returns the offset of b in the UMEM, or false when b lies
// elsewhere.
func (u *UMEM) offset(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	start := uintptr(unsafe.Pointer(&u.mem[0]))
	p := uintptr(unsafe.Pointer(&b[0]))
	if p < start || p+uintptr(len(b)) > start+uintptr(len(u.mem)) {
		return 0, false
	}
	off := uint64(p - start)
	if (off+uint64(len(b))-1)>>u.shift != off>>u.shift {
		return 0, false // spans two frames: not one of ours
	}
	return off, true
}

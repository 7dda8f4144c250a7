package afpacket

// The shared ring's unsafe code: it finds the kernel's headers in a slot.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sllOffset is where the kernel puts the struct sockaddr_ll of a slot:
// after the tpacket2_hdr, aligned to TPACKET_ALIGNMENT.
const sllOffset = (unix.SizeofTpacket2Hdr + 15) &^ 15

// hdr returns the header of the slot at offset off of the ring.
func (s *slots) hdr(off int) *unix.Tpacket2Hdr {
	_ = s.mem[off+unix.SizeofTpacket2Hdr-1]
	return (*unix.Tpacket2Hdr)(unsafe.Pointer(&s.mem[off]))
}

// ifindex returns the sll_ifindex of the slot at offset off: the interface
// the frame came in on.
func (s *slots) ifindex(off int) int32 {
	p := off + sllOffset + int(unsafe.Offsetof(unix.RawSockaddrLinklayer{}.Ifindex))
	_ = s.mem[p+3]
	return *(*int32)(unsafe.Pointer(&s.mem[p]))
}

// recvDontWait takes the next frame of fd's receive queue into buf and
// returns its whole length (MSG_TRUNC), which exceeds len(buf) if it did not
// fit, or -1 if there was none.
func recvDontWait(fd uintptr, buf []byte) int {
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
			unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1
		}
		return int(r)
	}
}

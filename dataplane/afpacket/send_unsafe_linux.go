package afpacket

// Sending's unsafe code: the sendmmsg call.

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendmmsg sends msgs on fd without waiting, and returns how many went.
func sendmmsg(fd uintptr, msgs []unix.Mmsghdr) (int, syscall.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd,
		uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(r), e
}

// setName makes sa the address of the message h.
func setName(h *unix.Msghdr, sa *unix.RawSockaddrLinklayer) {
	h.Name = (*byte)(unsafe.Pointer(sa))
	h.Namelen = unix.SizeofSockaddrLinklayer
}

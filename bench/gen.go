package main

import (
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// generator sends one frame over and over from an AF_PACKET socket, in
// batches of sendmmsg. Its socket is a plain blocking file descriptor, not
// registered with Go's netpoller: every frame the kernel frees would
// otherwise wake the netpoller's epoll through the socket's write-space
// callback, which costs the sending core more than switching the frame.
type generator struct {
	fd   int
	msgs []unix.Mmsghdr
	iov  unix.Iovec
}

// newGenerator opens a generator on ifname in the calling thread's network
// namespace.
func newGenerator(ifname string, frame []byte, batch int) (*generator, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	// Protocol 0: the socket receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("generator socket: %w", err)
	}
	g := &generator{fd: fd, msgs: make([]unix.Mmsghdr, batch)}
	for _, o := range []struct{ level, opt, val int }{
		{unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1},
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4 << 20},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			g.close()
			return nil, fmt.Errorf("generator setsockopt %d: %w", o.opt, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		g.close()
		return nil, fmt.Errorf("generator bind %s: %w", ifname, err)
	}
	g.iov.Base = &frame[0]
	g.iov.SetLen(len(frame))
	for i := range g.msgs {
		g.msgs[i].Hdr.Iov = &g.iov
		g.msgs[i].Hdr.SetIovlen(1)
	}
	return g, nil
}

// send sends one batch and returns how many frames the kernel took.
func (g *generator) send() (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(g.fd), uintptr(unsafe.Pointer(&g.msgs[0])), uintptr(len(g.msgs)), 0, 0, 0)
	if e != 0 {
		if errors.Is(e, unix.ENOBUFS) || errors.Is(e, unix.EAGAIN) || errors.Is(e, unix.EINTR) {
			return 0, nil
		}
		return 0, e
	}
	return int(r), nil
}

func (g *generator) close() { unix.Close(g.fd) }

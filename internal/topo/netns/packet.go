package netns

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/packetsock"
)

// OpenPacket opens an AF_PACKET socket bound to the link ifname of the
// calling thread's namespace (call it inside Do). A receiving socket is
// non-blocking, sees every protocol but not the frames it or others send on
// the link, and reports stripped VLAN tags in PACKET_AUXDATA. A sending one
// is blocking and, bound to protocol 0, receives nothing.
func OpenPacket(ifname string, recv bool) (fd int, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, fmt.Errorf("netns: packet socket on %s: %w", ifname, err)
	}
	typ := unix.SOCK_RAW | unix.SOCK_CLOEXEC
	if recv {
		typ |= unix.SOCK_NONBLOCK
	}
	// Protocol 0 until bind, so no frame of another link slips in.
	fd, err = unix.Socket(unix.AF_PACKET, typ, 0)
	if err != nil {
		return -1, fmt.Errorf("netns: packet socket on %s: %w", ifname, err)
	}
	if err := setupPacket(fd, ifi.Index, recv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netns: packet socket on %s: %w", ifname, err)
	}
	return fd, nil
}

func setupPacket(fd, ifindex int, recv bool) error {
	var proto uint16
	if recv {
		proto = packetsock.Htons(unix.ETH_P_ALL)
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return fmt.Errorf("PACKET_AUXDATA: %w", err)
		}
		// Older kernels lack it; readers also skip PACKET_OUTGOING.
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
			return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

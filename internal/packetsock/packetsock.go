// Package packetsock holds the small AF_PACKET helpers that the port packages
// and the test helpers share.
package packetsock

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Htons converts a 16-bit value to network byte order, as sockaddr_ll and
// socket(2) want an ethertype, whatever the host's byte order.
func Htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// AddPromiscuous makes the interface promiscuous for as long as fd, an
// AF_PACKET socket, stays open. A membership, unlike setting IFF_PROMISC, is
// counted per socket and undone by the kernel when the socket closes, also
// when the process dies.
func AddPromiscuous(fd, ifindex int) error {
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
	return unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq)
}

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo"
)

// A guest whose interface comes up with IPv6 announces itself with a few
// multicast frames at once: an MLD report joining its solicited-node group,
// a neighbour solicitation checking that its link-local address is free,
// and a router solicitation. Hundreds of guests booting together (a dom0
// coming back up) send them all within a moment, and every switch port
// receives every one unless the switch snoops MLD. burstFrames builds one
// guest's three, with mac its address.
func burstFrames(mac net.HardwareAddr) [][]byte {
	ll := linkLocal(mac)
	b := ll.As16()
	sn := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
	unspec := netip.IPv6Unspecified()

	// MLDv2 report (type 143): one record, CHANGE_TO_EXCLUDE_MODE of sn
	// with no sources, i.e. "join".
	mld := make([]byte, 8+20)
	mld[0] = 143
	binary.BigEndian.PutUint16(mld[6:], 1)
	mld[8] = 4
	copy(mld[12:], sn.AsSlice())
	// Neighbour solicitation (135) for ll from ::, duplicate address detection.
	ns := make([]byte, 8+16)
	ns[0] = 135
	copy(ns[8:], ll.AsSlice())
	// Router solicitation (133) from ll, with its source link-layer address.
	rs := make([]byte, 8+8)
	rs[0] = 133
	rs[8], rs[9] = 1, 1
	copy(rs[10:], mac)

	return [][]byte{
		icmp6Frame(mac, unspec, netip.MustParseAddr("ff02::16"), 1, true, mld),
		icmp6Frame(mac, unspec, sn, 255, false, ns),
		icmp6Frame(mac, ll, netip.MustParseAddr("ff02::2"), 255, false, rs),
	}
}

// linkLocal is the EUI-64 link-local address of mac.
func linkLocal(mac net.HardwareAddr) netip.Addr {
	a := [16]byte{0: 0xfe, 1: 0x80}
	copy(a[8:], []byte{mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]})
	return netip.AddrFrom16(a)
}

// icmp6Frame returns an Ethernet frame from src (MAC srcMAC) to the
// multicast address dst (MAC 33:33 and its last four bytes) carrying the
// ICMPv6 message msg, whose checksum it fills in; with routerAlert, behind
// a hop-by-hop header with the router alert option, as MLD is sent.
func icmp6Frame(srcMAC net.HardwareAddr, src, dst netip.Addr, hopLimit byte, routerAlert bool, msg []byte) []byte {
	d := dst.As16()
	f := []byte{0x33, 0x33, d[12], d[13], d[14], d[15]}
	f = append(f, srcMAC...)
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_IPV6)
	var hbh []byte
	next := byte(unix.IPPROTO_ICMPV6)
	if routerAlert {
		// Next header, length 0 (8 bytes), router alert (MLD), PadN.
		hbh = []byte{unix.IPPROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0}
		next = unix.IPPROTO_HOPOPTS
	}
	f = append(f, 0x60, 0, 0, 0)
	f = binary.BigEndian.AppendUint16(f, uint16(len(hbh)+len(msg)))
	f = append(f, next, hopLimit)
	f = append(f, src.AsSlice()...)
	f = append(f, dst.AsSlice()...)
	f = append(f, hbh...)
	start := len(f)
	f = append(f, msg...)
	binary.BigEndian.PutUint16(f[start+2:], icmp6Checksum(src, dst, f[start:]))
	return f
}

// icmp6Checksum is the checksum of an ICMPv6 message (checksum field zero)
// with its IPv6 pseudo-header.
func icmp6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var tail [8]byte
	binary.BigEndian.PutUint32(tail[:], uint32(len(msg)))
	tail[7] = unix.IPPROTO_ICMPV6
	return inetChecksum(src.AsSlice(), dst.AsSlice(), tail[:], msg)
}

// burster sends every idle guest's burst frames at once: those of the
// guests in the shared namespace from one packet socket there, addressed
// to each guest's interface, in as few sendmmsg calls as the kernel allows;
// those of guest c through its own socket.
type burster struct {
	fd     int
	frames [][]byte
	addrs  []unix.RawSockaddrLinklayer
	iovs   []unix.Iovec
	msgs   []unix.Mmsghdr
	c      *topo.Guest
	cFrame [][]byte
}

// newBurster prepares the burst of t's idle guests; nil if it has none.
func newBurster(t *topology) (*burster, error) {
	if t.c == nil {
		return nil, nil
	}
	b := &burster{fd: -1, c: t.c, cFrame: burstFrames(t.c.MAC())}
	ig := t.more
	if ig == nil {
		return b, nil
	}
	err := ig.ns.Do(func() (err error) {
		b.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("burst socket: %w", err)
	}
	if err := unix.SetsockoptInt(b.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 32<<20); err != nil {
		b.close()
		return nil, fmt.Errorf("burst socket: %w", err)
	}
	for i, mac := range ig.macs {
		for _, f := range burstFrames(mac) {
			b.frames = append(b.frames, f)
			sa := unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(unix.ETH_P_IPV6), Ifindex: int32(ig.ifindex[i]), Halen: 6}
			copy(sa.Addr[:], f[:6])
			b.addrs = append(b.addrs, sa)
		}
	}
	b.iovs = make([]unix.Iovec, len(b.frames))
	b.msgs = make([]unix.Mmsghdr, len(b.frames))
	for i, f := range b.frames {
		b.iovs[i].Base = &f[0]
		b.iovs[i].SetLen(len(f))
		h := &b.msgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.addrs[i]))
		h.Namelen = unix.SizeofSockaddrLinklayer
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	return b, nil
}

// size is the number of frames in the burst.
func (b *burster) size() int { return len(b.frames) + len(b.cFrame) }

// fire sends the burst and returns how many of its frames the guests'
// interfaces refused: a veth refuses a frame when the backlog of the CPU
// that would receive it is full, which the copies a switch floods can
// fill.
func (b *burster) fire() (refused int, err error) {
	for _, f := range b.cFrame {
		if err := b.c.Inject(f); errors.Is(err, unix.ENOBUFS) {
			refused++
		} else if err != nil {
			return refused, err
		}
	}
	for sent := 0; sent < len(b.msgs); {
		n := min(len(b.msgs)-sent, 1024) // UIO_MAXIOV
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(b.fd), uintptr(unsafe.Pointer(&b.msgs[sent])), uintptr(n), 0, 0, 0)
		switch {
		case e == unix.ENOBUFS:
			// sendmmsg reports an error only for its first message.
			refused++
			sent++
		case e != 0:
			return refused, fmt.Errorf("burst: sendmmsg: %w", e)
		default:
			sent += int(r)
		}
	}
	return refused, nil
}

func (b *burster) close() {
	if b != nil && b.fd >= 0 {
		unix.Close(b.fd)
	}
}

// htons is v in network byte order, as sockaddr_ll's protocol holds it.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

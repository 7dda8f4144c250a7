package fdb

import (
	"net"
	"strconv"
)

// Key names one entry of a bridge's table: the VLAN id in bits 48–59 and the
// MAC address, first octet most significant, in bits 0–47. One machine word
// is cheap to hash and compare, which is what the per-frame lookup needs.
type Key uint64

const (
	macBits = 48
	vidMask = 0xfff
	// groupBit is the I/G bit of the first MAC octet, set for multicast and
	// broadcast addresses; such an address is never a frame's source.
	groupBit = 1 << 40
)

// MakeKey packs a VLAN id (its low 12 bits) and the first six bytes of mac.
// It panics if mac is shorter than six bytes.
func MakeKey(vid uint16, mac []byte) Key {
	_ = mac[5] // one bounds check instead of six
	return Key(uint64(vid&vidMask)<<macBits |
		uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 |
		uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5]))
}

// VID returns the VLAN id of k.
func (k Key) VID() uint16 { return uint16(k>>macBits) & vidMask }

// MAC returns the MAC address of k in a new slice; it allocates, so it is
// meant for control and display paths, not for the per-frame path.
func (k Key) MAC() net.HardwareAddr {
	return net.HardwareAddr{
		byte(k >> 40), byte(k >> 32), byte(k >> 24),
		byte(k >> 16), byte(k >> 8), byte(k),
	}
}

// isGroup reports whether k's MAC is a multicast or broadcast address.
func (k Key) isGroup() bool { return k&groupBit != 0 }

// String formats k like iproute2's `bridge fdb`: the MAC, then "vlan N" when
// the VLAN id is not 0.
func (k Key) String() string {
	s := k.MAC().String()
	if vid := k.VID(); vid != 0 {
		s += " vlan " + strconv.Itoa(int(vid))
	}
	return s
}

package policy

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

// Ethernet and network header layout the frame check reads.
const (
	ethHdrLen   = 14
	vlanTagLen  = 4
	arpLen      = 28 // Ethernet/IPv4 ARP
	ipv4HdrLen  = 20 // without options
	ipv6HdrLen  = 40
	icmpv6NALen = 24 // type, code, checksum, flags, target

	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8

	protoICMPv6      = 58
	icmpv6NeighAdv   = 136
	maxIPv6ExtHeader = 8 // more than a real packet carries; a longer chain is refused
)

// Spoofed reports whether the port may not send frame, an Ethernet frame
// from its destination MAC on, under anti-spoofing: the source MAC is not
// p.MAC, an IPv4 or ARP sender, an IPv6 source or a neighbour
// advertisement's target is not one the port may use, the ethertype is
// none of IPv4, ARP and IPv6, or a header it must read is cut short. It is
// false when p.AntiSpoof is off. An 802.1Q or 802.1ad tag still in the frame
// is skipped. Spoofed does not allocate.
func (p *Policy) Spoofed(frame []byte) bool {
	if !p.AntiSpoof {
		return false
	}
	if len(frame) < ethHdrLen || !bytes.Equal(frame[6:12], p.MAC) {
		return true
	}
	l3 := ethHdrLen
	et := binary.BigEndian.Uint16(frame[12:])
	for range 2 {
		if et != etherTypeVLAN && et != etherTypeQinQ {
			break
		}
		if len(frame) < l3+vlanTagLen {
			return true
		}
		et = binary.BigEndian.Uint16(frame[l3+2:])
		l3 += vlanTagLen
	}
	d := frame[l3:]
	switch et {
	case etherTypeIPv4:
		if len(d) < ipv4HdrLen {
			return true
		}
		return !p.allows4(d[12:16])
	case etherTypeARP:
		// Ethernet hardware, IPv4 protocol: anything else is not what a
		// guest's IPv4 stack sends.
		if len(d) < arpLen || binary.BigEndian.Uint16(d[0:]) != 1 ||
			binary.BigEndian.Uint16(d[2:]) != etherTypeIPv4 || d[4] != 6 || d[5] != 4 {
			return true
		}
		// The sender hardware address is the one neighbours will
		// cache: it must be the port's, as the frame's source is.
		if !bytes.Equal(d[8:14], p.MAC) {
			return true
		}
		return !p.allows4(d[14:18])
	case etherTypeIPv6:
		return p.spoofed6(d)
	}
	return true
}

// allows4 reports whether the port may send from IPv4 address a, or from
// 0.0.0.0 (DHCP, ARP probes). It is AllowsAddr for IPv4, where only Allowed
// counts, without copying the policy per frame.
func (p *Policy) allows4(a []byte) bool {
	addr := netip.AddrFrom4([4]byte(a))
	if addr.IsUnspecified() {
		return true
	}
	for _, pr := range p.Allowed {
		if pr.Contains(addr) {
			return true
		}
	}
	return false
}

// spoofed6 checks an IPv6 packet: its source, and the target of a neighbour
// advertisement, which is what a neighbour cache believes.
func (p *Policy) spoofed6(d []byte) bool {
	if len(d) < ipv6HdrLen {
		return true
	}
	src := netip.AddrFrom16([16]byte(d[8:24]))
	if !src.IsUnspecified() && !p.AllowsAddr(src) {
		return true
	}
	next, off := d[6], ipv6HdrLen
	for range maxIPv6ExtHeader {
		switch next {
		case protoICMPv6:
			icmp := d[off:]
			if len(icmp) < 1 {
				return true
			}
			if icmp[0] != icmpv6NeighAdv {
				return false
			}
			if len(icmp) < icmpv6NALen {
				return true
			}
			return !p.AllowsAddr(netip.AddrFrom16([16]byte(icmp[8:24])))
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(d) < off+8 {
				return true
			}
			next, off = d[off], off+8*(int(d[off+1])+1)
		case 44: // fragment: only the first one holds the upper header
			if len(d) < off+8 {
				return true
			}
			if binary.BigEndian.Uint16(d[off+2:])&^7 != 0 {
				return false
			}
			next, off = d[off], off+8
		default:
			return false
		}
		if off > len(d) {
			return true
		}
	}
	return true
}

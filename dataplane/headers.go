package dataplane

// Parsing of the headers the offload code reads: Ethernet with at most one
// in-band tag, IPv4 or IPv6 without extension headers, TCP and UDP.

import (
	"encoding/binary"
	"errors"
)

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd

	ipProtoTCP = 6
	ipProtoUDP = 17

	ipv4HdrLen = 20 // without options
	ipv6HdrLen = 40
	tcpHdrLen  = 20 // without options
	udpHdrLen  = 8
)

// Sentinel errors, so that the failure paths allocate nothing either. They
// reach callers only through Segmenter.Init, hence the prefix.
var (
	errEthTrunc   = errors.New("gso: ethernet header truncated")
	errNotIP      = errors.New("gso: not an ip packet")
	errIPTrunc    = errors.New("gso: ip header truncated")
	errIPVersion  = errors.New("gso: ip version does not match ethertype")
	errIPv4HdrLen = errors.New("gso: bad ipv4 header length")
	errIPv4Frag   = errors.New("gso: ipv4 fragment")
	errTCPTrunc   = errors.New("gso: tcp header truncated")
	errTCPDataOff = errors.New("gso: bad tcp data offset")
	errUDPTrunc   = errors.New("gso: udp header truncated")
)

// ipHeader is where an Ethernet frame's IP header and the header after it
// are.
type ipHeader struct {
	l3, l4 int  // offsets of the IP header and of the header after it
	proto  byte // IPv4 protocol or IPv6 next header
	v6     bool
}

// parseIP finds the IP header of an Ethernet frame and checks that it is
// whole, that its version matches the ethertype and that it is not an IPv4
// fragment. The IP length fields are left to the caller, who may not trust
// them.
func parseIP(d []byte) (ipHeader, error) {
	var h ipHeader
	l3, et, ok := l3Offset(d)
	if !ok {
		return h, errEthTrunc
	}
	if et != etherTypeIPv4 && et != etherTypeIPv6 {
		return h, errNotIP
	}
	if len(d) <= l3 {
		return h, errIPTrunc
	}
	version := d[l3] >> 4
	if et == etherTypeIPv4 && version != 4 || et == etherTypeIPv6 && version != 6 {
		return h, errIPVersion
	}
	h.l3 = l3
	h.v6 = version == 6
	if h.v6 {
		if len(d) < l3+ipv6HdrLen {
			return h, errIPTrunc
		}
		h.proto = d[l3+6]
		h.l4 = l3 + ipv6HdrLen
		return h, nil
	}
	if len(d) < l3+ipv4HdrLen {
		return h, errIPTrunc
	}
	ihl := int(d[l3]&0x0f) * 4
	if ihl < ipv4HdrLen {
		return h, errIPv4HdrLen
	}
	if len(d) < l3+ihl {
		return h, errIPTrunc
	}
	// A fragment's L4 header and checksum belong to the whole datagram.
	if binary.BigEndian.Uint16(d[l3+6:])&0x3fff != 0 {
		return h, errIPv4Frag
	}
	h.proto = d[l3+9]
	h.l4 = l3 + ihl
	return h, nil
}

// l4HdrLen returns the length of the UDP header, or of the TCP header with
// its options, at d[l4:].
func l4HdrLen(d []byte, l4 int, udp bool) (int, error) {
	if udp {
		if len(d) < l4+udpHdrLen {
			return 0, errUDPTrunc
		}
		return udpHdrLen, nil
	}
	if len(d) < l4+tcpHdrLen {
		return 0, errTCPTrunc
	}
	off := int(d[l4+12]>>4) * 4
	if off < tcpHdrLen {
		return 0, errTCPDataOff
	}
	if len(d) < l4+off {
		return 0, errTCPTrunc
	}
	return off, nil
}

// l3Offset returns where the IP header starts in an Ethernet frame, after
// one in-band 802.1Q or 802.1ad tag if there is one, and its ethertype.
func l3Offset(d []byte) (int, uint16, bool) {
	if len(d) < EthHdrLen {
		return 0, 0, false
	}
	et := binary.BigEndian.Uint16(d[12:])
	if et != EtherTypeVLAN && et != EtherTypeQinQ {
		return EthHdrLen, et, true
	}
	if len(d) < EthHdrLen+VLANTagLen {
		return 0, 0, false
	}
	return EthHdrLen + VLANTagLen, binary.BigEndian.Uint16(d[16:]), true
}

// ipv6ExtHeader reports whether next header value nh is an IPv6 extension
// header (RFC 7045 and the IANA registry).
func ipv6ExtHeader(nh byte) bool {
	switch nh {
	case 0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254:
		return true
	}
	return false
}

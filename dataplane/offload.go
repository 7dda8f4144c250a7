package dataplane

// Offload finishing in software, for ports (AF_XDP) that cannot hand offload
// metadata to the device: partial checksums are completed and GSO super-frames
// are cut into wire-sized segments the way the kernel's tcp/udp GSO does.

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

const (
	offEthHdrLen  = 14
	offVLANTagLen = 4
	offEtherIPv4  = 0x0800
	offEtherIPv6  = 0x86dd
	offEtherVLAN  = 0x8100
	offEtherQinQ  = 0x88a8

	offProtoTCP = 6
	offProtoUDP = 17

	offTCPFIN = 0x01
	offTCPPSH = 0x08
	offTCPCWR = 0x80
)

// Sentinel errors, so that the failure paths allocate nothing either.
var (
	errCsumRange     = errors.New("checksum: csum start or offset out of range")
	errGSOType       = errors.New("gso: unsupported gso type")
	errGSOSize       = errors.New("gso: gso size is zero")
	errEthTrunc      = errors.New("gso: ethernet header truncated")
	errNotIP         = errors.New("gso: not an ip packet")
	errIPTrunc       = errors.New("gso: ip header truncated")
	errIPVersion     = errors.New("gso: ip version does not match ethertype")
	errIPVersionType = errors.New("gso: ip version does not match gso type")
	errIPv4HdrLen    = errors.New("gso: bad ipv4 header length")
	errIPv4Frag      = errors.New("gso: ipv4 fragment")
	errIPv6Ext       = errors.New("gso: ipv6 extension headers not supported")
	errL4Proto       = errors.New("gso: l4 protocol does not match gso type")
	errCsumStart     = errors.New("gso: csum start does not match l4 offset")
	errTCPTrunc      = errors.New("gso: tcp header truncated")
	errTCPDataOff    = errors.New("gso: bad tcp data offset")
	errUDPTrunc      = errors.New("gso: udp header truncated")
	errSegTooLong    = errors.New("gso: segment too long for ip length field")
	errSegIndex      = errors.New("gso: segment index out of range")
	errDstShort      = errors.New("gso: destination too short")
)

// FinishChecksum completes the partial checksum of a frame whose VNet.Flags
// has VNetHdrFNeedsCsum (the checksum field at CsumStart+CsumOffset already
// holds the pseudo-header sum, as the kernel leaves it for CHECKSUM_PARTIAL):
// it sums Data[CsumStart:], stores the folded complement in the field, and
// clears the flag. Frames without the flag are left alone. It returns an error,
// and leaves the frame untouched, when the offsets are out of range.
func FinishChecksum(f *Frame) error {
	if f.VNet.Flags&VNetHdrFNeedsCsum == 0 {
		return nil
	}
	if !csumInRange(f) {
		return errCsumRange
	}
	finishCsum(f.Data, int(f.VNet.CsumStart), int(f.VNet.CsumOffset))
	f.VNet.Flags &^= VNetHdrFNeedsCsum
	return nil
}

// GSOSegments returns how many frames f becomes once its GSO super-frame is
// cut to VNet.GSOSize payload bytes per segment: 1 when GSOType is none.
// Supported are VNetHdrGSOTCPv4, VNetHdrGSOTCPv6 and VNetHdrGSOUDPL4 (IPv4 or
// IPv6, told by the IP version nibble), each possibly | VNetHdrGSOECN. It
// returns an error for anything else (VNetHdrGSOUDP, that is UFO, included),
// for a zero GSOSize, for malformed or truncated headers and for IPv6
// extension headers before TCP/UDP.
//
// When GSOSegments succeeds, so do SegmentLen and WriteSegment (given a dst
// that long) for every segment.
func GSOSegments(f *Frame) (int, error) {
	if f.VNet.GSOType == VNetHdrGSONone {
		if f.VNet.Flags&VNetHdrFNeedsCsum != 0 && !csumInRange(f) {
			return 0, errCsumRange
		}
		return 1, nil
	}
	g, err := parseGSO(f)
	if err != nil {
		return 0, err
	}
	return g.n, nil
}

// SegmentLen returns the length of segment i (0 <= i < n, n from GSOSegments)
// of f: the size dst must have for WriteSegment.
func SegmentLen(f *Frame, i int) (int, error) {
	if f.VNet.GSOType == VNetHdrGSONone {
		if i != 0 {
			return 0, errSegIndex
		}
		return len(f.Data), nil
	}
	g, err := parseGSO(f)
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= g.n {
		return 0, errSegIndex
	}
	return g.segLen(i, len(f.Data)), nil
}

// WriteSegment writes segment i (0 <= i < n, n from GSOSegments) of f into
// dst, which must hold at least SegmentLen bytes and must not overlap f.Data,
// and returns its length. The segment is a complete frame for the wire: IP
// lengths, IPv4 ID and header checksum, TCP sequence number and flags, UDP
// length and the L4 checksum are all final, so it is sent without offload
// metadata. A frame without GSO is copied, with its partial checksum, if
// any, finished in dst. f itself is never modified.
//
// As in the kernel, the end of the super-frame is the end of Data: its IP and
// UDP length fields are not trusted (BIG TCP leaves them zero). The pending
// L4 checksum is not trusted either, since stacks disagree on whether it
// includes the length, and is recomputed in full.
func WriteSegment(f *Frame, i int, dst []byte) (int, error) {
	if f.VNet.GSOType == VNetHdrGSONone {
		if i != 0 {
			return 0, errSegIndex
		}
		needsCsum := f.VNet.Flags&VNetHdrFNeedsCsum != 0
		if needsCsum && !csumInRange(f) {
			return 0, errCsumRange
		}
		if len(dst) < len(f.Data) {
			return 0, errDstShort
		}
		n := copy(dst, f.Data)
		if needsCsum {
			finishCsum(dst[:n], int(f.VNet.CsumStart), int(f.VNet.CsumOffset))
		}
		return n, nil
	}

	g, err := parseGSO(f)
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= g.n {
		return 0, errSegIndex
	}
	d := f.Data
	segLen := g.segLen(i, len(d))
	if len(dst) < segLen {
		return 0, errDstShort
	}
	start := g.hdrLen + i*g.size
	copy(dst, d[:g.hdrLen])
	copy(dst[g.hdrLen:segLen], d[start:])
	s := dst[:segLen]

	ip := s[g.l3:g.l4]
	l4 := s[g.l4:]
	var pseudo uint64
	if g.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		pseudo = csumAdd(0, ip[8:40])
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(l4)))
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+uint16(i))
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], ^csumFold(csumAdd(0, ip)))
		pseudo = csumAdd(0, ip[12:20])
	}

	if g.udp {
		pseudo = csumAddUint(pseudo, offProtoUDP+uint64(len(l4)))
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		binary.BigEndian.PutUint16(l4[6:], 0)
		c := ^csumFold(csumAdd(pseudo, l4))
		if c == 0 {
			c = 0xffff // 0 would mean "no checksum"
		}
		binary.BigEndian.PutUint16(l4[6:], c)
		return segLen, nil
	}

	pseudo = csumAddUint(pseudo, offProtoTCP+uint64(len(l4)))
	binary.BigEndian.PutUint32(l4[4:], binary.BigEndian.Uint32(l4[4:])+uint32(i)*uint32(g.size))
	// FIN and PSH belong to the end of the data, CWR to the first segment
	// sent after the window was reduced.
	if i != g.n-1 {
		l4[13] &^= offTCPFIN | offTCPPSH
	}
	if i != 0 {
		l4[13] &^= offTCPCWR
	}
	binary.BigEndian.PutUint16(l4[16:], 0)
	binary.BigEndian.PutUint16(l4[16:], ^csumFold(csumAdd(pseudo, l4)))
	return segLen, nil
}

// CompletePendingChecksum is for frames that arrive without offload metadata
// (AF_XDP): a guest's stack may have left a TCP or UDP checksum to be
// finished, and the metadata that said so was lost. If the L4 checksum of an
// unfragmented IPv4 or IPv6 (without extension headers) TCP or UDP packet in
// data does not verify, and the field holds exactly the folded pseudo-header
// sum (what a pending checksum holds), it writes the correct checksum and
// returns true. Everything else (correct checksums, really corrupt ones, UDP
// over IPv4 without checksum, non-IP) is left as is, and it returns false.
//
// The L4 length comes from the IP header, so Ethernet padding is not summed.
func CompletePendingChecksum(data []byte) bool {
	l3, et, ok := l3Offset(data)
	if !ok {
		return false
	}
	var (
		seg    []byte
		proto  byte
		pseudo uint64
	)
	switch et {
	case offEtherIPv4:
		if len(data) < l3+20 || data[l3]>>4 != 4 {
			return false
		}
		ihl := int(data[l3]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(data[l3+2:]))
		if ihl < 20 || total < ihl || l3+total > len(data) {
			return false
		}
		// A fragment's checksum covers the whole datagram.
		if binary.BigEndian.Uint16(data[l3+6:])&0x3fff != 0 {
			return false
		}
		proto = data[l3+9]
		seg = data[l3+ihl : l3+total]
		pseudo = csumAdd(0, data[l3+12:l3+20])
	case offEtherIPv6:
		if len(data) < l3+40 || data[l3]>>4 != 6 {
			return false
		}
		end := l3 + 40 + int(binary.BigEndian.Uint16(data[l3+4:]))
		if end > len(data) {
			return false
		}
		proto = data[l3+6]
		seg = data[l3+40 : end]
		pseudo = csumAdd(0, data[l3+8:l3+40])
	default:
		return false
	}

	var off int
	switch proto {
	case offProtoTCP:
		if len(seg) < 20 {
			return false
		}
		off = 16
	case offProtoUDP:
		if len(seg) < 8 || int(binary.BigEndian.Uint16(seg[4:])) != len(seg) {
			return false
		}
		off = 6
		if et == offEtherIPv4 && binary.BigEndian.Uint16(seg[off:]) == 0 {
			return false // sent without checksum
		}
	default:
		return false
	}

	pseudo = csumAddUint(pseudo, uint64(proto)+uint64(len(seg)))
	if csumFold(csumAdd(pseudo, seg)) == 0xffff {
		return false // verifies
	}
	if binary.BigEndian.Uint16(seg[off:]) != csumFold(pseudo) {
		return false // corrupt, and not by us to hide
	}
	binary.BigEndian.PutUint16(seg[off:], 0)
	c := ^csumFold(csumAdd(pseudo, seg))
	if c == 0 && proto == offProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:], c)
	return true
}

// gsoLayout is where the headers of a GSO super-frame are, as found by
// parseGSO.
type gsoLayout struct {
	l3, l4, hdrLen int // offsets of the IP header, L4 header and payload
	size           int // payload bytes per segment
	n              int // number of segments
	v6, udp        bool
}

// segLen is the length of segment i of a super-frame of frameLen bytes.
func (g *gsoLayout) segLen(i, frameLen int) int {
	return g.hdrLen + min(g.size, frameLen-g.hdrLen-i*g.size)
}

// parseGSO checks that f is a super-frame WriteSegment can cut and finds its
// headers. The headers decide, not VNet.HdrLen: it is only a hint and guests
// get it wrong.
func parseGSO(f *Frame) (gsoLayout, error) {
	var g gsoLayout
	d := f.Data
	want := 0 // IP version the GSO type requires, 0 for either
	switch f.VNet.GSOType &^ VNetHdrGSOECN {
	case VNetHdrGSOTCPv4:
		want = 4
	case VNetHdrGSOTCPv6:
		want = 6
	case VNetHdrGSOUDPL4:
		g.udp = true
	default:
		return g, errGSOType
	}
	if f.VNet.GSOSize == 0 {
		return g, errGSOSize
	}
	g.size = int(f.VNet.GSOSize)

	l3, et, ok := l3Offset(d)
	if !ok {
		return g, errEthTrunc
	}
	if et != offEtherIPv4 && et != offEtherIPv6 {
		return g, errNotIP
	}
	if len(d) <= l3 {
		return g, errIPTrunc
	}
	version := int(d[l3] >> 4)
	if et == offEtherIPv4 && version != 4 || et == offEtherIPv6 && version != 6 {
		return g, errIPVersion
	}
	if want != 0 && version != want {
		return g, errIPVersionType
	}
	g.l3 = l3
	g.v6 = version == 6

	var proto byte
	if g.v6 {
		if len(d) < l3+40 {
			return g, errIPTrunc
		}
		proto = d[l3+6]
		g.l4 = l3 + 40
	} else {
		if len(d) < l3+20 {
			return g, errIPTrunc
		}
		ihl := int(d[l3]&0x0f) * 4
		if ihl < 20 {
			return g, errIPv4HdrLen
		}
		if len(d) < l3+ihl {
			return g, errIPTrunc
		}
		if binary.BigEndian.Uint16(d[l3+6:])&0x3fff != 0 {
			return g, errIPv4Frag
		}
		proto = d[l3+9]
		g.l4 = l3 + ihl
	}
	wantProto := byte(offProtoTCP)
	if g.udp {
		wantProto = offProtoUDP
	}
	if proto != wantProto {
		if g.v6 && ipv6ExtHeader(proto) {
			return g, errIPv6Ext
		}
		return g, errL4Proto
	}
	// The guest's CsumStart must agree with the headers: segments are built
	// from the headers, and a receiver parses them the same way.
	if f.VNet.Flags&VNetHdrFNeedsCsum != 0 && int(f.VNet.CsumStart) != g.l4 {
		return g, errCsumStart
	}

	if g.udp {
		if len(d) < g.l4+8 {
			return g, errUDPTrunc
		}
		g.hdrLen = g.l4 + 8
	} else {
		if len(d) < g.l4+20 {
			return g, errTCPTrunc
		}
		off := int(d[g.l4+12]>>4) * 4
		if off < 20 {
			return g, errTCPDataOff
		}
		if len(d) < g.l4+off {
			return g, errTCPTrunc
		}
		g.hdrLen = g.l4 + off
	}

	payload := len(d) - g.hdrLen
	ipLen := g.hdrLen - g.l3 + min(g.size, payload) // IPv4 total length
	if g.v6 {
		ipLen -= 40 // IPv6 payload length
	}
	if ipLen > 0xffff {
		return g, errSegTooLong
	}
	g.n = max(1, (payload+g.size-1)/g.size)
	return g, nil
}

// l3Offset returns where the IP header starts in an Ethernet frame, after
// one in-band 802.1Q or 802.1ad tag if there is one, and its ethertype.
func l3Offset(d []byte) (int, uint16, bool) {
	if len(d) < offEthHdrLen {
		return 0, 0, false
	}
	et := binary.BigEndian.Uint16(d[12:])
	if et != offEtherVLAN && et != offEtherQinQ {
		return offEthHdrLen, et, true
	}
	if len(d) < offEthHdrLen+offVLANTagLen {
		return 0, 0, false
	}
	return offEthHdrLen + offVLANTagLen, binary.BigEndian.Uint16(d[16:]), true
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

func csumInRange(f *Frame) bool {
	return int(f.VNet.CsumStart)+int(f.VNet.CsumOffset)+2 <= len(f.Data)
}

// finishCsum completes the partial checksum at b[start+off:] over b[start:].
func finishCsum(b []byte, start, off int) {
	c := ^csumFold(csumAdd(0, b[start:]))
	if c == 0 {
		c = 0xffff // as the kernel does: for UDP, 0 would mean "no checksum"
	}
	binary.BigEndian.PutUint16(b[start+off:], c)
}

// csumAdd adds b, taken as big-endian 16-bit words starting at an even offset
// of the checksummed data (an odd last byte is the high half of a word), to
// the one's-complement accumulator acc; csumFold reduces the result. Summing
// 64-bit words with end-around carry gives the same sum as 16-bit words
// because 2^16-1 divides 2^64-1, and lets the carries chain through
// bits.Add64 (ADC on amd64).
func csumAdd(acc uint64, b []byte) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, c)
	}
	// The last carry goes around; if that overflows too, acc is 0 and
	// takes the second carry without overflowing again.
	acc, c = bits.Add64(acc, 0, c)
	return acc + c
}

// csumAddUint adds v to the one's-complement accumulator acc.
func csumAddUint(acc, v uint64) uint64 {
	acc, c := bits.Add64(acc, v, 0)
	return acc + c
}

// csumFold reduces a one's-complement accumulator to 16 bits. It returns 0
// only when the accumulator is 0.
func csumFold(acc uint64) uint16 {
	s := acc>>32 + acc&0xffffffff // < 2^33
	s = s>>32 + s&0xffffffff      // < 2^32
	s = s>>16 + s&0xffff          // < 2^17
	s = s>>16 + s&0xffff          // < 2^16
	return uint16(s)
}

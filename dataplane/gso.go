package dataplane

// Segmentation offload in software, for ports (AF_XDP) that cannot hand
// offload metadata to the device: GSO super-frames are cut into wire-sized
// segments the way the kernel's tcp/udp GSO does.

import (
	"encoding/binary"
	"errors"
)

const (
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

var (
	errGSOType       = errors.New("gso: unsupported gso type")
	errGSOSize       = errors.New("gso: gso size is zero")
	errIPVersionType = errors.New("gso: ip version does not match gso type")
	errIPv6Ext       = errors.New("gso: ipv6 extension headers not supported")
	errL4Proto       = errors.New("gso: l4 protocol does not match gso type")
	errCsumStart     = errors.New("gso: csum start does not match l4 offset")
	errSegTooLong    = errors.New("gso: segment too long for ip length field")
	errSegIndex      = errors.New("gso: segment index out of range")
	errDstShort      = errors.New("gso: destination too short")
)

// Segmenter cuts one frame into complete frames for the wire. Init parses the
// frame's headers once; Len and Write then only compute and copy. It is a
// plain value: a caller that keeps one (in a port, say) and reuses it for
// every frame segments without allocating. The zero Segmenter has no
// segments.
type Segmenter struct {
	// data is the frame's Data, only read; the caller keeps it unchanged
	// from Init to the last Write.
	data []byte
	// n is the number of segments: 0 in the zero Segmenter and after a
	// failed Init, so that Len and Write find none.
	n int
	// gso says data is a super-frame, which the fields from l3 on
	// describe; otherwise its one segment is a copy of data.
	gso bool
	// needsCsum says a frame without GSO has a partial checksum at
	// csumStart+csumOffset, inside data, which Write finishes in the copy.
	needsCsum             bool
	csumStart, csumOffset int
	// l3, l4 and hdrLen are the offsets of the IP header, the L4 header
	// and the payload in data; the headers are whole.
	l3, l4, hdrLen int
	// size is the payload of every segment but the last, which has at
	// most that many bytes; > 0.
	size int
	v6   bool // IPv6, else IPv4
	udp  bool // UDP, else TCP
}

// Init prepares s to cut f and returns how many frames f becomes once its
// GSO super-frame is cut to VNet.GSOSize payload bytes per segment: 1 when
// GSOType is none. Supported are VNetHdrGSOTCPv4, VNetHdrGSOTCPv6 and
// VNetHdrGSOUDPL4 (IPv4 or IPv6, told by the IP version nibble), each
// possibly | VNetHdrGSOECN. It returns an error for anything else
// (VNetHdrGSOUDP, that is UFO, included), for a zero GSOSize, for malformed
// or truncated headers, for IPv6 extension headers before TCP/UDP, and for
// a frame without GSO whose partial checksum lies outside it.
//
// The headers decide, not VNet.HdrLen: it is only a hint and guests get it
// wrong. As in the kernel, the end of the super-frame is the end of Data: its
// IP and UDP length fields are not trusted (BIG TCP leaves them zero).
//
// When Init succeeds, so does Write for every segment, given a dst of Len
// bytes. f is never modified, and s keeps f.Data, not f.
func (s *Segmenter) Init(f *Frame) (int, error) {
	*s = Segmenter{}
	if f.VNet.GSOType == VNetHdrGSONone {
		needsCsum := f.VNet.Flags&VNetHdrFNeedsCsum != 0
		if needsCsum && !csumInRange(f) {
			return 0, errCsumRange
		}
		*s = Segmenter{data: f.Data, n: 1, needsCsum: needsCsum,
			csumStart: int(f.VNet.CsumStart), csumOffset: int(f.VNet.CsumOffset)}
		return 1, nil
	}
	g, err := parseGSO(f)
	if err != nil {
		return 0, err
	}
	*s = g
	return s.n, nil
}

// parseGSO checks that f is a super-frame a Segmenter can cut and finds its
// headers.
func parseGSO(f *Frame) (Segmenter, error) {
	g := Segmenter{data: f.Data, gso: true}
	d := f.Data
	want := byte(0) // IP version the GSO type requires, 0 for either
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

	ip, err := parseIP(d)
	if err != nil {
		return g, err
	}
	if want != 0 && d[ip.l3]>>4 != want {
		return g, errIPVersionType
	}
	g.l3, g.l4, g.v6 = ip.l3, ip.l4, ip.v6
	wantProto := byte(ipProtoTCP)
	if g.udp {
		wantProto = ipProtoUDP
	}
	if ip.proto != wantProto {
		if g.v6 && ipv6ExtHeader(ip.proto) {
			return g, errIPv6Ext
		}
		return g, errL4Proto
	}
	// The guest's CsumStart must agree with the headers: segments are built
	// from the headers, and a receiver parses them the same way.
	if f.VNet.Flags&VNetHdrFNeedsCsum != 0 && int(f.VNet.CsumStart) != g.l4 {
		return g, errCsumStart
	}
	l4Len, err := l4HdrLen(d, g.l4, g.udp)
	if err != nil {
		return g, err
	}
	g.hdrLen = g.l4 + l4Len

	payload := len(d) - g.hdrLen
	ipLen := g.hdrLen - g.l3 + min(g.size, payload) // IPv4 total length
	if g.v6 {
		ipLen -= ipv6HdrLen // IPv6 payload length
	}
	if ipLen > 0xffff {
		return g, errSegTooLong
	}
	g.n = max(1, (payload+g.size-1)/g.size)
	return g, nil
}

// Len returns the length of segment i, 0 <= i < n (n from Init), and 0 for
// any other i. No segment is longer than segment 0.
func (s *Segmenter) Len(i int) int {
	if uint(i) >= uint(s.n) {
		return 0
	}
	if !s.gso {
		return len(s.data)
	}
	return s.hdrLen + min(s.size, len(s.data)-s.hdrLen-i*s.size)
}

// Write writes segment i, 0 <= i < n (n from Init), into dst, which must
// hold at least Len(i) bytes and must not overlap the frame's Data, and
// returns its length. The segment is a complete frame for the wire: IP
// lengths, IPv4 ID and header checksum, TCP sequence number and flags, UDP
// length and the L4 checksum are all final, so it is sent without offload
// metadata. A frame without GSO is copied, with its partial checksum, if
// any, finished in dst.
//
// The pending L4 checksum of a super-frame is not trusted, since stacks
// disagree on whether it includes the length, and is recomputed in full.
func (s *Segmenter) Write(i int, dst []byte) (int, error) {
	if uint(i) >= uint(s.n) {
		return 0, errSegIndex
	}
	segLen := s.Len(i)
	if len(dst) < segLen {
		return 0, errDstShort
	}
	if !s.gso {
		n := copy(dst, s.data)
		if s.needsCsum {
			finishCsum(dst[:n], s.csumStart, s.csumOffset)
		}
		return n, nil
	}

	copy(dst, s.data[:s.hdrLen])
	copy(dst[s.hdrLen:segLen], s.data[s.hdrLen+i*s.size:])
	seg := dst[:segLen]
	ip := seg[s.l3:s.l4]
	l4 := seg[s.l4:]
	var pseudo uint64
	if s.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		pseudo = csumAdd(0, ip[8:40])
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(l4)))
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+uint16(i))
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], ^csumFold(csumAdd(0, ip)))
		pseudo = csumAdd(0, ip[12:20])
	}

	if s.udp {
		pseudo = csumAddUint(pseudo, ipProtoUDP+uint64(len(l4)))
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		binary.BigEndian.PutUint16(l4[6:], 0)
		c := ^csumFold(csumAdd(pseudo, l4))
		if c == 0 {
			c = 0xffff // 0 would mean "no checksum"
		}
		binary.BigEndian.PutUint16(l4[6:], c)
		return segLen, nil
	}

	pseudo = csumAddUint(pseudo, ipProtoTCP+uint64(len(l4)))
	binary.BigEndian.PutUint32(l4[4:], binary.BigEndian.Uint32(l4[4:])+uint32(i)*uint32(s.size))
	// FIN and PSH belong to the end of the data, CWR to the first segment
	// sent after the window was reduced.
	if i != s.n-1 {
		l4[13] &^= tcpFlagFIN | tcpFlagPSH
	}
	if i != 0 {
		l4[13] &^= tcpFlagCWR
	}
	binary.BigEndian.PutUint16(l4[16:], 0)
	binary.BigEndian.PutUint16(l4[16:], ^csumFold(csumAdd(pseudo, l4)))
	return segLen, nil
}

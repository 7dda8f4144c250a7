package dataplane

// Frames for the tests of the offload code (checksum, csumfix, gso), built
// and checked with gopacket and naive sums, independently of that code.

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// oflSpec describes a TCP or UDP packet for oflBuild.
type oflSpec struct {
	v6, udp bool
	vlan    bool   // in-band 802.1Q tag
	ipOpts  bool   // an IPv4 router alert option, so that IHL is 6
	tcpOpts bool   // NOP, NOP, timestamps, so that the data offset is 8
	id      uint16 // IPv4 ID
	seq     uint32
	flags   uint8 // TCP flags as on the wire
	payload []byte
}

var (
	oflSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	oflDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	oflSrc4   = net.IP{10, 1, 2, 3}
	oflDst4   = net.IP{192, 168, 200, 7}
	oflSrc6   = net.ParseIP("2001:db8::1")
	oflDst6   = net.ParseIP("2001:db8:ffff:1234::2a")
)

// oflBuild serializes s with gopacket, lengths and checksums computed.
func oflBuild(t testing.TB, s oflSpec) []byte {
	t.Helper()
	ipType := layers.EthernetTypeIPv4
	if s.v6 {
		ipType = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: oflSrcMAC, DstMAC: oflDstMAC, EthernetType: ipType}
	ls := []gopacket.SerializableLayer{eth}
	if s.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{Priority: 5, VLANIdentifier: 100, Type: ipType})
	}
	proto := layers.IPProtocolTCP
	if s.udp {
		proto = layers.IPProtocolUDP
	}
	var nl gopacket.NetworkLayer
	if s.v6 {
		ip := &layers.IPv6{Version: 6, TrafficClass: 0x02, FlowLabel: 0x12345, NextHeader: proto,
			HopLimit: 64, SrcIP: oflSrc6, DstIP: oflDst6}
		ls, nl = append(ls, ip), ip
	} else {
		ip := &layers.IPv4{Version: 4, TOS: 0x02, Id: s.id, Flags: layers.IPv4DontFragment, TTL: 64,
			Protocol: proto, SrcIP: oflSrc4, DstIP: oflDst4}
		if s.ipOpts {
			ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
		}
		ls, nl = append(ls, ip), ip
	}
	if s.udp {
		u := &layers.UDP{SrcPort: 40000, DstPort: 40001}
		if err := u.SetNetworkLayerForChecksum(nl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, u)
	} else {
		f := s.flags
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 40443, Seq: s.seq, Ack: 0x01020304, Window: 502,
			FIN: f&0x01 != 0, SYN: f&0x02 != 0, RST: f&0x04 != 0, PSH: f&0x08 != 0,
			ACK: f&0x10 != 0, URG: f&0x20 != 0, ECE: f&0x40 != 0, CWR: f&0x80 != 0}
		if s.tcpOpts {
			tcp.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			}
		}
		if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, tcp)
	}
	ls = append(ls, gopacket.Payload(s.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	d := bytes.Clone(buf.Bytes())
	_, l4, hdrLen := oflOffsets(s)
	// gopacket pads short frames to 60 bytes; GSO super-frames and their
	// segments carry no padding.
	if len(d) != hdrLen+len(s.payload) && len(d) != 60 {
		t.Fatalf("built %d bytes, want %d", len(d), hdrLen+len(s.payload))
	}
	d = d[:hdrLen+len(s.payload)]
	// gopacket leaves a computed UDP checksum of 0 as is; on the wire that
	// means "no checksum", so senders use 0xffff.
	if s.udp && binary.BigEndian.Uint16(d[l4+6:]) == 0 {
		binary.BigEndian.PutUint16(d[l4+6:], 0xffff)
	}
	return d
}

// oflOffsets returns where s's IP header, L4 header and payload start.
func oflOffsets(s oflSpec) (l3, l4, hdrLen int) {
	l3 = 14
	if s.vlan {
		l3 = 18
	}
	l4 = l3 + 20
	if s.v6 {
		l4 = l3 + 40
	} else if s.ipOpts {
		l4 += 4
	}
	hdrLen = l4 + 20
	if s.udp {
		hdrLen = l4 + 8
	} else if s.tcpOpts {
		hdrLen += 12
	}
	return l3, l4, hdrLen
}

func oflCsumOffset(udp bool) int {
	if udp {
		return 6
	}
	return 16
}

// oflPattern returns n bytes that differ from segment to segment.
func oflPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + 3)
	}
	return b
}

// naiveSum is RFC 1071 the slow way, independent of csumAdd.
func naiveSum(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func naiveFold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// naivePseudo sums the pseudo-header of the L4 segment of length l4len in a
// frame whose IP header starts at l3.
func naivePseudo(d []byte, l3 int, v6 bool, proto byte, l4len int) uint32 {
	if v6 {
		return naiveSum(d[l3+8:l3+40]) + uint32(proto) + uint32(l4len)
	}
	return naiveSum(d[l3+12:l3+20]) + uint32(proto) + uint32(l4len)
}

// oflKernelState builds s as a GSO super-frame the way the kernel hands it
// over: the L4 checksum field holds the folded pseudo-header sum, and the
// metadata says where it is.
func oflKernelState(t testing.TB, s oflSpec, gsoSize int) *Frame {
	t.Helper()
	d := oflBuild(t, s)
	l3, l4, hdrLen := oflOffsets(s)
	proto, gso := byte(6), uint8(VNetHdrGSOTCPv4)
	switch {
	case s.udp:
		proto, gso = 17, VNetHdrGSOUDPL4
	case s.v6:
		gso = VNetHdrGSOTCPv6
	}
	off := oflCsumOffset(s.udp)
	binary.BigEndian.PutUint16(d[l4+off:], naiveFold(naivePseudo(d, l3, s.v6, proto, len(d)-l4)))
	return &Frame{Data: d, VNet: VNetHdr{
		Flags: VNetHdrFNeedsCsum, GSOType: gso, HdrLen: uint16(hdrLen), GSOSize: uint16(gsoSize),
		CsumStart: uint16(l4), CsumOffset: uint16(off),
	}}
}

// oflVerify checks, independently of the code under test, that seg is a complete
// IPv4/IPv6 TCP/UDP frame: length fields match its size and the IPv4 header
// and L4 checksums verify.
func oflVerify(t testing.TB, seg []byte) {
	t.Helper()
	l3 := 14
	if et := binary.BigEndian.Uint16(seg[12:]); et == 0x8100 || et == 0x88a8 {
		l3 = 18
	}
	var l4 int
	var proto byte
	v6 := seg[l3]>>4 == 6
	if v6 {
		l4 = l3 + 40
		proto = seg[l3+6]
		if got := int(binary.BigEndian.Uint16(seg[l3+4:])); got != len(seg)-l4 {
			t.Fatalf("ipv6 payload length %d, want %d", got, len(seg)-l4)
		}
	} else {
		l4 = l3 + int(seg[l3]&0xf)*4
		proto = seg[l3+9]
		if got := int(binary.BigEndian.Uint16(seg[l3+2:])); got != len(seg)-l3 {
			t.Fatalf("ipv4 total length %d, want %d", got, len(seg)-l3)
		}
		if c := naiveFold(naiveSum(seg[l3:l4])); c != 0xffff {
			t.Fatalf("ipv4 header checksum does not verify (sum %#04x)", c)
		}
	}
	if proto == 17 {
		if got := int(binary.BigEndian.Uint16(seg[l4+4:])); got != len(seg)-l4 {
			t.Fatalf("udp length %d, want %d", got, len(seg)-l4)
		}
	}
	if c := naiveFold(naivePseudo(seg, l3, v6, proto, len(seg)-l4) + naiveSum(seg[l4:])); c != 0xffff {
		t.Fatalf("l4 checksum does not verify (sum %#04x)", c)
	}
}

package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
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

// oflVerify checks, independently of offload.go, that seg is a complete
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

func TestChecksumHelper(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 600)
	for n := 0; n <= len(buf); n++ {
		for _, fill := range []string{"random", "ones", "zeros"} {
			b := buf[:n]
			for i := range b {
				switch fill {
				case "random":
					b[i] = byte(r.Uint32())
				case "ones":
					b[i] = 0xff
				default:
					b[i] = 0
				}
			}
			want := naiveFold(naiveSum(b))
			if got := csumFold(csumAdd(0, b)); got != want {
				t.Fatalf("%s len %d: csum %#04x, want %#04x", fill, n, got, want)
			}
			// Split at an even offset, as the pseudo-header is chained.
			k := (n / 3) &^ 1
			if got := csumFold(csumAdd(csumAdd(0, b[:k]), b[k:])); got != want {
				t.Fatalf("%s len %d split %d: csum %#04x, want %#04x", fill, n, k, got, want)
			}
		}
	}
	// An accumulator at the top of its range must take carries around.
	for _, acc := range []uint64{^uint64(0), ^uint64(0) - 1, 1 << 63} {
		want := csumFold(acc) // any 16-bit split of acc, summed
		b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		got := csumFold(csumAdd(acc, b))
		// Adding 0xffff...ff (negative zero) changes nothing.
		if got != want && !(got == 0xffff && want == 0) {
			t.Errorf("acc %#x + ones: %#04x, want %#04x", acc, got, want)
		}
		if got := csumFold(csumAddUint(acc, 1)); got != naiveFold(uint32(want)+1) {
			t.Errorf("acc %#x + 1: %#04x, want %#04x", acc, got, naiveFold(uint32(want)+1))
		}
	}
}

func TestSegment(t *testing.T) {
	const pshAckFinCwr = 0x08 | 0x10 | 0x01 | 0x80
	cases := []struct {
		name    string
		spec    oflSpec
		size    int
		ecn     bool
		oob     bool // out-of-band tag: Tagged set, Data untagged
		wantSeg int
	}{
		{"tcp4", oflSpec{id: 1000, seq: 1, flags: pshAckFinCwr, payload: oflPattern(5000)}, 1448, true, false, 4},
		{"tcp4 vlan options wrap", oflSpec{vlan: true, ipOpts: true, tcpOpts: true, id: 0xfffe, seq: 0xfffff000,
			flags: pshAckFinCwr, payload: oflPattern(5000)}, 1400, false, false, 4},
		{"tcp4 out-of-band tag", oflSpec{tcpOpts: true, id: 7, seq: 99, flags: pshAckFinCwr, payload: oflPattern(5000)},
			1448, false, true, 4},
		{"tcp6", oflSpec{v6: true, tcpOpts: true, seq: 123456, flags: pshAckFinCwr, payload: oflPattern(5000)},
			1448, true, false, 4},
		{"tcp6 vlan odd size", oflSpec{v6: true, vlan: true, seq: 5, flags: 0x18 | 0x01, payload: oflPattern(5001)},
			1001, false, false, 5},
		{"tcp4 fits one segment", oflSpec{id: 9, seq: 77, flags: pshAckFinCwr, payload: oflPattern(1000)},
			1448, false, false, 1},
		{"tcp4 exact multiple", oflSpec{id: 9, seq: 77, flags: 0x18, payload: oflPattern(2896)}, 1448, false, false, 2},
		{"tcp4 no payload", oflSpec{id: 9, seq: 77, flags: 0x10, payload: nil}, 1448, false, false, 1},
		{"udp4", oflSpec{udp: true, id: 0xffff, payload: oflPattern(5000)}, 1400, false, false, 4},
		{"udp4 odd size", oflSpec{udp: true, vlan: true, ipOpts: true, id: 3, payload: oflPattern(5000)}, 777, false, false, 7},
		{"udp6 vlan exact multiple", oflSpec{v6: true, udp: true, vlan: true, payload: oflPattern(4200)}, 1400, false, false, 3},
		{"udp6 out-of-band tag", oflSpec{v6: true, udp: true, payload: oflPattern(3333)}, 1400, false, true, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := oflKernelState(t, c.spec, c.size)
			if c.ecn {
				f.VNet.GSOType |= VNetHdrGSOECN
			}
			if c.oob {
				f.Tagged, f.TPID, f.VLAN = true, 0x8100, 0xa064
			}
			orig := bytes.Clone(f.Data)
			origVNet := f.VNet

			n, err := GSOSegments(f)
			if err != nil {
				t.Fatal(err)
			}
			if n != c.wantSeg {
				t.Fatalf("GSOSegments = %d, want %d", n, c.wantSeg)
			}
			l3, _, _ := oflOffsets(c.spec)
			total := 0
			for i := range n {
				chunk := c.spec.payload[min(i*c.size, len(c.spec.payload)):min((i+1)*c.size, len(c.spec.payload))]
				ws := c.spec
				ws.id += uint16(i)
				ws.seq += uint32(i * c.size)
				if i != n-1 {
					ws.flags &^= 0x01 | 0x08
				}
				if i != 0 {
					ws.flags &^= 0x80
				}
				ws.payload = chunk
				want := oflBuild(t, ws)

				l, err := SegmentLen(f, i)
				if err != nil {
					t.Fatal(err)
				}
				if l != len(want) {
					t.Fatalf("segment %d: SegmentLen = %d, want %d", i, l, len(want))
				}
				dst := bytes.Repeat([]byte{0xaa}, l+5)
				m, err := WriteSegment(f, i, dst)
				if err != nil {
					t.Fatal(err)
				}
				if m != l {
					t.Fatalf("segment %d: WriteSegment = %d, want %d", i, m, l)
				}
				if !bytes.Equal(dst[m:], []byte{0xaa, 0xaa, 0xaa, 0xaa, 0xaa}) {
					t.Fatalf("segment %d: wrote past its length", i)
				}
				seg := dst[:m]
				if !bytes.Equal(seg, want) {
					t.Fatalf("segment %d differs from reference\n got %x\nwant %x", i, seg[:min(len(seg), 80)], want[:min(len(want), 80)])
				}
				oflVerify(t, seg)
				oflCheckDecoded(t, seg, i, n, c.size, c.spec, chunk, l3)
				total += len(chunk)
			}
			if total != len(c.spec.payload) {
				t.Fatalf("segments carry %d payload bytes, want %d", total, len(c.spec.payload))
			}
			if !bytes.Equal(f.Data, orig) || f.VNet != origVNet {
				t.Fatal("segmenting modified the super-frame")
			}
		})
	}
}

// oflCheckDecoded decodes segment i of n with gopacket and checks the fields
// segmentation changes, one by one.
func oflCheckDecoded(t *testing.T, seg []byte, i, n, size int, s oflSpec, chunk []byte, l3 int) {
	t.Helper()
	p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("segment %d: decode: %v", i, el.Error())
	}
	if s.v6 {
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil {
			t.Fatalf("segment %d: no ipv6 layer", i)
		}
		if int(ip.Length) != len(seg)-l3-40 {
			t.Errorf("segment %d: ipv6 length %d, want %d", i, ip.Length, len(seg)-l3-40)
		}
	} else {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			t.Fatalf("segment %d: no ipv4 layer", i)
		}
		if int(ip.Length) != len(seg)-l3 {
			t.Errorf("segment %d: ipv4 length %d, want %d", i, ip.Length, len(seg)-l3)
		}
		if ip.Id != s.id+uint16(i) {
			t.Errorf("segment %d: ipv4 id %#x, want %#x", i, ip.Id, s.id+uint16(i))
		}
	}
	if s.udp {
		u, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u == nil {
			t.Fatalf("segment %d: no udp layer", i)
		}
		if int(u.Length) != 8+len(chunk) {
			t.Errorf("segment %d: udp length %d, want %d", i, u.Length, 8+len(chunk))
		}
		if u.Checksum == 0 {
			t.Errorf("segment %d: udp checksum 0", i)
		}
	} else {
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			t.Fatalf("segment %d: no tcp layer", i)
		}
		if want := s.seq + uint32(i)*uint32(size); tcp.Seq != want {
			t.Errorf("segment %d: seq %d, want %d", i, tcp.Seq, want)
		}
		last, first := i == n-1, i == 0
		if tcp.FIN != (last && s.flags&0x01 != 0) || tcp.PSH != (last && s.flags&0x08 != 0) ||
			tcp.CWR != (first && s.flags&0x80 != 0) || tcp.ACK != (s.flags&0x10 != 0) {
			t.Errorf("segment %d/%d: flags fin=%v psh=%v cwr=%v ack=%v from %#02x", i, n, tcp.FIN, tcp.PSH, tcp.CWR, tcp.ACK, s.flags)
		}
	}
	var payload []byte
	if al := p.ApplicationLayer(); al != nil {
		payload = al.Payload()
	}
	if !bytes.Equal(payload, chunk) {
		t.Errorf("segment %d: payload of %d bytes differs from the expected chunk of %d", i, len(payload), len(chunk))
	}
}

func TestSegmentSeq(t *testing.T) {
	// Sequence numbers advance by GSOSize per segment, wrapping.
	s := oflSpec{seq: 0xffffff00, flags: 0x18, payload: oflPattern(3000)}
	f := oflKernelState(t, s, 1000)
	dst := make([]byte, 2000)
	for i := range 3 {
		m, err := WriteSegment(f, i, dst)
		if err != nil {
			t.Fatal(err)
		}
		tcp, _ := gopacket.NewPacket(dst[:m], layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
		if want := 0xffffff00 + uint32(i)*1000; tcp == nil || tcp.Seq != want {
			t.Fatalf("segment %d: seq wrong, want %d", i, want)
		}
	}
}

func TestWriteSegmentWithoutGSO(t *testing.T) {
	s := oflSpec{v6: true, udp: true, payload: oflPattern(999)}
	want := oflBuild(t, s)
	f := oflKernelState(t, s, 0)
	f.VNet.GSOType, f.VNet.GSOSize = VNetHdrGSONone, 0
	orig := bytes.Clone(f.Data)
	if n, err := GSOSegments(f); err != nil || n != 1 {
		t.Fatalf("GSOSegments = %d, %v; want 1, nil", n, err)
	}
	if l, err := SegmentLen(f, 0); err != nil || l != len(want) {
		t.Fatalf("SegmentLen = %d, %v; want %d, nil", l, err, len(want))
	}
	dst := make([]byte, len(want))
	if m, err := WriteSegment(f, 0, dst); err != nil || m != len(want) {
		t.Fatalf("WriteSegment = %d, %v; want %d, nil", m, err, len(want))
	}
	if !bytes.Equal(dst, want) {
		t.Fatal("checksum not finished in the copy")
	}
	if !bytes.Equal(f.Data, orig) || f.VNet.Flags != VNetHdrFNeedsCsum {
		t.Fatal("frame modified")
	}

	// Without the flag the frame is copied as is.
	f.VNet.Flags = 0
	if m, err := WriteSegment(f, 0, dst); err != nil || !bytes.Equal(dst[:m], orig) {
		t.Fatalf("plain copy: %v", err)
	}
}

func TestFinishChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			for _, vlan := range []bool{false, true} {
				for _, n := range []int{0, 1, 2, 777, 1501} {
					s := oflSpec{v6: v6, udp: udp, vlan: vlan, id: 42, seq: 1e9, flags: 0x18, payload: oflPattern(n)}
					want := oflBuild(t, s)
					f := oflKernelState(t, s, 0)
					f.VNet.GSOType, f.VNet.GSOSize = VNetHdrGSONone, 0
					if bytes.Equal(f.Data, want) {
						t.Fatal("pending frame already complete")
					}
					if err := FinishChecksum(f); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(f.Data, want) {
						t.Errorf("v6=%v udp=%v vlan=%v payload %d: differs from gopacket", v6, udp, vlan, n)
					}
					if f.VNet.Flags&VNetHdrFNeedsCsum != 0 {
						t.Error("NeedsCsum not cleared")
					}
					// Without the flag nothing happens, even to a wrong checksum.
					f.Data[len(f.Data)-1]++
					d := bytes.Clone(f.Data)
					if err := FinishChecksum(f); err != nil || !bytes.Equal(f.Data, d) {
						t.Errorf("frame without the flag changed (err %v)", err)
					}
				}
			}
		}
	}
}

func TestFinishChecksumOutOfRange(t *testing.T) {
	s := oflSpec{udp: true, payload: oflPattern(10)}
	for _, tc := range []struct{ start, off uint16 }{
		{1000, 6}, {34, 1000}, {uint16(14 + 20 + 8 + 10 - 1), 0}, {0xffff, 0xffff},
	} {
		f := oflKernelState(t, s, 0)
		f.VNet.GSOType, f.VNet.GSOSize = VNetHdrGSONone, 0
		f.VNet.CsumStart, f.VNet.CsumOffset = tc.start, tc.off
		d := bytes.Clone(f.Data)
		if err := FinishChecksum(f); !errors.Is(err, errCsumRange) {
			t.Errorf("start %d offset %d: err %v, want %v", tc.start, tc.off, err, errCsumRange)
		}
		if !bytes.Equal(f.Data, d) || f.VNet.Flags != VNetHdrFNeedsCsum {
			t.Errorf("start %d offset %d: frame modified", tc.start, tc.off)
		}
		if _, err := GSOSegments(f); !errors.Is(err, errCsumRange) {
			t.Errorf("GSOSegments: err %v", err)
		}
		if _, err := WriteSegment(f, 0, make([]byte, 100)); !errors.Is(err, errCsumRange) {
			t.Errorf("WriteSegment: err %v", err)
		}
	}
}

func TestCompletePendingChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			for _, vlan := range []bool{false, true} {
				for _, n := range []int{1, 2, 333, 1400} {
					s := oflSpec{v6: v6, udp: udp, vlan: vlan, id: 5, seq: 77, flags: 0x18, payload: oflPattern(n)}
					name := func(what string) string {
						return fmt.Sprintf("%s v6=%v udp=%v vlan=%v payload %d", what, v6, udp, vlan, n)
					}
					want := oflBuild(t, s)
					// Ethernet padding must stay outside the sum.
					want = append(want, bytes.Repeat([]byte{0xa5}, max(0, 60-len(want)))...)
					l3, l4, _ := oflOffsets(s)
					off := l4 + oflCsumOffset(udp)
					proto := byte(6)
					if udp {
						proto = 17
					}
					l4len := int(binary.BigEndian.Uint16(want[l3+4:])) // ipv6 payload length
					if !v6 {
						l4len = int(binary.BigEndian.Uint16(want[l3+2:])) - (l4 - l3)
					}
					pseudo := naiveFold(naivePseudo(want, l3, v6, proto, l4len))

					// Pending: fixed.
					d := bytes.Clone(want)
					binary.BigEndian.PutUint16(d[off:], pseudo)
					if !CompletePendingChecksum(d) {
						t.Errorf("%s: pending checksum not completed", name("pending"))
					}
					if !bytes.Equal(d, want) {
						t.Errorf("%s: completed checksum differs from gopacket", name("pending"))
					}
					if CompletePendingChecksum(d) {
						t.Errorf("%s: completed twice", name("pending"))
					}

					// Correct: untouched.
					d = bytes.Clone(want)
					if CompletePendingChecksum(d) || !bytes.Equal(d, want) {
						t.Errorf("%s: correct checksum touched", name("correct"))
					}

					// Corrupt: untouched.
					good := binary.BigEndian.Uint16(want[off:])
					bad := good
					for bad == good || bad == pseudo || bad == 0 || bad == 0xffff^good {
						bad = uint16(r.Uint32())
					}
					d = bytes.Clone(want)
					binary.BigEndian.PutUint16(d[off:], bad)
					c := bytes.Clone(d)
					if CompletePendingChecksum(d) || !bytes.Equal(d, c) {
						t.Errorf("%s: corrupt checksum touched", name("corrupt"))
					}

					// UDP without checksum: untouched.
					if udp {
						d = bytes.Clone(want)
						binary.BigEndian.PutUint16(d[off:], 0)
						c := bytes.Clone(d)
						if CompletePendingChecksum(d) || !bytes.Equal(d, c) {
							t.Errorf("%s: zero udp checksum touched", name("zero"))
						}
					}

					// An IPv4 fragment or an IPv6 extension header: untouched.
					d = bytes.Clone(want)
					binary.BigEndian.PutUint16(d[off:], pseudo)
					if v6 {
						d[l3+6] = 0 // hop-by-hop options
					} else {
						d[l3+6] |= 0x20 // more fragments
					}
					c = bytes.Clone(d)
					if CompletePendingChecksum(d) || !bytes.Equal(d, c) {
						t.Errorf("%s: fragment or extension header touched", name("frag"))
					}
				}
			}
		}
	}

	// Not IP, and too short to be anything.
	arp := append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06}, make([]byte, 46)...)
	for _, d := range [][]byte{arp, arp[:13], nil, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0, 1}} {
		c := bytes.Clone(d)
		if CompletePendingChecksum(d) || !bytes.Equal(d, c) {
			t.Errorf("non-ip frame %x touched", c)
		}
	}
}

func TestSegmentErrors(t *testing.T) {
	tcp4 := oflSpec{id: 1, seq: 1, flags: 0x18, payload: oflPattern(3000)}
	tcp6 := oflSpec{v6: true, seq: 1, flags: 0x18, payload: oflPattern(3000)}
	udp4 := oflSpec{udp: true, payload: oflPattern(3000)}
	huge := tcp4
	huge.payload = oflPattern(70000)
	cases := []struct {
		name   string
		spec   oflSpec
		mutate func(f *Frame)
		want   error
	}{
		{"ufo", udp4, func(f *Frame) { f.VNet.GSOType = VNetHdrGSOUDP }, errGSOType},
		{"ecn alone", tcp4, func(f *Frame) { f.VNet.GSOType = VNetHdrGSOECN }, errGSOType},
		{"unknown type", tcp4, func(f *Frame) { f.VNet.GSOType = 2 }, errGSOType},
		{"gso size 0", tcp4, func(f *Frame) { f.VNet.GSOSize = 0 }, errGSOSize},
		{"ethernet truncated", tcp4, func(f *Frame) { f.Data = f.Data[:13] }, errEthTrunc},
		{"vlan tag truncated", oflSpec{vlan: true, payload: oflPattern(3000)}, func(f *Frame) { f.Data = f.Data[:16] }, errEthTrunc},
		{"not ip", tcp4, func(f *Frame) { f.Data[12], f.Data[13] = 0x08, 0x06 }, errNotIP},
		{"ip header truncated", tcp4, func(f *Frame) { f.Data = f.Data[:30] }, errIPTrunc},
		{"ipv6 header truncated", tcp6, func(f *Frame) { f.Data = f.Data[:50] }, errIPTrunc},
		{"ip version vs ethertype", tcp4, func(f *Frame) { f.Data[14] = 0x65 }, errIPVersion},
		{"tcpv6 on ipv4", tcp4, func(f *Frame) { f.VNet.GSOType = VNetHdrGSOTCPv6 }, errIPVersionType},
		{"tcpv4 on ipv6", tcp6, func(f *Frame) { f.VNet.GSOType = VNetHdrGSOTCPv4 }, errIPVersionType},
		{"ipv4 ihl", tcp4, func(f *Frame) { f.Data[14] = 0x44 }, errIPv4HdrLen},
		{"ipv4 options truncated", tcp4, func(f *Frame) { f.Data[14] = 0x4f; f.Data = f.Data[:60] }, errIPTrunc},
		{"ipv4 fragment", tcp4, func(f *Frame) { f.Data[20] |= 0x20 }, errIPv4Frag},
		{"ipv4 fragment offset", tcp4, func(f *Frame) { f.Data[21] = 1 }, errIPv4Frag},
		{"udp l4 on tcp", tcp4, func(f *Frame) { f.VNet.GSOType = VNetHdrGSOUDPL4 }, errL4Proto},
		{"tcp on udp", udp4, func(f *Frame) { f.VNet.GSOType = VNetHdrGSOTCPv4 }, errL4Proto},
		{"ipv6 extension header", tcp6, func(f *Frame) { f.Data[14+6] = 0 }, errIPv6Ext},
		{"ipv6 fragment header", tcp6, func(f *Frame) { f.Data[14+6] = 44 }, errIPv6Ext},
		{"csum start", tcp4, func(f *Frame) { f.VNet.CsumStart += 4 }, errCsumStart},
		{"tcp header truncated", tcp4, func(f *Frame) { f.Data = f.Data[:34+19] }, errTCPTrunc},
		{"tcp options truncated", tcp4, func(f *Frame) { f.Data[34+12] = 0xf0; f.Data = f.Data[:34+59] }, errTCPTrunc},
		{"tcp data offset", tcp4, func(f *Frame) { f.Data[34+12] = 0x40 }, errTCPDataOff},
		{"udp header truncated", udp4, func(f *Frame) { f.Data = f.Data[:34+7] }, errUDPTrunc},
		{"segment too long", huge, func(f *Frame) { f.VNet.GSOSize = 65500 }, errSegTooLong},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := oflKernelState(t, c.spec, 1448)
			c.mutate(f)
			d := bytes.Clone(f.Data)
			if _, err := GSOSegments(f); !errors.Is(err, c.want) {
				t.Errorf("GSOSegments: err %v, want %v", err, c.want)
			}
			if _, err := SegmentLen(f, 0); !errors.Is(err, c.want) {
				t.Errorf("SegmentLen: err %v, want %v", err, c.want)
			}
			if _, err := WriteSegment(f, 0, make([]byte, 1<<17)); !errors.Is(err, c.want) {
				t.Errorf("WriteSegment: err %v, want %v", err, c.want)
			}
			if !bytes.Equal(f.Data, d) {
				t.Error("frame modified")
			}
			msg := c.want.Error()
			if !strings.HasPrefix(msg, "gso: ") || strings.ToLower(msg) != msg {
				t.Errorf("error message %q", msg)
			}
		})
	}

	// Index and destination checks.
	f := oflKernelState(t, tcp4, 1448) // 3 segments
	for _, i := range []int{-1, 3, 1 << 30} {
		if _, err := SegmentLen(f, i); !errors.Is(err, errSegIndex) {
			t.Errorf("SegmentLen(%d): err %v", i, err)
		}
		if _, err := WriteSegment(f, i, make([]byte, 2000)); !errors.Is(err, errSegIndex) {
			t.Errorf("WriteSegment(%d): err %v", i, err)
		}
	}
	l, _ := SegmentLen(f, 0)
	if _, err := WriteSegment(f, 0, make([]byte, l-1)); !errors.Is(err, errDstShort) {
		t.Errorf("short dst: err %v", err)
	}
	f.VNet.GSOType, f.VNet.Flags = VNetHdrGSONone, 0
	if _, err := WriteSegment(f, 1, make([]byte, 5000)); !errors.Is(err, errSegIndex) {
		t.Errorf("no gso, index 1: err %v", err)
	}
	if _, err := WriteSegment(f, 0, make([]byte, 10)); !errors.Is(err, errDstShort) {
		t.Errorf("no gso, short dst: err %v", err)
	}
}

func TestOffloadAllocs(t *testing.T) {
	f := oflKernelState(t, oflSpec{v6: true, tcpOpts: true, flags: 0x18, payload: oflPattern(9000)}, 1448)
	u := oflKernelState(t, oflSpec{udp: true, payload: oflPattern(1000)}, 0)
	u.VNet.GSOType, u.VNet.GSOSize = VNetHdrGSONone, 0
	pending := bytes.Clone(u.Data)
	bad := &Frame{Data: f.Data[:40], VNet: f.VNet}
	dst := make([]byte, 2000)
	allocs := testing.AllocsPerRun(50, func() {
		n, _ := GSOSegments(f)
		for i := range n {
			if _, err := SegmentLen(f, i); err != nil {
				panic(err)
			}
			if _, err := WriteSegment(f, i, dst); err != nil {
				panic(err)
			}
		}
		u.VNet.Flags = VNetHdrFNeedsCsum
		_ = FinishChecksum(u)
		CompletePendingChecksum(pending)
		_, _ = GSOSegments(bad)
		_, _ = WriteSegment(bad, 0, dst)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

// FuzzSegment feeds arbitrary frames and metadata to the offload functions:
// none may panic, segments must fit SegmentLen and verify, and the input
// must come out unchanged.
func FuzzSegment(f *testing.F) {
	for _, s := range []oflSpec{
		{flags: 0x99, payload: oflPattern(3000)},
		{v6: true, vlan: true, tcpOpts: true, flags: 0x18, payload: oflPattern(2000)},
		{udp: true, ipOpts: true, payload: oflPattern(1500)},
		{v6: true, udp: true, payload: oflPattern(100)},
	} {
		fr := oflKernelState(f, s, 600)
		v := fr.VNet
		f.Add(fr.Data, v.Flags, v.GSOType, v.GSOSize, v.CsumStart, v.CsumOffset, false)
		f.Add(fr.Data, v.Flags, v.GSOType|VNetHdrGSOECN, uint16(1), v.CsumStart, v.CsumOffset, true)
		f.Add(fr.Data[:60], uint8(0), uint8(0), uint16(0), uint16(0), uint16(0), false)
		f.Add(fr.Data, v.Flags, uint8(0), uint16(0), v.CsumStart, v.CsumOffset, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, flags, gsoType uint8, gsoSize, csumStart, csumOffset uint16, tagged bool) {
		fr := &Frame{Data: data, Tagged: tagged, VNet: VNetHdr{
			Flags: flags, GSOType: gsoType, GSOSize: gsoSize, CsumStart: csumStart, CsumOffset: csumOffset,
		}}
		orig := bytes.Clone(data)
		n, err := GSOSegments(fr)
		if err == nil {
			if n < 1 || n > len(data)+1 {
				t.Fatalf("%d segments from %d bytes", n, len(data))
			}
			var dst []byte
			for i := 0; i < n; i++ {
				if n > 256 && i == 128 {
					i = n - 128 // the middle is like its neighbours
				}
				l, err := SegmentLen(fr, i)
				if err != nil {
					t.Fatalf("segment %d of %d: SegmentLen: %v", i, n, err)
				}
				if cap(dst) < l+1 {
					dst = make([]byte, l+1)
				}
				if l > 0 {
					if _, err := WriteSegment(fr, i, dst[:l-1]); !errors.Is(err, errDstShort) {
						t.Fatalf("segment %d: short dst: err %v", i, err)
					}
				}
				m, err := WriteSegment(fr, i, dst[:l+1])
				if err != nil || m != l {
					t.Fatalf("segment %d of %d: WriteSegment = %d, %v; SegmentLen %d", i, n, m, err, l)
				}
				if gsoType != VNetHdrGSONone {
					oflVerify(t, dst[:m])
					if m > len(data) {
						t.Fatalf("segment %d longer (%d) than the super-frame (%d)", i, m, len(data))
					}
				}
			}
			if !bytes.Equal(data, orig) {
				t.Fatal("segmenting modified the frame")
			}
		}

		fin := &Frame{Data: bytes.Clone(data), VNet: fr.VNet}
		if err := FinishChecksum(fin); err != nil && !bytes.Equal(fin.Data, data) {
			t.Fatal("FinishChecksum failed but modified the frame")
		}

		d := bytes.Clone(data)
		if CompletePendingChecksum(d) && CompletePendingChecksum(d) {
			t.Fatal("completed a checksum twice")
		}
	})
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{64, 1500, 65536} {
		buf := oflPattern(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				csumFold(csumAdd(0, buf))
			}
		})
	}
}

func BenchmarkWriteSegment(b *testing.B) {
	f := oflKernelState(b, oflSpec{flags: 0x18, payload: oflPattern(64000)}, 1448)
	n, _ := GSOSegments(f)
	dst := make([]byte, 2000)
	b.SetBytes(int64(len(f.Data)))
	for b.Loop() {
		for i := range n {
			_, _ = WriteSegment(f, i, dst)
		}
	}
}

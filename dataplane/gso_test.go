package dataplane

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// segmentCase is a super-frame and the segments it must become.
type segmentCase struct {
	name    string
	spec    oflSpec
	size    int
	ecn     bool
	oob     bool // out-of-band tag: Tagged set, Data untagged
	wantSeg int
}

const pshAckFinCwr = 0x08 | 0x10 | 0x01 | 0x80

var segmentCases = []segmentCase{
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

// frame builds the case's super-frame as the kernel hands it over.
func (c segmentCase) frame(t testing.TB) *Frame {
	f := oflKernelState(t, c.spec, c.size)
	if c.ecn {
		f.VNet.GSOType |= VNetHdrGSOECN
	}
	if c.oob {
		f.Tagged, f.TPID, f.VLAN = true, 0x8100, 0xa064
	}
	return f
}

// want builds segment i of n with gopacket, and returns it with its payload.
func (c segmentCase) want(t testing.TB, i, n int) (seg, chunk []byte) {
	p := c.spec.payload
	chunk = p[min(i*c.size, len(p)):min((i+1)*c.size, len(p))]
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
	return oflBuild(t, ws), chunk
}

func TestSegment(t *testing.T) {
	for _, c := range segmentCases {
		t.Run(c.name, func(t *testing.T) {
			f := c.frame(t)
			orig := bytes.Clone(f.Data)
			origVNet := f.VNet

			var s Segmenter
			n, err := s.Init(f)
			if err != nil {
				t.Fatal(err)
			}
			if n != c.wantSeg {
				t.Fatalf("Init = %d, want %d", n, c.wantSeg)
			}
			l3, _, _ := oflOffsets(c.spec)
			total := 0
			for i := range n {
				want, chunk := c.want(t, i, n)
				l := s.Len(i)
				if l != len(want) {
					t.Fatalf("segment %d: Len = %d, want %d", i, l, len(want))
				}
				if l > s.Len(0) {
					t.Fatalf("segment %d: Len %d is longer than segment 0's %d", i, l, s.Len(0))
				}
				dst := bytes.Repeat([]byte{0xaa}, l+5)
				m, err := s.Write(i, dst)
				if err != nil {
					t.Fatal(err)
				}
				if m != l {
					t.Fatalf("segment %d: Write = %d, want %d", i, m, l)
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
			if s.Len(-1) != 0 || s.Len(n) != 0 {
				t.Fatalf("Len out of range = %d, %d; want 0, 0", s.Len(-1), s.Len(n))
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
	var sg Segmenter
	if n, err := sg.Init(oflKernelState(t, s, 1000)); err != nil || n != 3 {
		t.Fatalf("Init = %d, %v; want 3, nil", n, err)
	}
	dst := make([]byte, 2000)
	for i := range 3 {
		m, err := sg.Write(i, dst)
		if err != nil {
			t.Fatal(err)
		}
		tcp, _ := gopacket.NewPacket(dst[:m], layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
		if want := 0xffffff00 + uint32(i)*1000; tcp == nil || tcp.Seq != want {
			t.Fatalf("segment %d: seq wrong, want %d", i, want)
		}
	}
}

func TestSegmentWithoutGSO(t *testing.T) {
	s := oflSpec{v6: true, udp: true, payload: oflPattern(999)}
	want := oflBuild(t, s)
	f := oflKernelState(t, s, 0)
	f.VNet.GSOType, f.VNet.GSOSize = VNetHdrGSONone, 0
	orig := bytes.Clone(f.Data)
	var sg Segmenter
	if n, err := sg.Init(f); err != nil || n != 1 {
		t.Fatalf("Init = %d, %v; want 1, nil", n, err)
	}
	if l := sg.Len(0); l != len(want) {
		t.Fatalf("Len = %d, want %d", l, len(want))
	}
	dst := make([]byte, len(want))
	if m, err := sg.Write(0, dst); err != nil || m != len(want) {
		t.Fatalf("Write = %d, %v; want %d, nil", m, err, len(want))
	}
	if !bytes.Equal(dst, want) {
		t.Fatal("checksum not finished in the copy")
	}
	if !bytes.Equal(f.Data, orig) || f.VNet.Flags != VNetHdrFNeedsCsum {
		t.Fatal("frame modified")
	}

	// Without the flag the frame is copied as is.
	f.VNet.Flags = 0
	if _, err := sg.Init(f); err != nil {
		t.Fatal(err)
	}
	if m, err := sg.Write(0, dst); err != nil || !bytes.Equal(dst[:m], orig) {
		t.Fatalf("plain copy: %v", err)
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
			var s Segmenter
			if _, err := s.Init(f); !errors.Is(err, c.want) {
				t.Errorf("Init: err %v, want %v", err, c.want)
			}
			// A Segmenter whose Init failed has no segments.
			if l := s.Len(0); l != 0 {
				t.Errorf("Len after a failed Init = %d, want 0", l)
			}
			if _, err := s.Write(0, make([]byte, 1<<17)); !errors.Is(err, errSegIndex) {
				t.Errorf("Write after a failed Init: err %v, want %v", err, errSegIndex)
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
	var s Segmenter
	if n, err := s.Init(oflKernelState(t, tcp4, 1448)); err != nil || n != 3 {
		t.Fatalf("Init = %d, %v; want 3, nil", n, err)
	}
	for _, i := range []int{-1, 3, 1 << 30} {
		if l := s.Len(i); l != 0 {
			t.Errorf("Len(%d) = %d, want 0", i, l)
		}
		if _, err := s.Write(i, make([]byte, 2000)); !errors.Is(err, errSegIndex) {
			t.Errorf("Write(%d): err %v", i, err)
		}
	}
	if _, err := s.Write(0, make([]byte, s.Len(0)-1)); !errors.Is(err, errDstShort) {
		t.Errorf("short dst: err %v", err)
	}
	f := oflKernelState(t, tcp4, 1448)
	f.VNet.GSOType, f.VNet.Flags = VNetHdrGSONone, 0
	if _, err := s.Init(f); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(1, make([]byte, 5000)); !errors.Is(err, errSegIndex) {
		t.Errorf("no gso, index 1: err %v", err)
	}
	if _, err := s.Write(0, make([]byte, 10)); !errors.Is(err, errDstShort) {
		t.Errorf("no gso, short dst: err %v", err)
	}
}

func TestSegmentAllocs(t *testing.T) {
	f := oflKernelState(t, oflSpec{v6: true, tcpOpts: true, flags: 0x18, payload: oflPattern(9000)}, 1448)
	u := oflKernelState(t, oflSpec{udp: true, payload: oflPattern(1000)}, 0)
	u.VNet.GSOType, u.VNet.GSOSize = VNetHdrGSONone, 0
	bad := &Frame{Data: f.Data[:40], VNet: f.VNet}
	dst := make([]byte, 2000)
	var s Segmenter
	allocs := testing.AllocsPerRun(50, func() {
		for _, fr := range []*Frame{f, u} {
			n, err := s.Init(fr)
			if err != nil {
				panic(err)
			}
			for i := range n {
				if _, err := s.Write(i, dst[:s.Len(i)]); err != nil {
					panic(err)
				}
			}
		}
		_, _ = s.Init(bad)
		_, _ = s.Write(0, dst)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

// FuzzSegment feeds arbitrary frames and metadata to the offload functions:
// none may panic, segments must fit Len and verify, and the input must come
// out unchanged.
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
		var s Segmenter
		n, err := s.Init(fr)
		if err == nil {
			if n < 1 || n > len(data)+1 {
				t.Fatalf("%d segments from %d bytes", n, len(data))
			}
			var dst []byte
			for i := 0; i < n; i++ {
				if n > 256 && i == 128 {
					i = n - 128 // the middle is like its neighbours
				}
				l := s.Len(i)
				if l > s.Len(0) {
					t.Fatalf("segment %d of %d: Len %d, longer than segment 0's %d", i, n, l, s.Len(0))
				}
				if cap(dst) < l+1 {
					dst = make([]byte, l+1)
				}
				if l > 0 {
					if _, err := s.Write(i, dst[:l-1]); !errors.Is(err, errDstShort) {
						t.Fatalf("segment %d: short dst: err %v", i, err)
					}
				}
				m, err := s.Write(i, dst[:l+1])
				if err != nil || m != l {
					t.Fatalf("segment %d of %d: Write = %d, %v; Len %d", i, n, m, err, l)
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

// BenchmarkSegment cuts a 64 KB TCP super-frame into 1448-byte segments as a
// port does: Init, then Len and Write for every segment.
func BenchmarkSegment(b *testing.B) {
	f := oflKernelState(b, oflSpec{flags: 0x18, payload: oflPattern(64000)}, 1448)
	dst := make([]byte, 2000)
	var s Segmenter
	b.SetBytes(int64(len(f.Data)))
	b.ReportAllocs()
	for b.Loop() {
		n, _ := s.Init(f)
		for i := range n {
			_, _ = s.Write(i, dst[:s.Len(i)])
		}
	}
}

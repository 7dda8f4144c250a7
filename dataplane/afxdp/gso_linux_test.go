package afxdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
)

const (
	gsoSrcPort = 40000
	gsoDstPort = 5201
	gsoSeq     = 0xfffff000 // the sequence numbers of the segments wrap
)

// superFrame returns a TCP/IPv4 GSO super-frame carrying payload in
// segments of mss bytes, with its checksum left partial, as a guest's stack
// hands it over.
func superFrame(t *testing.T, mss int, payload []byte) dataplane.Frame {
	t.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
		DstMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolTCP,
		SrcIP:    net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2},
	}
	tcp := &layers.TCP{
		SrcPort: gsoSrcPort, DstPort: gsoDstPort,
		Seq: gsoSeq, Ack: 1, ACK: true, PSH: true, Window: 512,
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	const l4, hdrLen = 14 + 20, 14 + 20 + 20
	d := bytes.Clone(buf.Bytes())
	// What a stack leaves for the device: the pseudo-header sum only. The
	// segments must not depend on it.
	binary.BigEndian.PutUint16(d[l4+16:], 0xbeef)
	return dataplane.Frame{Data: d, VNet: dataplane.VNetHdr{
		Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4,
		HdrLen: hdrLen, GSOSize: uint16(mss), CsumStart: l4, CsumOffset: 16,
	}}
}

// gsoSegment decodes f as a segment of a super-frame made by superFrame, or
// returns ok false for any other frame.
func gsoSegment(t *testing.T, f []byte) (ip *layers.IPv4, tcp *layers.TCP, ok bool) {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ = pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil || tcp.SrcPort != gsoSrcPort || tcp.DstPort != gsoDstPort {
		return nil, nil, false
	}
	if e := pkt.ErrorLayer(); e != nil {
		t.Fatalf("segment does not decode: %v", e.Error())
	}
	return ip, tcp, true
}

// checksumsOK reports whether the IPv4 header checksum and the TCP checksum
// of a decoded segment verify.
func checksumsOK(t *testing.T, ip *layers.IPv4, tcp *layers.TCP) bool {
	t.Helper()
	h := gopacket.NewSerializeBuffer()
	if err := ip.SerializeTo(h, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
		t.Fatal(err)
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	got := tcp.Checksum
	binary.BigEndian.PutUint16(tcp.Contents[16:], 0)
	want, err := tcp.ComputeChecksum()
	binary.BigEndian.PutUint16(tcp.Contents[16:], got)
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint16(h.Bytes()[10:]) == ip.Checksum && got == want
}

func TestSendCutsSuperFrames(t *testing.T) {
	e := newEnv(t, 256)
	p, g := e.port("x7", "g7", Config{})
	const mss, n = 1000, 3
	payload := make([]byte, (n-1)*mss+mss/2) // the last segment is shorter
	for i := range payload {
		payload[i] = byte(i*13 + 7)
	}
	if sent, err := p.Send([]dataplane.Frame{superFrame(t, mss, payload)}); sent != 1 || err != nil {
		t.Fatalf("Send of a super-frame: %d, %v", sent, err)
	}

	var got [][]byte
	for {
		f, ok := g.Recv(t, 2*time.Second)
		if !ok {
			break
		}
		if _, _, ok := gsoSegment(t, f); ok {
			got = append(got, f)
		}
		if len(got) == n {
			// Wait a little for a segment too many.
			for f, ok := g.Recv(t, 200*time.Millisecond); ok; f, ok = g.Recv(t, 200*time.Millisecond) {
				if _, _, ok := gsoSegment(t, f); ok {
					got = append(got, f)
				}
			}
			break
		}
	}
	if len(got) != n {
		t.Fatalf("peer received %d segments, want %d", len(got), n)
	}
	var data []byte
	for i, f := range got {
		ip, tcp, _ := gsoSegment(t, f)
		size := min(mss, len(payload)-i*mss)
		if len(f) != 14+20+20+size || int(ip.Length) != 20+20+size || len(tcp.Payload) != size {
			t.Errorf("segment %d: %d bytes, IP total length %d, %d bytes of payload; want %d, %d, %d",
				i, len(f), ip.Length, len(tcp.Payload), 14+20+20+size, 20+20+size, size)
		}
		if want := uint32(gsoSeq + i*mss); tcp.Seq != want {
			t.Errorf("segment %d: sequence number %#x, want %#x", i, tcp.Seq, want)
		}
		if want := i == n-1; tcp.PSH != want {
			t.Errorf("segment %d: PSH %v, want %v (only on the last)", i, tcp.PSH, want)
		}
		if !checksumsOK(t, ip, tcp) {
			t.Errorf("segment %d: IPv4 header checksum %#x or TCP checksum %#x does not verify", i, ip.Checksum, tcp.Checksum)
		}
		data = append(data, tcp.Payload...)
	}
	if !bytes.Equal(data, payload) {
		t.Error("the segments' payloads do not add up to the super-frame's")
	}

	// Segments longer than the MTU are refused.
	tooLong := superFrame(t, 1500, payload) // 1554-byte segments, 1514 allowed
	if _, err := p.Send([]dataplane.Frame{tooLong}); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("Send of segments longer than the MTU: %v, want EMSGSIZE", err)
	}
	if f, ok := g.Recv(t, 100*time.Millisecond); ok {
		if _, _, ok := gsoSegment(t, f); ok {
			t.Error("a segment of a refused super-frame went out")
		}
	}

	// Segments longer than a UMEM frame span several, whole on the wire.
	nstest.Run(t, "ip", "-n", e.ns, "link", "set", "g7", "mtu", "9000")
	nstest.Run(t, "ip", "-n", e.ns, "link", "set", "x7", "mtu", "9000")
	p.SetMTU(9000)
	fs := e.umem.FrameSize()
	jumbo := make([]byte, 2*fs)
	for i := range jumbo {
		jumbo[i] = byte(i*7 + 3)
	}
	if sent, err := p.Send([]dataplane.Frame{superFrame(t, fs, jumbo)}); sent != 1 || err != nil {
		t.Fatalf("Send of segments longer than a UMEM frame (%d bytes): %d, %v", fs, sent, err)
	}
	data = data[:0]
	for len(data) < len(jumbo) {
		f, ok := g.Recv(t, 2*time.Second)
		if !ok {
			t.Fatalf("peer received %d of %d bytes of jumbo segments", len(data), len(jumbo))
		}
		if ip, tcp, ok := gsoSegment(t, f); ok {
			if len(f) != 14+20+20+fs || !checksumsOK(t, ip, tcp) {
				t.Errorf("jumbo segment of %d bytes, want %d, or its checksums do not verify", len(f), 14+20+20+fs)
			}
			data = append(data, tcp.Payload...)
		}
	}
	if !bytes.Equal(data, jumbo) {
		t.Error("the jumbo segments' payloads do not add up to the super-frame's")
	}

	if s := p.Stats(); s.TxSegmented != 2 || s.TxSegments != n+2 || s.TxPackets != n+2 || s.TxTooBig != 1 {
		t.Errorf("stats %+v: want 2 super-frames cut into %d segments, %d sent, 1 too big", s, n+2, n+2)
	}
}

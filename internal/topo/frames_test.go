package topo

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"
)

func TestMAC(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "02:58:00:00:00:00"},
		{1, "02:58:00:00:00:01"},
		{258, "02:58:00:00:01:02"},
		{1<<32 - 1, "02:58:ff:ff:ff:ff"},
	} {
		m := MAC(tc.n)
		if m.String() != tc.want {
			t.Errorf("MAC(%d) = %s, want %s", tc.n, m, tc.want)
		}
		if m[0]&0x01 != 0 || m[0]&0x02 == 0 {
			t.Errorf("MAC(%d) = %s is not a locally administered unicast address", tc.n, m)
		}
	}
}

// checksum is the Internet checksum of b, folded, not complemented.
func checksum(b []byte, sum uint32) uint16 {
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func TestUDPFrame(t *testing.T) {
	payload := []byte("hello, dom0")
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
	}{
		{"ipv4", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")},
		{"ipv6", netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := UDPFrame(MAC(1), MAC(2), tc.src, tc.dst, 1234, 5678, payload)
			if len(f) < 60 {
				t.Errorf("frame is %d bytes, want at least 60", len(f))
			}
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			if el := p.ErrorLayer(); el != nil {
				t.Fatalf("decode: %v", el.Error())
			}
			eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if !bytes.Equal(eth.SrcMAC, MAC(1)) || !bytes.Equal(eth.DstMAC, MAC(2)) {
				t.Errorf("MACs %s > %s, want %s > %s", eth.SrcMAC, eth.DstMAC, MAC(1), MAC(2))
			}
			udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if !ok {
				t.Fatalf("no UDP layer in %v", p)
			}
			if udp.SrcPort != 1234 || udp.DstPort != 5678 || !bytes.Equal(udp.Payload, payload) {
				t.Errorf("UDP %d > %d %q, want 1234 > 5678 %q", udp.SrcPort, udp.DstPort, udp.Payload, payload)
			}
			if int(udp.Length) != 8+len(payload) {
				t.Errorf("UDP length %d, want %d", udp.Length, 8+len(payload))
			}

			// Verify the checksums independently of gopacket.
			var pseudo uint32
			var seg []byte
			if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
				hdr := f[14 : 14+int(ip4.IHL)*4]
				if c := checksum(hdr, 0); c != 0xffff {
					t.Errorf("IPv4 header checksum does not verify: folded sum %#04x", c)
				}
				if int(ip4.Length) != 20+8+len(payload) {
					t.Errorf("IPv4 total length %d, want %d", ip4.Length, 20+8+len(payload))
				}
				pseudo = uint32(checksum(append(ip4.SrcIP.To4(), ip4.DstIP.To4()...), 0)) + unix.IPPROTO_UDP + uint32(udp.Length)
				seg = f[14+len(hdr) : 14+int(ip4.Length)]
			} else {
				ip6 := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
				pseudo = uint32(checksum(append(append([]byte(nil), ip6.SrcIP...), ip6.DstIP...), 0)) + unix.IPPROTO_UDP + uint32(udp.Length)
				seg = f[14+40 : 14+40+int(ip6.Length)]
			}
			if c := checksum(seg, pseudo); c != 0xffff {
				t.Errorf("UDP checksum %#04x does not verify: folded sum %#04x", udp.Checksum, c)
			}
		})
	}
}

func TestARP(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for _, tc := range []struct {
		name             string
		frame            []byte
		op               uint16
		ethDst, arpDstHW net.HardwareAddr
	}{
		{"request", ARPRequest(MAC(1), a, b), layers.ARPRequest, layers.EthernetBroadcast, net.HardwareAddr{0, 0, 0, 0, 0, 0}},
		{"reply", ARPReply(MAC(1), a, MAC(2), b), layers.ARPReply, MAC(2), MAC(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := gopacket.NewPacket(tc.frame, layers.LayerTypeEthernet, gopacket.Default)
			eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			if !ok {
				t.Fatalf("no ARP layer in %v", p)
			}
			if !bytes.Equal(eth.DstMAC, tc.ethDst) || !bytes.Equal(eth.SrcMAC, MAC(1)) {
				t.Errorf("Ethernet %s > %s, want %s > %s", eth.SrcMAC, eth.DstMAC, MAC(1), tc.ethDst)
			}
			if arp.Operation != tc.op || !bytes.Equal(arp.SourceHwAddress, MAC(1)) || !bytes.Equal(arp.DstHwAddress, tc.arpDstHW) ||
				!bytes.Equal(arp.SourceProtAddress, a.AsSlice()) || !bytes.Equal(arp.DstProtAddress, b.AsSlice()) {
				t.Errorf("ARP op %d %x/%v > %x/%v", arp.Operation, arp.SourceHwAddress, arp.SourceProtAddress, arp.DstHwAddress, arp.DstProtAddress)
			}
		})
	}
}

func TestTag(t *testing.T) {
	inner := UDPFrame(MAC(1), MAC(2), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 1, 2, nil)
	f := Tag(inner, 0x8100, 0x2000|100)
	if len(f) != len(inner)+4 {
		t.Fatalf("tagged frame is %d bytes, want %d", len(f), len(inner)+4)
	}
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	q, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	if !ok {
		t.Fatalf("no 802.1Q layer in %v", p)
	}
	if q.VLANIdentifier != 100 || q.Priority != 1 || q.Type != layers.EthernetTypeIPv4 {
		t.Errorf("tag VID %d PCP %d type %v, want 100 1 IPv4", q.VLANIdentifier, q.Priority, q.Type)
	}
	if !bytes.Equal(f[:12], inner[:12]) || !bytes.Equal(f[16:], inner[12:]) {
		t.Errorf("Tag changed the frame around the tag:\n got %x\nfrom %x", f, inner)
	}
}

// auxdata builds the control message a packet socket attaches to a frame.
func auxdata(status uint32, tci, tpid uint16) []byte {
	data := make([]byte, auxdataLen)
	binary.NativeEndian.PutUint32(data[0:], status)
	binary.NativeEndian.PutUint16(data[16:], tci)
	binary.NativeEndian.PutUint16(data[18:], tpid)
	oob := make([]byte, unix.CmsgSpace(len(data)))
	// struct cmsghdr: a size_t length, then level and type (int).
	lenSize := unix.SizeofCmsghdr - 8
	if lenSize == 8 {
		binary.NativeEndian.PutUint64(oob, uint64(unix.CmsgLen(len(data))))
	} else {
		binary.NativeEndian.PutUint32(oob, uint32(unix.CmsgLen(len(data))))
	}
	binary.NativeEndian.PutUint32(oob[lenSize:], unix.SOL_PACKET)
	binary.NativeEndian.PutUint32(oob[lenSize+4:], unix.PACKET_AUXDATA)
	copy(oob[unix.CmsgLen(0):], data)
	return oob
}

func TestRestoreTag(t *testing.T) {
	frame := EtherFrame(MAC(2), MAC(1), 0x88b5, []byte("payload"))
	for _, tc := range []struct {
		name string
		oob  []byte
		want []byte
	}{
		{"no auxdata", nil, frame},
		{"no tag", auxdata(0, 0, 0), frame},
		{"802.1Q", auxdata(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID, 7, 0x8100), Tag(frame, 0x8100, 7)},
		{"802.1ad", auxdata(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID, 0x3005, 0x88a8), Tag(frame, 0x88a8, 0x3005)},
		{"no tpid reported", auxdata(unix.TP_STATUS_VLAN_VALID, 7, 0), Tag(frame, 0x8100, 7)},
		{"VID 0 with priority", auxdata(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID, 0x6000, 0x8100), Tag(frame, 0x8100, 0x6000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := restoreTag(frame, tc.oob)
			if !bytes.Equal(got, tc.want) {
				t.Errorf("restoreTag:\n got %x\nwant %x", got, tc.want)
			}
			if len(got) > 0 && &got[0] == &frame[0] {
				t.Error("restoreTag returned the receive buffer, not a copy")
			}
		})
	}
}

func TestNamePID(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"xs123-e2e-1", 123, true},
		{"xs123-1", 123, true},
		{"xs123-e2e-1-g2", 123, true},
		{"xs123", 0, false},
		{"xs-123-1", 0, false},
		{"xs0-1", 0, false},
		{"xs0123-1", 0, false},
		{"xsabc-1", 0, false},
		{"blue", 0, false},
		{"ns123-1", 0, false},
	} {
		pid, ok := namePID(tc.name)
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("namePID(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

func TestHostName(t *testing.T) {
	for _, bad := range []string{"a-b", "a/b", "a b", "seventeen_letters"} {
		if _, err := hostName(bad); err == nil {
			t.Errorf("hostName(%q) accepted a bad prefix", bad)
		}
	}
	a, err := hostName("e2e")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hostName("e2e")
	if a == b {
		t.Errorf("two hosts named %q", a)
	}
	if pid, ok := namePID(a); !ok || pid != unix.Getpid() {
		t.Errorf("namePID(%q) = %d, %v; want our pid %d", a, pid, ok, unix.Getpid())
	}
	if pid, ok := namePID(childName(a, "g")); !ok || pid != unix.Getpid() {
		t.Errorf("namePID of a guest of %q = %d, %v; want our pid", a, pid, ok)
	}
}

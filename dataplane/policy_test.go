package dataplane_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// addWith attaches a port with policy p.
func (r *rig) addWith(name string, p policy.Policy) *porttest.Port {
	r.t.Helper()
	port := porttest.New(name, 8)
	if _, err := r.br.AddPort(port, dataplane.PortInfo{Name: name, Kind: "porttest", Policy: p}); err != nil {
		r.t.Fatal(err)
	}
	r.ports[name] = port
	return port
}

// send injects frames on port from, waits until they have gone wherever
// they go, and returns what every port got.
func (r *rig) send(from string, frames ...dataplane.Frame) map[string][]dataplane.Frame {
	r.t.Helper()
	r.injected[from] += uint64(len(frames))
	for _, f := range frames {
		r.ports[from].InjectFrame(f)
	}
	r.taken()
	time.Sleep(quiet)
	got := map[string][]dataplane.Frame{}
	for name, p := range r.ports {
		if s := p.Sent(); len(s) > 0 {
			got[name] = s
		}
	}
	return got
}

// drain forgets what the ports were sent so far, once the worker has
// taken every injected frame.
func (r *rig) drain() {
	r.t.Helper()
	r.taken()
	for _, p := range r.ports {
		p.Sent()
	}
}

// untagged and outOfBand are the frames a port reports: without a tag, or
// with an 802.1Q tag of TCI tci in the metadata.
func untagged(d []byte) dataplane.Frame { return dataplane.Frame{Data: d} }

func outOfBand(d []byte, tci uint16) dataplane.Frame {
	return dataplane.Frame{Data: d, Tagged: true, VLAN: tci, TPID: dataplane.EtherTypeVLAN}
}

// check compares what each port got with want: the same frames, with the
// same tags, each once.
func (r *rig) check(got, want map[string][]dataplane.Frame) {
	r.t.Helper()
	for name := range r.ports {
		g, w := got[name], want[name]
		if len(g) != len(w) {
			r.t.Errorf("port %s: got %d frames, want %d", name, len(g), len(w))
			continue
		}
		for i := range g {
			if !bytes.Equal(g[i].Data, w[i].Data) || g[i].Tagged != w[i].Tagged ||
				w[i].Tagged && (g[i].VLAN != w[i].VLAN || g[i].TPID != w[i].TPID) {
				r.t.Errorf("port %s frame %d: got %x tagged %v tci %#x tpid %#x, want %x tagged %v tci %#x tpid %#x",
					name, i, g[i].Data, g[i].Tagged, g[i].VLAN, g[i].TPID, w[i].Data, w[i].Tagged, w[i].VLAN, w[i].TPID)
			}
		}
	}
}

func (r *rig) drops(name string, reason dataplane.DropReason) uint64 {
	return r.counters(name).Drops[reason]
}

func TestVLANs(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig())
	r.addWith("guest", policy.Policy{VLAN: policy.AccessVLAN(10)})
	r.addWith("guest20", policy.Policy{VLAN: policy.AccessVLAN(20)})
	r.addWith("uplink", policy.Policy{VLAN: policy.TrunkVLANs(0, 10, 20)})
	r.addWith("native", policy.Policy{VLAN: policy.TrunkVLANs(10, 20)})
	r.addWith("plain", policy.Policy{})
	r.addWith("plain2", policy.Policy{})

	bc := frame(bcast, host(1), "from-guest")
	r.check(r.send("guest", untagged(bc)), map[string][]dataplane.Frame{
		"uplink": {outOfBand(bc, 10)}, "native": {untagged(bc)},
		"plain": {outOfBand(bc, 10)}, "plain2": {outOfBand(bc, 10)},
	})

	// The trunk's frame for the guest comes with its tag in band (as on
	// an AF_XDP port) and leaves on the access port without it.
	toGuest := frame(host(1), host(2), "to-guest")
	r.check(r.send("uplink", untagged(tagged(host(1), host(2), 0xa00a, "to-guest"))),
		map[string][]dataplane.Frame{"guest": {untagged(toGuest)}})

	// A tagged frame keeps its priority when it leaves tagged; a frame of
	// the native VLAN leaves the trunk untagged.
	bc20 := frame(bcast, host(2), "v20")
	r.check(r.send("uplink", outOfBand(bc20, 0xa014)), map[string][]dataplane.Frame{
		"guest20": {untagged(bc20)}, "native": {outOfBand(bc20, 0xa014)},
		"plain": {outOfBand(bc20, 0xa014)}, "plain2": {outOfBand(bc20, 0xa014)},
	})
	r.check(r.send("native", untagged(frame(host(1), host(3), "native"))),
		map[string][]dataplane.Frame{"guest": {untagged(frame(host(1), host(3), "native"))}})

	// Refused: a tag on an access port, no tag on a trunk without a native
	// VLAN, a VLAN the trunk does not carry, an 802.1ad frame on a trunk.
	qinq := tagged(host(1), host(2), 10, "qinq")
	qinq[12], qinq[13] = 0x88, 0xa8
	r.check(r.send("guest", untagged(tagged(host(2), host(1), 10, "tagged")), outOfBand(frame(host(2), host(1), "oob"), 10)), nil)
	r.check(r.send("uplink", untagged(frame(host(1), host(2), "untagged")), outOfBand(frame(host(1), host(2), "v30"), 30),
		untagged(qinq)), nil)
	if n := r.drops("guest", dataplane.DropVLAN); n != 2 {
		t.Errorf("guest: %d frames dropped for their VLAN, want 2", n)
	}
	if n := r.drops("uplink", dataplane.DropVLAN); n != 3 {
		t.Errorf("uplink: %d frames dropped for their VLAN, want 3", n)
	}
	if dataplane.DropVLAN.String() != "vlan" {
		t.Errorf("DropVLAN is named %q, want vlan", dataplane.DropVLAN)
	}

	// Between transparent ports an 802.1ad frame passes as it came, and
	// goes nowhere else.
	qinqBcast := append(append([]byte{}, bcast...), qinq[6:]...)
	r.check(r.send("plain", untagged(qinqBcast)), map[string][]dataplane.Frame{"plain2": {untagged(qinqBcast)}})

	// Learning is per VLAN: host 1 is known in VLAN 10, not in VLAN 20.
	if _, ok := r.br.FDB().Lookup(fdb.MakeKey(10, host(1))); !ok {
		t.Error("host 1 not learned in VLAN 10")
	}
	if _, ok := r.br.FDB().Lookup(fdb.MakeKey(20, host(1))); ok {
		t.Error("host 1 learned in VLAN 20")
	}
}

// An in-band tag moved out of band takes the offload offsets with it: they
// count from the frame as the dataplane holds it.
func TestVLANTagMovesOffloadOffsets(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig())
	r.addWith("plain", policy.Policy{})
	r.addWith("uplink", policy.Policy{VLAN: policy.TrunkVLANs(0, 10)})
	in := dataplane.Frame{
		Data: tagged(bcast, host(1), 10, string(make([]byte, 60))),
		VNet: dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4,
			HdrLen: 58, GSOSize: 1448, CsumStart: 38, CsumOffset: 16},
	}
	got := r.send("plain", in)["uplink"]
	if len(got) != 1 {
		t.Fatalf("uplink got %d frames, want 1", len(got))
	}
	want := in.VNet
	want.HdrLen, want.CsumStart = 54, 34
	if g := got[0]; !g.Tagged || g.VLAN != 10 || g.VNet != want || !bytes.Equal(g.Data, frame(bcast, host(1), string(make([]byte, 60)))) {
		t.Errorf("got %+v, want the frame tagged 10 out of band with %+v", g, want)
	}
}

func TestIsolation(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig())
	r.addWith("iso1", policy.Policy{Isolated: true})
	r.addWith("iso2", policy.Policy{Isolated: true})
	r.add("uplink")

	b1, b2 := frame(bcast, host(1), "from-1"), frame(bcast, host(2), "from-2")
	r.check(r.send("iso1", untagged(b1)), map[string][]dataplane.Frame{"uplink": {untagged(b1)}})
	r.check(r.send("iso2", untagged(b2)), map[string][]dataplane.Frame{"uplink": {untagged(b2)}})
	// Both hosts are learned now: unicast between them is dropped both ways.
	r.check(r.send("iso1", untagged(frame(host(2), host(1), "1-to-2"))), nil)
	r.check(r.send("iso2", untagged(frame(host(1), host(2), "2-to-1"))), nil)
	if a, b := r.drops("iso1", dataplane.DropIsolated), r.drops("iso2", dataplane.DropIsolated); a != 1 || b != 1 {
		t.Errorf("dropped as isolated: iso1 %d, iso2 %d; want 1 each", a, b)
	}
	// The uplink reaches both, and both reach it.
	bu := frame(bcast, host(9), "from-uplink")
	r.check(r.send("uplink", untagged(bu)), map[string][]dataplane.Frame{"iso1": {untagged(bu)}, "iso2": {untagged(bu)}})
	r.check(r.send("uplink", untagged(frame(host(1), host(9), "u-to-1"))),
		map[string][]dataplane.Frame{"iso1": {untagged(frame(host(1), host(9), "u-to-1"))}})
	r.check(r.send("iso2", untagged(frame(host(9), host(2), "2-to-u"))),
		map[string][]dataplane.Frame{"uplink": {untagged(frame(host(9), host(2), "2-to-u"))}})
}

var (
	guestMAC = net.HardwareAddr{0x00, 0x16, 0x3e, 0, 0, 1}
	otherMAC = net.HardwareAddr{0x00, 0x16, 0x3e, 0, 0, 2}
	guestLL  = net.IP(policy.LinkLocal(guestMAC).AsSlice())
)

func guestPolicy() policy.Policy {
	return policy.Policy{AntiSpoof: true, MAC: guestMAC, Allowed: []netip.Prefix{
		netip.MustParsePrefix("192.0.2.5/32"), netip.MustParsePrefix("2001:db8::5/128")}}
}

// packet serializes layers, the network layer first, into a frame from src,
// lengths and checksums computed.
func packet(t *testing.T, src net.HardwareAddr, et layers.EthernetType, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: net.HardwareAddr(bcast), EthernetType: et}
	for _, l := range ls {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := c.SetNetworkLayerForChecksum(ls[0].(gopacket.NetworkLayer)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		append([]gopacket.SerializableLayer{eth}, ls...)...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ipv4(t *testing.T, src net.HardwareAddr, from string) []byte {
	return packet(t, src, layers.EthernetTypeIPv4,
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(from), DstIP: net.IPv4bcast},
		&layers.UDP{SrcPort: 68, DstPort: 67}, gopacket.Payload("dhcp"))
}

func arp(t *testing.T, sender string) []byte {
	return packet(t, guestMAC, layers.EthernetTypeARP, &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: guestMAC, SourceProtAddress: net.ParseIP(sender).To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{192, 0, 2, 1}})
}

func ipv6(t *testing.T, from string) []byte {
	return packet(t, guestMAC, layers.EthernetTypeIPv6,
		&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP(from), DstIP: net.ParseIP("ff02::1")},
		&layers.UDP{SrcPort: 546, DstPort: 547}, gopacket.Payload("dhcp6"))
}

func neighAdv(t *testing.T, target string) []byte {
	return packet(t, guestMAC, layers.EthernetTypeIPv6,
		&layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: guestLL, DstIP: net.ParseIP("ff02::1")},
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)},
		&layers.ICMPv6NeighborAdvertisement{Flags: 0x20, TargetAddress: net.ParseIP(target)})
}

func TestAntiSpoofing(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig())
	r.addWith("guest", guestPolicy())
	r.add("uplink")

	legit := [][]byte{
		ipv4(t, guestMAC, "192.0.2.5"),
		ipv4(t, guestMAC, "0.0.0.0"), // DHCP discover
		arp(t, "192.0.2.5"),
		arp(t, "0.0.0.0"), // ARP probe
		ipv6(t, "2001:db8::5"),
		ipv6(t, guestLL.String()),
		neighAdv(t, "2001:db8::5"),
		neighAdv(t, guestLL.String()),
	}
	spoofed := [][]byte{
		ipv4(t, otherMAC, "192.0.2.5"),
		ipv4(t, guestMAC, "192.0.2.6"),
		arp(t, "192.0.2.1"),
		ipv6(t, "2001:db8::6"),
		ipv6(t, "fe80::1"),
		neighAdv(t, "2001:db8::1"),
		frame(bcast, guestMAC, "not IP"),
	}
	var in []dataplane.Frame
	var want []dataplane.Frame
	for i, f := range legit {
		in = append(in, untagged(f))
		want = append(want, untagged(f))
		if i < len(spoofed) {
			in = append(in, untagged(spoofed[i]))
		}
	}
	r.check(r.send("guest", in...), map[string][]dataplane.Frame{"uplink": want})
	if n := r.drops("guest", dataplane.DropSpoofed); n != uint64(len(spoofed)) {
		t.Errorf("%d frames dropped as spoofed, want %d", n, len(spoofed))
	}
	if dataplane.DropSpoofed.String() != "spoofed" {
		t.Errorf("DropSpoofed is named %q, want spoofed", dataplane.DropSpoofed)
	}
	// A spoofed source is not learned.
	if _, ok := r.br.FDB().Lookup(fdb.MakeKey(0, otherMAC)); ok {
		t.Error("spoofed MAC learned")
	}
}

func TestSetPolicy(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b")
	spoof := ipv4(t, otherMAC, "192.0.2.5")
	r.check(r.send("a", untagged(spoof)), map[string][]dataplane.Frame{"b": {untagged(spoof)}})

	// Anti-spoofing from now on, on the port as attached.
	if err := r.br.SetPolicy("a", guestPolicy()); err != nil {
		t.Fatal(err)
	}
	ok := ipv4(t, guestMAC, "192.0.2.5")
	r.check(r.send("a", untagged(spoof), untagged(ok)), map[string][]dataplane.Frame{"b": {untagged(ok)}})

	// Then VLANs: a in access 10, b a trunk of 10.
	p := guestPolicy()
	p.VLAN = policy.AccessVLAN(10)
	if err := r.br.SetPolicy("a", p); err != nil {
		t.Fatal(err)
	}
	if err := r.br.SetPolicy("b", policy.Policy{VLAN: policy.TrunkVLANs(0, 10)}); err != nil {
		t.Fatal(err)
	}
	r.check(r.send("a", untagged(ok)), map[string][]dataplane.Frame{"b": {outOfBand(ok, 10)}})
	for _, ps := range r.br.Ports() {
		if ps.Name == "a" && (ps.Policy.VLAN.String() != "access 10" || !ps.Policy.AntiSpoof || ps.Policy.MAC.String() != guestMAC.String()) {
			t.Errorf("port a shows policy %+v, want %+v", ps.Policy, p)
		}
	}

	// And back to none: frames pass as they came again.
	for _, name := range []string{"a", "b"} {
		if err := r.br.SetPolicy(name, policy.Policy{}); err != nil {
			t.Fatal(err)
		}
	}
	r.drain()
	r.check(r.send("a", untagged(spoof)), map[string][]dataplane.Frame{"b": {untagged(spoof)}})

	if err := r.br.SetPolicy("nope", policy.Policy{}); !errors.Is(err, dataplane.ErrNoPort) {
		t.Errorf("SetPolicy of an unknown port: %v, want ErrNoPort", err)
	}
	if err := r.br.SetPolicy("a", policy.Policy{AntiSpoof: true}); err == nil {
		t.Error("SetPolicy took anti-spoofing without a MAC")
	}
}

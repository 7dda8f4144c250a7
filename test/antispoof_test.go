package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
	"github.com/xswitch/xswitch/policy"
)

// payload is a datagram's payload that tagged(tag) matches.
func payload(tag string) []byte { return []byte("xswitch-e2e:" + tag + "\x00") }

// neighborAdvert returns an unsolicited ICMPv6 neighbour advertisement to
// all nodes from src (MAC and IPv6 address) for target, overriding caches.
func neighborAdvert(mac net.HardwareAddr, src, target netip.Addr) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: src.AsSlice(), DstIP: net.ParseIP("ff02::1")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	na := &layers.ICMPv6NeighborAdvertisement{Flags: 0x20, TargetAddress: target.AsSlice(),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: mac}}}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: mac, DstMAC: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6},
		ip, icmp, na)
	if err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// advertises matches neighbour advertisements for target.
func advertises(target netip.Addr) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 78 && binary.BigEndian.Uint16(f[12:14]) == 0x86dd && f[20] == 58 && f[54] == 136 &&
			bytes.Equal(f[62:78], target.AsSlice())
	}
}

// arpClaims matches ARP frames from mac whose sender address is ip.
func arpClaims(mac net.HardwareAddr, ip netip.Addr) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:14]) == 0x0806 &&
			bytes.Equal(f[6:12], mac) && bytes.Equal(f[28:32], ip.AsSlice())
	}
}

// enableIPv6 gives a guest's eth0 an IPv6 address as well.
func enableIPv6(t *testing.T, g *topo.Guest, addr string) {
	t.Helper()
	if err := g.SetSysctl("net/ipv6/conf/eth0/disable_ipv6", "0"); err != nil {
		t.Fatal(err)
	}
	if err := g.AddAddr("eth0", netip.MustParsePrefix(addr)); err != nil {
		t.Fatal(err)
	}
}

// TestAntiSpoof gives two guests anti-spoofing, one in the configuration
// file and one added at run time with xswitchctl, next to a guest without:
// every kind of forged frame from them is dropped and counted exactly,
// while what they may send flows, in userspace and on the fast path.
func TestAntiSpoof(t *testing.T) { eachPath(t, policyPaths, testAntiSpoof) }

func testAntiSpoof(t *testing.T, mode string) {
	d := newPolicyDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.31.0.1/24")
	b := d.guest("vif2.0", 2, "10.31.0.2/24")
	c := d.guest("vif3.0", 3, "10.31.0.3/24")
	quiet(t, a, b, c)
	enableIPv6(t, b, "fd00:31::2/64")
	enableIPv6(t, c, "fd00:31::3/64")
	d.start(fmt.Sprintf(`
bridges:
  - name: xenbr0
    ports: ["vif1.0", "vif3.0"]
    port-settings:
      vif1.0: {antispoof: true, mac: "%s", allowed: ["10.31.0.1"]}
`, a.MAC()))
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif3.0=xenbr0")
	var added control.PortChange
	if err := d.xswitchctl(&added, "port", "add", "xenbr0", "vif2.0", "-mac", b.MAC().String(), "-allow", "10.31.0.2,fd00:31::2", "-antispoof"); err != nil {
		t.Fatal(err)
	}
	if !added.Changed || added.Bridge != "xenbr0" {
		t.Errorf("xswitchctl port add: %+v, want a change on xenbr0", added)
	}
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	ports := d.policyPorts()
	for name, want := range map[string]policyPort{
		"vif1.0": {AntiSpoof: true, MAC: a.MAC().String()},
		"vif2.0": {AntiSpoof: true, MAC: b.MAC().String(), Runtime: true},
		"vif3.0": {},
	} {
		p := ports[name]
		if p.AntiSpoof != want.AntiSpoof || p.MAC != want.MAC || p.Runtime != want.Runtime {
			t.Errorf("xswitchctl -json ports: %s has antispoof %v, mac %q, runtime %v; want %v, %q, %v",
				name, p.AntiSpoof, p.MAC, p.Runtime, want.AntiSpoof, want.MAC, want.Runtime)
		}
	}
	atA, atB, atC := capture(t, a), capture(t, b), capture(t, c)

	// What they may send: IPv4 from their addresses, IPv6 from theirs and
	// from the link-local of their MAC.
	if err := ping(t, a, c.Addr(), 3); err != nil {
		t.Error(err)
	}
	if err := ping(t, b, c.Addr(), 3); err != nil {
		t.Error(err)
	}
	if err := ping(t, b, netip.MustParseAddr("fd00:31::3"), 3); err != nil {
		t.Error(err)
	}
	spoofA, spoofB := d.drops("vif1.0", "spoofed"), d.drops("vif2.0", "spoofed")
	const n = 10
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ipA, ipB, ipC := a.Addr(), b.Addr(), c.Addr()
	ip6B, ip6C := netip.MustParseAddr("fd00:31::2"), netip.MustParseAddr("fd00:31::3")
	llB, llC := policy.LinkLocal(b.MAC()), policy.LinkLocal(c.MAC())
	fast := fastPath(mode) != "off"
	if fast {
		d.onFastPath("vif1.0", a, atC, func(tag string) []byte { return topo.UDPFrame(a.MAC(), c.MAC(), ipA, ipC, 5000, 5001, payload(tag)) })
	}
	before := d.ports()
	for i := range n {
		inject(t, a,
			// Allowed: a's own address, and DHCP before it has one.
			topo.UDPFrame(a.MAC(), c.MAC(), ipA, ipC, 5000, 5001, payload(fmt.Sprint("ok4-", i))),
			topo.UDPFrame(a.MAC(), bcast, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, payload(fmt.Sprint("dhcp-", i))),
			// Forged: another MAC, c's address in ARP (gratuitous, and a
			// reply poisoning b) and in IPv4, another protocol.
			topo.UDPFrame(topo.MAC(99), c.MAC(), ipA, ipC, 5000, 5001, payload(fmt.Sprint("mac-", i))),
			topo.ARPRequest(a.MAC(), ipC, ipC),
			topo.ARPReply(a.MAC(), ipC, b.MAC(), ipB),
			topo.UDPFrame(a.MAC(), c.MAC(), ipB, ipC, 5000, 5001, payload(fmt.Sprint("ip4-", i))),
			marker(c.MAC(), a.MAC(), fmt.Sprint("proto-", i)))
		inject(t, b,
			topo.UDPFrame(b.MAC(), c.MAC(), ip6B, ip6C, 5000, 5001, payload(fmt.Sprint("ok6-", i))),
			topo.UDPFrame(b.MAC(), c.MAC(), llB, llC, 5000, 5001, payload(fmt.Sprint("ll6-", i))),
			neighborAdvert(b.MAC(), llB, ip6B),
			// Forged: c's IPv6 address as source, and as the target of an
			// advertisement that would steal it.
			topo.UDPFrame(b.MAC(), c.MAC(), ip6C, ip6C, 5000, 5001, payload(fmt.Sprint("ip6-", i))),
			neighborAdvert(b.MAC(), llB, ip6C))
	}
	exactly(t, atC, "c", taggedPrefix("ok4-"), n)
	exactly(t, atC, "c", taggedPrefix("dhcp-"), n)
	exactly(t, atB, "b", taggedPrefix("dhcp-"), n)
	exactly(t, atC, "c", taggedPrefix("ok6-"), n)
	exactly(t, atC, "c", taggedPrefix("ll6-"), n)
	exactly(t, atC, "c", advertises(ip6B), n)
	for _, tag := range []string{"mac-", "ip4-", "proto-", "ip6-"} {
		exactly(t, atC, "c", taggedPrefix(tag), 0)
	}
	exactly(t, atC, "c", arpClaims(a.MAC(), ipC), 0)
	exactly(t, atB, "b", arpClaims(a.MAC(), ipC), 0)
	exactly(t, atC, "c", advertises(ip6C), 0)
	exactly(t, atA, "a", advertises(ip6C), 0)
	d.dropsGrew("vif1.0", "spoofed", spoofA, 5*n)
	d.dropsGrew("vif2.0", "spoofed", spoofB, 2*n)
	if fast {
		after := d.ports()
		// The learned flow from a's own address stayed in the kernel.
		if got := after["vif1.0"].FastPathPackets - before["vif1.0"].FastPathPackets; got != n {
			t.Errorf("vif1.0: the fast path forwarded %d of a's %d learned datagrams", got, n)
		}
	}

	// A guest that changes its MAC is cut off until it changes it back.
	spoofA = d.drops("vif1.0", "spoofed")
	nsRun(t, a.Netns, "ip", "link", "set", "eth0", "address", topo.MAC(98).String())
	if err := ping(t, a, c.Addr(), 2); err == nil {
		t.Error("a guest with a forged MAC reached another")
	}
	if got := d.drops("vif1.0", "spoofed").api - spoofA.api; got == 0 {
		t.Error("the pings from a forged MAC were not counted as spoofed")
	}
	if n := atC.Count(from(topo.MAC(98))); n != 0 {
		t.Errorf("c received %d frames from the forged MAC", n)
	}
	nsRun(t, a.Netns, "ip", "link", "set", "eth0", "address", a.MAC().String())
	if err := ping(t, a, c.Addr(), 2); err != nil {
		t.Errorf("after its MAC came back: %v", err)
	}
}

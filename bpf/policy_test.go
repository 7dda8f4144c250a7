package bpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo"
	"github.com/xswitch/xswitch/internal/topo/netns"
	"github.com/xswitch/xswitch/policy"
)

const (
	tcActShot = 2
	xdpDrop   = 1
)

// setPolicy gives a port of the env a policy, as SetPolicy does to an
// attached port.
func (e *env) setPolicy(ifindex int, p policy.Policy) {
	e.t.Helper()
	var v xswitchPort
	if err := e.fp.objs.XsPorts.Lookup(uint32(ifindex), &v); err != nil {
		e.t.Fatal(err)
	}
	if err := e.fp.putPortEntry(uint32(ifindex), v, p); err != nil {
		e.t.Fatal(err)
	}
}

// A policyCase is one frame into one port, and what both programs must do
// with it.
type policyCase struct {
	name  string
	in    int
	frame []byte
	// want is "redirect", "punt" (TC punts it, XDP passes it on) or
	// "drop:" and the drop reason counted on the ingress port; "TC/XDP"
	// where the two differ (XDP hands some frames to TC).
	want string
	// out is the frame as it leaves when redirected, as XDP writes it; nil:
	// as it came. TC pushes tags out of band: TestTagsOnTheWire checks
	// those.
	out []byte
}

// runPolicyCases runs every case through TC and XDP and checks the
// verdicts, the frames and the drop counters.
func (e *env) runPolicyCases(cases []policyCase) {
	t := e.t
	t.Helper()
	for _, c := range cases {
		for _, xdp := range []bool{false, true} {
			want := c.out
			if want == nil {
				want = c.frame
			}
			prog := "TC"
			if xdp {
				prog = "XDP"
			}
			before := e.stats(c.in)
			var (
				got string
				out []byte
				v   uint32
			)
			if xdp {
				v, out = e.runXDPOut(c.in, c.frame)
				got = map[uint32]string{xdpRedirect: "redirect", xdpPass: "punt", xdpDrop: "drop"}[v]
			} else {
				r := e.runTC(c.in, c.frame)
				v, out = r.verdict, r.out
				got = map[uint32]string{tcActRedirect: "redirect", tcActShot: "drop"}[v]
				if r.punted() {
					got = "punt"
				}
				if len(want) > len(c.frame) {
					want = c.frame // the tag TC pushes is out of band
				}
			}
			if got == "" {
				got = fmt.Sprintf("verdict %d", v)
			}
			wantGot := c.want
			if tc, x, ok := strings.Cut(c.want, "/"); ok {
				wantGot = tc
				if xdp {
					wantGot = x
				}
			}
			after := e.stats(c.in)
			reason := ""
			if len(wantGot) > 5 && wantGot[:5] == "drop:" {
				reason = wantGot[5:]
				if got == "drop" {
					got = wantGot
				}
			}
			if got != wantGot {
				t.Errorf("%s, %s: %s, want %s", c.name, prog, got, wantGot)
				continue
			}
			for _, r := range DropReasons {
				n := after.Drops[r] - before.Drops[r]
				if r == reason && n != 1 || r != reason && n != 0 {
					t.Errorf("%s, %s: drops[%s] grew by %d", c.name, prog, r, n)
				}
			}
			if got == "redirect" && !bytes.Equal(out, want) {
				t.Errorf("%s, %s: sent\n% x\nwant\n% x", c.name, prog, out, want)
			}
		}
	}
}

// TestVLANs checks each VLAN mode's ingress and egress in both programs:
// access to trunk pushes the tag, trunk to access pops it, a trunk keeps
// it; frames outside a port's VLANs are dropped and counted.
func TestVLANs(t *testing.T) {
	e := newEnv(t)
	for _, i := range []int{e.a, e.b, e.c} {
		e.port(i, bridge1, true)
	}
	e.setPolicy(e.a, policy.Policy{VLAN: policy.AccessVLAN(10)})
	e.setPolicy(e.b, policy.Policy{VLAN: policy.TrunkVLANs(0, 10, 20)})
	e.setPolicy(e.c, policy.Policy{VLAN: policy.TrunkVLANs(30, 20)})
	macD := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0d}
	e.learn(bridge1, 10, macA, e.a, false)
	e.learn(bridge1, 10, macB, e.b, false)
	e.learn(bridge1, 20, macB, e.b, false)
	e.learn(bridge1, 20, macC, e.c, false)
	e.learn(bridge1, 30, macC, e.c, false)
	e.learn(bridge1, 10, macD, e.c, true) // c is no member of 10
	e.learn(bridge1, 30, macB, e.b, true) // nor b of 30

	untagged := func(dst, src net.HardwareAddr) []byte { return frame(dst, src, 0, 0, 60) }
	tagged := func(dst, src net.HardwareAddr, tci uint16) []byte { return frame(dst, src, 0x8100, tci, 64) }
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	e.runPolicyCases([]policyCase{
		{"access to trunk", e.a, untagged(macB, macA), "redirect", topo.Tag(untagged(macB, macA), 0x8100, 10)},
		{"trunk to access", e.b, tagged(macA, macB, 10), "redirect", untagged(macA, macB)[:60]},
		{"trunk to access, priority bits", e.b, tagged(macA, macB, 5<<13|10), "redirect", untagged(macA, macB)[:60]},
		{"trunk to trunk keeps the tag", e.b, tagged(macC, macB, 5<<13|20), "redirect", nil},
		{"trunk to trunk's native VLAN", e.c, untagged(macB, macC), "drop:vlan", nil},
		{"trunk to a trunk of another native VLAN", e.b, tagged(macC, macB, 20), "redirect", nil},
		{"tagged on an access port", e.a, tagged(macB, macA, 10), "drop:vlan", nil},
		{"tagged, priority only, on an access port", e.a, tagged(macB, macA, 0), "drop:vlan", nil},
		{"trunk, VLAN not in its list", e.b, tagged(macA, macB, 30), "drop:vlan", nil},
		{"trunk, VLAN 0", e.b, tagged(macA, macB, 0), "drop:vlan", nil},
		{"untagged on a trunk without native VLAN", e.b, untagged(macA, macB), "drop:vlan", nil},
		{"egress no member", e.a, untagged(macD, macA), "drop:vlan", nil},
		{"broadcast from an access port: punted as it came", e.a, untagged(bcast, macA), "punt", nil},
		{"broadcast of a VLAN not on the trunk", e.b, tagged(bcast, macB, 40), "drop:vlan", nil},
		{"QinQ on an access port", e.a, topo.Tag(tagged(macB, macA, 10), 0x88a8, 10), "drop:vlan", nil},
		{"QinQ on a trunk of its VLAN", e.b, topo.Tag(tagged(macA, macB, 10), 0x88a8, 10), "drop:vlan", nil},
		{"802.1ad tag on a trunk of its VLAN", e.b, frame(macA, macB, 0x88a8, 10, 64), "drop:vlan", nil},
		{"two 802.1Q tags on a trunk: userspace's", e.b, topo.Tag(tagged(macA, macB, 10), 0x8100, 10), "punt", nil},
	})
	// The punt header carries an access port's frame untagged, as it came.
	checkPunt(t, "broadcast from an access port", e.runTC(e.a, untagged(bcast, macA)), untagged(bcast, macA), puntIndex(t, "flood"))
}

// TestTransparentAndVLANPorts checks frames between a transparent port,
// whose tag is its VLAN, and ports with VLAN modes.
func TestTransparentAndVLANPorts(t *testing.T) {
	e := newEnv(t)
	for _, i := range []int{e.a, e.b, e.c} {
		e.port(i, bridge1, true)
	}
	e.setPolicy(e.b, policy.Policy{VLAN: policy.AccessVLAN(10)})
	e.setPolicy(e.c, policy.Policy{VLAN: policy.TrunkVLANs(20, 10)})
	for _, vid := range []uint16{0, 10, 20} {
		e.learn(bridge1, vid, macA, e.a, false)
	}
	e.learn(bridge1, 10, macB, e.b, false)
	e.learn(bridge1, 0, macB, e.b, true) // b is no member of VLAN 0
	e.learn(bridge1, 10, macC, e.c, false)
	e.learn(bridge1, 20, macC, e.c, false)

	untagged := func(dst, src net.HardwareAddr) []byte { return frame(dst, src, 0, 0, 60) }
	tagged := func(dst, src net.HardwareAddr, tci uint16) []byte { return frame(dst, src, 0x8100, tci, 64) }
	e.runPolicyCases([]policyCase{
		{"transparent to access", e.a, tagged(macB, macA, 10), "redirect", untagged(macB, macA)},
		{"access to transparent", e.b, untagged(macA, macB), "redirect", topo.Tag(untagged(macA, macB), 0x8100, 10)},
		{"transparent, untagged, to access", e.a, untagged(macB, macA), "drop:vlan", nil},
		{"native VLAN to transparent", e.c, untagged(macA, macC), "redirect", topo.Tag(untagged(macA, macC), 0x8100, 20)},
		{"transparent to native VLAN", e.a, tagged(macC, macA, 20), "redirect", untagged(macC, macA)},
		{"transparent to trunk", e.a, tagged(macC, macA, 10), "redirect", nil},
	})
}

// TestIsolation checks that unicast between two isolated ports is dropped
// and counted, and that isolated ports still reach the others.
func TestIsolation(t *testing.T) {
	e := newEnv(t)
	for _, i := range []int{e.a, e.b, e.c} {
		e.port(i, bridge1, true)
	}
	e.setPolicy(e.a, policy.Policy{Isolated: true})
	e.setPolicy(e.b, policy.Policy{Isolated: true})
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)
	e.learn(bridge1, 0, macC, e.c, false)
	e.runPolicyCases([]policyCase{
		{"isolated to isolated", e.a, frame(macB, macA, 0, 0, 60), "drop:isolated", nil},
		{"isolated to isolated, back", e.b, frame(macA, macB, 0, 0, 60), "drop:isolated", nil},
		{"isolated to open", e.a, frame(macC, macA, 0, 0, 60), "redirect", nil},
		{"open to isolated", e.c, frame(macA, macC, 0, 0, 60), "redirect", nil},
	})
}

// TestAntiSpoofing checks a spoof-checked port: frames from another MAC,
// IPv4 and ARP from other addresses, IPv6 from others than its addresses
// and link-local, neighbour advertisements for others' addresses, and
// other ethertypes are dropped and counted; its own traffic, DHCP from
// 0.0.0.0 and duplicate address detection from :: go on.
func TestAntiSpoofing(t *testing.T) {
	e := newEnv(t)
	for _, i := range []int{e.a, e.b, e.c} {
		e.port(i, bridge1, true)
	}
	allowed, err := policy.ParseAllowed("10.0.0.1 192.0.2.0/24 2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	e.setPolicy(e.a, policy.Policy{AntiSpoof: true, MAC: macA, Allowed: allowed})
	e.setPolicy(e.c, policy.Policy{VLAN: policy.AccessVLAN(7), AntiSpoof: true, MAC: macC, Allowed: allowed})
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)
	e.learn(bridge1, 0, macC, e.a, false) // the MAC a guest on a would spoof

	ip := netip.MustParseAddr
	udp := func(src, dst netip.Addr) []byte {
		return topo.UDPFrame(macA, macB, src, dst, 1000, 2000, make([]byte, 18))
	}
	fromC := func(f []byte) []byte { copy(f[6:], macC); return f }
	llA, llC := policy.LinkLocal(macA), policy.LinkLocal(macC)
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	dhcp := topo.UDPFrame(macA, bcast, ip("0.0.0.0"), ip("255.255.255.255"), 68, 67, make([]byte, 240))
	mcast := net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}
	e.runPolicyCases([]policyCase{
		{"IPv4 from its address", e.a, udp(ip("10.0.0.1"), ip("10.0.0.2")), "redirect", nil},
		{"IPv4 from its prefix", e.a, udp(ip("192.0.2.77"), ip("10.0.0.2")), "redirect", nil},
		{"IPv4 from another address", e.a, udp(ip("10.0.0.9"), ip("10.0.0.2")), "drop:spoofed", nil},
		{"IPv4 from another MAC", e.a, fromC(udp(ip("10.0.0.1"), ip("10.0.0.2"))), "drop:spoofed", nil},
		{"DHCP from 0.0.0.0", e.a, dhcp, "punt", nil},
		{"ARP from its address", e.a, topo.ARPRequest(macA, ip("10.0.0.1"), ip("10.0.0.2")), "punt", nil},
		{"ARP probe", e.a, topo.ARPRequest(macA, ip("0.0.0.0"), ip("10.0.0.1")), "punt", nil},
		{"ARP reply from its address", e.a, topo.ARPReply(macA, ip("10.0.0.1"), macB, ip("10.0.0.2")), "redirect", nil},
		{"ARP for another's address", e.a, topo.ARPReply(macA, ip("10.0.0.2"), macB, ip("10.0.0.2")), "drop:spoofed", nil},
		{"gratuitous ARP for another's address", e.a, topo.ARPRequest(macA, ip("10.0.0.2"), ip("10.0.0.2")), "drop:spoofed", nil},
		{"ARP with another's sender MAC", e.a, arpSender(topo.ARPReply(macA, ip("10.0.0.1"), macB, ip("10.0.0.2")), macB), "drop:spoofed", nil},
		{"IPv6 from its address", e.a, udp(ip("2001:db8::1"), ip("2001:db8::2")), "redirect", nil},
		{"IPv6 from its link-local address", e.a, udp(llA, ip("fe80::2")), "redirect", nil},
		{"IPv6 from another address", e.a, udp(ip("2001:db8::2"), ip("2001:db8::1")), "drop:spoofed", nil},
		{"IPv6 from another MAC's link-local", e.a, udp(llC, ip("fe80::2")), "drop:spoofed", nil},
		{"IPv6 from its IPv4 address, mapped", e.a, mapped(macA, macB, ip("10.0.0.1")), "redirect", nil},
		{"IPv6 from another IPv4 address, mapped", e.a, mapped(macA, macB, ip("10.0.0.2")), "drop:spoofed", nil},
		{"duplicate address detection from ::", e.a, na(macA, mcast, ip("::"), ip("ff02::1:ff00:1"), ip("2001:db8::1"), 135), "punt", nil},
		{"advertisement of its address", e.a, na(macA, macB, llA, ip("fe80::2"), ip("2001:db8::1"), 136), "redirect", nil},
		{"advertisement of its link-local", e.a, na(macA, macB, llA, ip("fe80::2"), llA, 136), "redirect", nil},
		{"advertisement of another's address", e.a, na(macA, macB, llA, ip("fe80::2"), ip("2001:db8::2"), 136), "drop:spoofed", nil},
		{"advertisement of another's address, after a hop-by-hop header", e.a, na(macA, macB, llA, ip("fe80::2"), ip("2001:db8::2"), 136, 0), "drop:spoofed", nil},
		{"advertisement of its address after three extension headers", e.a, na(macA, macB, llA, ip("fe80::2"), ip("2001:db8::1"), 136, 0, 60, 43), "redirect/punt", nil},
		{"advertisement of another's address, first fragment", e.a, na(macA, macB, llA, ip("fe80::2"), ip("2001:db8::2"), 136, 60, 44), "drop:spoofed", nil},
		{"a later fragment", e.a, na(macA, macB, llA, ip("fe80::2"), ip("2001:db8::2"), 136, 44*-1), "redirect/punt", nil},
		{"advertisement after nine extension headers", e.a, na(macA, macB, llA, ip("fe80::2"), ip("2001:db8::1"), 136, 0, 60, 60, 60, 60, 60, 60, 60, 60), "drop:spoofed", nil},
		{"advertisement cut short", e.a, na(macA, macB, llA, ip("fe80::2"), ip("2001:db8::1"), 136)[:14+40+20], "drop:spoofed", nil},
		{"ARP cut short", e.a, topo.ARPReply(macA, ip("10.0.0.1"), macB, ip("10.0.0.2"))[:14+27], "drop:spoofed", nil},
		{"two tags, its address", e.a, topo.Tag(topo.Tag(udp(ip("10.0.0.1"), ip("10.0.0.2")), 0x8100, 5), 0x88a8, 6), "punt", nil},
		{"two tags, another address", e.a, topo.Tag(topo.Tag(udp(ip("10.0.0.9"), ip("10.0.0.2")), 0x8100, 5), 0x88a8, 6), "drop:spoofed", nil},
		{"advertisement from :: of another's address", e.a, na(macA, mcast, ip("::"), ip("ff02::1"), ip("2001:db8::2"), 136), "drop:spoofed", nil},
		{"another ethertype", e.a, frame(macB, macA, 0, 0, 60), "drop:spoofed", nil},
		{"a runt", e.a, frame(macB, macA, 0, 0, 60)[:16], "drop:spoofed", nil},
		{"tagged on a spoof-checked access port", e.c, topo.Tag(fromC(udp(ip("10.0.0.1"), ip("10.0.0.2"))), 0x8100, 7), "drop:vlan", nil},
	})
}

// mapped builds a UDP datagram over IPv6 from the IPv4-mapped address of
// src.
func mapped(src, dst net.HardwareAddr, from netip.Addr) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv6}
	a := netip.AddrFrom16(from.As16())
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: a.AsSlice(), DstIP: net.ParseIP("2001:db8::2")}
	udp := &layers.UDP{SrcPort: 1, DstPort: 2}
	udp.SetNetworkLayerForChecksum(ip6)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip6, udp, gopacket.Payload(make([]byte, 18))); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// na builds an ICMPv6 neighbour solicitation (typ 135) or advertisement
// (136) for target, behind extension headers of the types in exts (0, 43,
// 60, or 44 for a first fragment and -44 for a later one).
func na(src, dst net.HardwareAddr, from, to, target netip.Addr, typ uint8, exts ...int) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv6}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: from.AsSlice(), DstIP: to.AsSlice()}
	var chain []byte
	for i, x := range exts {
		if i == 0 {
			ip6.NextHeader = layers.IPProtocol(max(x, -x))
		}
		next := 58
		if i+1 < len(exts) {
			next = max(exts[i+1], -exts[i+1])
		}
		h := []byte{byte(next), 0, 0, 0, 0, 0, 0, 0}
		if x == -44 {
			h[2] = 1 // offset 256
		}
		chain = append(chain, h...)
	}
	body := make([]byte, 20)
	copy(body[4:], target.AsSlice())
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	icmp.SetNetworkLayerForChecksum(ip6)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip6, gopacket.Payload(chain), icmp, gopacket.Payload(body)); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// TestTagsOnTheWire checks TC's tags where TC puts them, out of band: a
// frame from an access port leaves a trunk tagged with the access VLAN, and
// a tagged frame from the trunk reaches the access port untagged.
func TestTagsOnTheWire(t *testing.T) {
	e := newEnv(t)
	attach := func(name string, idx int, p policy.Policy) {
		if _, err := e.fp.AttachPort(Port{Name: name, Index: idx, Bridge: bridge1, MTU: 1500, Mode: ModeTC, Kind: "veth", Policy: p}); err != nil {
			t.Fatal(err)
		}
	}
	attach("pa", e.a, policy.Policy{VLAN: policy.AccessVLAN(10)})
	attach("pb", e.b, policy.Policy{VLAN: policy.TrunkVLANs(0, 10)})
	e.learn(bridge1, 10, macA, e.a, false)
	e.learn(bridge1, 10, macB, e.b, false)
	qa, qb := openWire(t, "qa"), openWire(t, "qb")

	sent := frame(macB, macA, 0, 0, 60)
	qa.send(t, sent)
	if got := qb.recv(t); !bytes.Equal(got, topo.Tag(sent, 0x8100, 10)) {
		t.Errorf("access to trunk: the trunk got\n% x\nwant it tagged 10", got)
	}
	back := frame(macA, macB, 0, 0, 60)
	qb.send(t, topo.Tag(back, 0x8100, 3<<13|10))
	if got := qa.recv(t); !bytes.Equal(got, back) {
		t.Errorf("trunk to access: the access port got\n% x\nwant\n% x", got, back)
	}
	if s := e.stats(e.a); s.Packets != 1 {
		t.Errorf("access port: %d forwarded in the kernel, want 1", s.Packets)
	}
	if s := e.stats(e.b); s.Packets != 1 {
		t.Errorf("trunk port: %d forwarded in the kernel, want 1", s.Packets)
	}
}

// wire is a packet socket on the far end of a port's veth.
type wire struct{ fd int }

func openWire(t *testing.T, ifname string) *wire {
	t.Helper()
	fd, err := netns.OpenPacket(ifname, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &wire{fd: fd}
}

func (w *wire) send(t *testing.T, f []byte) {
	t.Helper()
	if _, err := unix.Write(w.fd, f); err != nil {
		t.Fatal(err)
	}
}

// recv returns the next frame, with the tag the kernel reports out of band
// put back.
func (w *wire) recv(t *testing.T) []byte {
	t.Helper()
	buf := make([]byte, 2048)
	oob := make([]byte, unix.CmsgSpace(20)) // struct tpacket_auxdata
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		unix.Poll(pfd, 100)
		n, oobn, _, _, err := unix.Recvmsg(w.fd, buf, oob, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		f := append([]byte(nil), buf[:n]...)
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 20 &&
				binary.NativeEndian.Uint32(m.Data)&unix.TP_STATUS_VLAN_VALID != 0 {
				f = topo.Tag(f, binary.NativeEndian.Uint16(m.Data[18:]), binary.NativeEndian.Uint16(m.Data[16:]))
			}
		}
		return f
	}
	t.Fatal("no frame within 2s")
	return nil
}

// policyEntries lists a port's entries in the VLAN and address maps.
func (e *env) policyEntries(ifindex int) []string {
	e.t.Helper()
	var (
		out []string
		vk  xswitchVlanKey
		ak  xswitchAddrKey
		v   uint32
	)
	for it := e.fp.objs.XsVlans.Iterate(); it.Next(&vk, &v); {
		if vk.Ifindex == uint32(ifindex) {
			out = append(out, fmt.Sprintf("vlan %d", vk.Vid))
		}
	}
	for it := e.fp.objs.XsAllowed.Iterate(); it.Next(&ak, &v); {
		if ak.Ifindex == uint32(ifindex) {
			a, _ := netip.AddrFromSlice(ak.Addr[:16])
			if ak.Family == addrIPv4 {
				a, _ = netip.AddrFromSlice(ak.Addr[:4])
			}
			out = append(out, netip.PrefixFrom(a, int(ak.Prefixlen)-40).String())
		}
	}
	slices.Sort(out)
	return out
}

func (e *env) portEntry(ifindex int) xswitchPort {
	e.t.Helper()
	var v xswitchPort
	if err := e.fp.objs.XsPorts.Lookup(uint32(ifindex), &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// TestSetPolicy checks the map entries of a port's policy through
// AttachPort, SetPolicy, Refresh and DetachPort.
func TestSetPolicy(t *testing.T) {
	e := newEnv(t)
	allowed, _ := policy.ParseAllowed("10.0.0.1, 2001:db8::/64")
	trunk := policy.Policy{VLAN: policy.TrunkVLANs(0, 10, 20), AntiSpoof: true, MAC: macA, Allowed: allowed}
	port := Port{Name: "pa", Index: e.a, Bridge: bridge1, MTU: 1500, Mode: ModeTC, Kind: "veth", Policy: trunk}
	if _, err := e.fp.AttachPort(port); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1/32", "2001:db8::/64", policy.LinkLocal(macA).String() + "/128", "vlan 10", "vlan 20"}
	slices.Sort(want)
	if got := e.policyEntries(e.a); !slices.Equal(got, want) {
		t.Errorf("attached: entries %q, want %q", got, want)
	}
	if v := e.portEntry(e.a); v.VlanMode != uint8(policy.Trunk) || v.Pvid != 0 || v.Flags&(portAntiSpoof|portIsolated) != portAntiSpoof || !bytes.Equal(v.Mac[:], macA) {
		t.Errorf("attached: port entry %+v", v)
	}

	access := policy.Policy{VLAN: policy.AccessVLAN(5), Isolated: true}
	if err := e.fp.SetPolicy(e.a, access); err != nil {
		t.Fatal(err)
	}
	if got := e.policyEntries(e.a); len(got) != 0 {
		t.Errorf("access: entries %q left", got)
	}
	check := func(when string) {
		t.Helper()
		if v := e.portEntry(e.a); v.VlanMode != uint8(policy.Access) || v.Pvid != 5 || v.Flags&(portAntiSpoof|portIsolated) != portIsolated || v.MaxLen != 1500+ethHdrLen {
			t.Errorf("%s: port entry %+v", when, v)
		}
	}
	check("access")
	port.Policy = policy.Policy{}
	if err := e.fp.Refresh(port); err != nil {
		t.Fatal(err)
	}
	check("refreshed")
	if err := e.fp.SetPolicy(e.a, policy.Policy{AntiSpoof: true}); err == nil {
		t.Error("anti-spoofing without a MAC: no error")
	}
	check("refused")
	if err := e.fp.SetPolicy(e.c, access); err != nil {
		t.Errorf("a port not in the fast path: %v", err)
	}

	if err := e.fp.SetPolicy(e.a, policy.Policy{VLAN: policy.TrunkVLANs(0, 20, 30)}); err != nil {
		t.Fatal(err)
	}
	if got := e.policyEntries(e.a); !slices.Equal(got, []string{"vlan 20", "vlan 30"}) {
		t.Errorf("trunk 20,30: entries %q", got)
	}
	e.fp.DetachPort(e.a, "pa")
	if got := e.policyEntries(e.a); len(got) != 0 {
		t.Errorf("detached: entries %q left", got)
	}
}

// TestPolicyAfterRestart checks that a daemon that adopts pinned maps
// removes the entries an earlier run left: those of a port whose policy
// changed meanwhile, and those of a port that is gone.
func TestPolicyAfterRestart(t *testing.T) {
	e := newEnv(t)
	dir := fmt.Sprintf("/sys/fs/bpf/xs%d-policytest", os.Getpid())
	t.Cleanup(func() { Cleanup(dir) })
	load := func() {
		fp, err := Load(Options{PinDir: dir, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		e.fp = fp
	}
	attach := func(name string, idx int, vids ...uint16) {
		p := Port{Name: name, Index: idx, Bridge: bridge1, MTU: 1500, Mode: ModeTC, Kind: "veth", Policy: policy.Policy{VLAN: policy.TrunkVLANs(0, vids...)}}
		if _, err := e.fp.AttachPort(p); err != nil {
			t.Fatal(err)
		}
	}
	e.fp.Close()
	load()
	attach("pa", e.a, 10, 20)
	attach("pb", e.b, 10)
	e.fp.Close()
	load()
	defer e.fp.Close()
	attach("pa", e.a, 20)
	e.fp.Sweep()
	if got := e.policyEntries(e.a); !slices.Equal(got, []string{"vlan 20"}) {
		t.Errorf("port whose policy changed: entries %q", got)
	}
	if got := e.policyEntries(e.b); len(got) != 0 {
		t.Errorf("port that is gone: entries %q", got)
	}
}

// arpSender returns ARP frame f with sender hardware address mac.
func arpSender(f []byte, mac net.HardwareAddr) []byte {
	f = append([]byte(nil), f...)
	copy(f[14+8:14+14], mac)
	return f
}

package policy

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

var (
	guestMAC = net.HardwareAddr{0x00, 0x16, 0x3e, 0, 0, 1}
	otherMAC = net.HardwareAddr{0x00, 0x16, 0x3e, 0, 0, 2}
)

// eth returns an Ethernet frame from src with ethertype et and payload.
func eth(src net.HardwareAddr, et uint16, payload []byte) []byte {
	f := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, src...)
	f = binary.BigEndian.AppendUint16(f, et)
	return append(f, payload...)
}

func ipv4(src string) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	a := netip.MustParseAddr(src).As4()
	copy(h[12:], a[:])
	return h
}

func arp(sender string) []byte {
	h := []byte{0, 1, 0x08, 0x00, 6, 4, 0, 1}
	h = append(h, guestMAC...)
	a := netip.MustParseAddr(sender).As4()
	h = append(h, a[:]...)
	return append(h, make([]byte, 10)...)
}

// withSender returns ARP payload h with sender hardware address mac.
func withSender(h []byte, mac net.HardwareAddr) []byte {
	h = append([]byte(nil), h...)
	copy(h[8:14], mac)
	return h
}

// ipv6 returns an IPv6 header from src carrying next, then payload.
func ipv6(src string, next byte, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6], h[7] = next, 255
	a := netip.MustParseAddr(src).As16()
	copy(h[8:], a[:])
	copy(h[24:], []byte{0xff, 0x02, 15: 1})
	return append(h, payload...)
}

// icmp6 returns an ICMPv6 message of type typ with target (NS, NA).
func icmp6(typ byte, target string) []byte {
	m := make([]byte, 24)
	m[0] = typ
	a := netip.MustParseAddr(target).As16()
	copy(m[8:], a[:])
	return m
}

func TestSpoofed(t *testing.T) {
	p := &Policy{AntiSpoof: true, MAC: guestMAC,
		Allowed: []netip.Prefix{netip.MustParsePrefix("192.0.2.5/32"), netip.MustParsePrefix("2001:db8::/64")}}
	ll := LinkLocal(guestMAC).String()
	tagged := func(f []byte, tpid uint16) []byte {
		t := append([]byte{}, f[:12]...)
		t = binary.BigEndian.AppendUint16(t, tpid)
		t = binary.BigEndian.AppendUint16(t, 10)
		return append(t, f[12:]...)
	}
	hopByHop := append([]byte{58, 0, 5, 2, 0, 0, 1, 0}, icmp6(136, "2001:db8:1::1")...)
	fragment := func(off uint16, payload []byte) []byte {
		h := []byte{58, 0, 0, 0, 0, 0, 0, 1}
		binary.BigEndian.PutUint16(h[2:], off<<3)
		return append(h, payload...)
	}
	tests := []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"IPv4 from an allowed address", eth(guestMAC, 0x0800, ipv4("192.0.2.5")), false},
		{"IPv4 from another address", eth(guestMAC, 0x0800, ipv4("192.0.2.6")), true},
		{"IPv4 from another MAC", eth(otherMAC, 0x0800, ipv4("192.0.2.5")), true},
		{"DHCP from 0.0.0.0", eth(guestMAC, 0x0800, ipv4("0.0.0.0")), false},
		{"IPv4 header cut short", eth(guestMAC, 0x0800, ipv4("192.0.2.5")[:19]), true},
		{"ARP from an allowed address", eth(guestMAC, 0x0806, arp("192.0.2.5")), false},
		{"ARP probe", eth(guestMAC, 0x0806, arp("0.0.0.0")), false},
		{"ARP from another address", eth(guestMAC, 0x0806, arp("192.0.2.9")), true},
		{"ARP with another sender MAC", eth(guestMAC, 0x0806, withSender(arp("192.0.2.5"), otherMAC)), true},
		{"ARP cut short", eth(guestMAC, 0x0806, arp("192.0.2.5")[:27]), true},
		{"ARP of another protocol", eth(guestMAC, 0x0806, append([]byte{0, 1, 0x86, 0xdd}, arp("192.0.2.5")[4:]...)), true},
		{"IPv6 from an allowed prefix", eth(guestMAC, 0x86dd, ipv6("2001:db8::7", 17, nil)), false},
		{"IPv6 from another prefix", eth(guestMAC, 0x86dd, ipv6("2001:db8:1::7", 17, nil)), true},
		{"IPv6 from the MAC's link-local", eth(guestMAC, 0x86dd, ipv6(ll, 17, nil)), false},
		{"IPv6 from another link-local", eth(guestMAC, 0x86dd, ipv6("fe80::1", 17, nil)), true},
		{"IPv6 DAD from ::", eth(guestMAC, 0x86dd, ipv6("::", 58, icmp6(135, "2001:db8::9"))), false},
		{"IPv6 header cut short", eth(guestMAC, 0x86dd, ipv6("2001:db8::7", 17, nil)[:39]), true},
		{"NA for an allowed target", eth(guestMAC, 0x86dd, ipv6(ll, 58, icmp6(136, "2001:db8::9"))), false},
		{"NA for the link-local", eth(guestMAC, 0x86dd, ipv6(ll, 58, icmp6(136, ll))), false},
		{"NA for another target", eth(guestMAC, 0x86dd, ipv6(ll, 58, icmp6(136, "2001:db8:1::1"))), true},
		{"NA cut short", eth(guestMAC, 0x86dd, ipv6(ll, 58, icmp6(136, "2001:db8::9")[:23])), true},
		{"NA for another target behind hop-by-hop options", eth(guestMAC, 0x86dd, ipv6(ll, 0, hopByHop)), true},
		{"NA for another target in a first fragment", eth(guestMAC, 0x86dd, ipv6(ll, 44, fragment(0, icmp6(136, "2001:db8:1::1")))), true},
		{"a later fragment", eth(guestMAC, 0x86dd, ipv6(ll, 44, fragment(8, icmp6(136, "2001:db8:1::1")))), false},
		{"extension header past the end", eth(guestMAC, 0x86dd, ipv6(ll, 0, []byte{58, 9, 0, 0, 0, 0, 0, 0})), true},
		{"other ethertype", eth(guestMAC, 0x88b5, []byte("hello")), true},
		{"no ethertype", eth(guestMAC, 0x0800, nil)[:13], true},
		{"in-band tag skipped", tagged(eth(guestMAC, 0x0800, ipv4("192.0.2.5")), 0x8100), false},
		{"in-band tag skipped, spoofed", tagged(eth(guestMAC, 0x0800, ipv4("192.0.2.6")), 0x88a8), true},
		{"in-band tag cut short", tagged(eth(guestMAC, 0x0800, nil), 0x8100)[:16], true},
	}
	for _, tt := range tests {
		if got := p.Spoofed(tt.frame); got != tt.want {
			t.Errorf("%s: Spoofed = %v, want %v", tt.name, got, tt.want)
		}
	}
	off := &Policy{MAC: guestMAC}
	if off.Spoofed(eth(otherMAC, 0x88b5, nil)) {
		t.Error("Spoofed without AntiSpoof refused a frame")
	}
}

func TestSpoofedAllocs(t *testing.T) {
	p := &Policy{AntiSpoof: true, MAC: guestMAC, Allowed: []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}}
	f := eth(guestMAC, 0x86dd, ipv6(LinkLocal(guestMAC).String(), 58, icmp6(136, "2001:db8::9")))
	if n := testing.AllocsPerRun(100, func() { p.Spoofed(f) }); n != 0 {
		t.Errorf("%v allocations per frame, want 0", n)
	}
}

func FuzzSpoofed(f *testing.F) {
	p := &Policy{AntiSpoof: true, MAC: guestMAC,
		Allowed: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/64")}}
	f.Add(eth(guestMAC, 0x0800, ipv4("192.0.2.5")))
	f.Add(eth(guestMAC, 0x0806, arp("0.0.0.0")))
	f.Add(eth(guestMAC, 0x86dd, ipv6("::", 0, []byte{58, 0, 0, 0, 0, 0, 0, 0})))
	f.Add(eth(guestMAC, 0x86dd, ipv6(LinkLocal(guestMAC).String(), 44, []byte{58, 0, 0, 0, 0, 0, 0, 1})))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if p.Spoofed(frame) {
			return
		}
		// What passes comes from the port's MAC and is IPv4, ARP or IPv6.
		if len(frame) < 14 || string(frame[6:12]) != string(guestMAC) {
			t.Fatalf("frame %x passed", frame)
		}
	})
}

package control

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/policy"
)

// TraceRequest is the body of POST /v1/trace: a frame to trace, entering
// bridge Bridge on port In.
type TraceRequest struct {
	Bridge string `json:"bridge"`
	In     string `json:"in"`
	Src    string `json:"src"` // source MAC
	Dst    string `json:"dst"` // destination MAC
	// VLAN, if not 0, is the 802.1Q tag the frame carries on the wire.
	VLAN uint16 `json:"vlan,omitempty"`
	// Type is the frame's payload: "ipv4" (the default), "ipv6", "arp",
	// or an ethertype "0x88b5".
	Type string `json:"type,omitempty"`
	// SrcIP and DstIP are the addresses of an IP packet or an ARP request,
	// "" for 0.0.0.0 (or ::).
	SrcIP string `json:"src_ip,omitempty"`
	DstIP string `json:"dst_ip,omitempty"`
}

// Trace is the answer of POST /v1/trace: what the bridge's userspace
// forwarding does with the frame, and what the port's eBPF fast path does
// with it first, when the port has one.
type Trace struct {
	dataplane.Trace
	FastPath *FastPathTrace `json:"fast_path,omitempty"`
}

// TraceMAC and TraceEgress are parts of a Trace.
type (
	TraceMAC    = dataplane.TraceMAC
	TraceEgress = dataplane.TraceEgress
)

// FastPathTrace is the verdict of the eBPF program on the ingress port.
type FastPathTrace struct {
	Mode string `json:"mode"` // xdp or tc
	// Verdict is "redirect" (forwarded in the kernel to Egress), "punt"
	// (handed to userspace, which then does as the rest of the trace
	// says), "drop" or "pass".
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Egress  string `json:"egress,omitempty"`
}

// Frame builds the frame the request describes: Ethernet, with the tag if
// any, and a minimal header of its type, enough for anti-spoofing's checks.
// Errors name the field.
func (r TraceRequest) Frame() ([]byte, error) {
	src, err := net.ParseMAC(r.Src)
	if err != nil || len(src) != 6 {
		return nil, fmt.Errorf("%w: src %q: want an Ethernet address", ErrInvalid, r.Src)
	}
	dst, err := net.ParseMAC(r.Dst)
	if err != nil || len(dst) != 6 {
		return nil, fmt.Errorf("%w: dst %q: want an Ethernet address", ErrInvalid, r.Dst)
	}
	if r.VLAN > policy.MaxVID {
		return nil, fmt.Errorf("%w: vlan %d: want 0 (untagged) to %d", ErrInvalid, r.VLAN, policy.MaxVID)
	}
	f := append(append([]byte{}, dst...), src...)
	if r.VLAN != 0 {
		f = binary.BigEndian.AppendUint16(f, dataplane.EtherTypeVLAN)
		f = binary.BigEndian.AppendUint16(f, r.VLAN)
	}
	addr := func(field, s string, v6 bool) (netip.Addr, error) {
		if s == "" {
			if v6 {
				return netip.IPv6Unspecified(), nil
			}
			return netip.IPv4Unspecified(), nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Is6() != v6 || a.Is4In6() {
			fam := "IPv4"
			if v6 {
				fam = "IPv6"
			}
			return a, fmt.Errorf("%w: %s %q: want an %s address", ErrInvalid, field, s, fam)
		}
		return a, nil
	}
	typ := r.Type
	if typ == "" {
		typ = "ipv4"
	}
	switch typ {
	case "ipv4", "arp":
		s, err := addr("src_ip", r.SrcIP, false)
		if err != nil {
			return nil, err
		}
		d, err := addr("dst_ip", r.DstIP, false)
		if err != nil {
			return nil, err
		}
		s4, d4 := s.As4(), d.As4()
		if typ == "arp" {
			f = binary.BigEndian.AppendUint16(f, 0x0806)
			f = append(f, 0, 1, 0x08, 0, 6, 4, 0, 1) // Ethernet, IPv4, request
			f = append(append(append(append(f, src...), s4[:]...), make([]byte, 6)...), d4[:]...)
			return f, nil
		}
		f = binary.BigEndian.AppendUint16(f, 0x0800)
		h := []byte{0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0}
		return append(append(append(f, h...), s4[:]...), d4[:]...), nil
	case "ipv6":
		s, err := addr("src_ip", r.SrcIP, true)
		if err != nil {
			return nil, err
		}
		d, err := addr("dst_ip", r.DstIP, true)
		if err != nil {
			return nil, err
		}
		s16, d16 := s.As16(), d.As16()
		f = binary.BigEndian.AppendUint16(f, 0x86dd)
		f = append(f, 0x60, 0, 0, 0, 0, 0, 17, 64)
		return append(append(f, s16[:]...), d16[:]...), nil
	}
	et, err := strconv.ParseUint(typ, 0, 16)
	if err != nil || len(typ) < 2 || typ[:2] != "0x" || et < 0x600 {
		return nil, fmt.Errorf("%w: type %q: want ipv4, ipv6, arp or an ethertype such as 0x88b5", ErrInvalid, r.Type)
	}
	f = binary.BigEndian.AppendUint16(f, uint16(et))
	return append(f, make([]byte, 46)...), nil
}

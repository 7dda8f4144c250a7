// Package policy is what a port may send and receive beyond plain
// forwarding: its VLANs, whether it is isolated, and which source addresses
// it may use (anti-spoofing). The userspace dataplane, the eBPF fast path,
// the configuration and the control API share these types; each enforces
// or carries them in its own way.
package policy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// VLANMode says how a port carries VLANs.
type VLANMode uint8

// The VLAN modes.
const (
	// Transparent is the default: a frame keeps the tag it has. Inside
	// the bridge a tagged frame is in the VLAN of its tag, an untagged one
	// in VLAN 0; on egress a frame of VLAN v leaves tagged v, or untagged
	// when v is 0. A transparent port is a member of every VLAN.
	Transparent VLANMode = iota
	// Access: untagged on the wire, VLAN PVID inside the bridge. Tagged
	// frames that arrive are dropped (reason "vlan").
	Access
	// Trunk: tagged, with the VLANs of Trunk. An untagged frame is in the
	// native VLAN PVID, and frames of PVID leave untagged; with PVID 0
	// untagged frames are dropped. Frames of other VLANs are dropped on
	// ingress and never sent on egress.
	Trunk
)

func (m VLANMode) String() string {
	switch m {
	case Transparent:
		return "transparent"
	case Access:
		return "access"
	case Trunk:
		return "trunk"
	}
	return "VLANMode(" + strconv.Itoa(int(m)) + ")"
}

// MaxVID is the highest VLAN id a port may name (4095 is reserved).
const MaxVID = 4094

// VLANs is a port's VLAN membership.
type VLANs struct {
	Mode  VLANMode
	PVID  uint16   // Access: the VLAN; Trunk: the native VLAN, 0 for none
	Trunk []uint16 // Trunk: the tagged VLANs, sorted, without duplicates
}

// AccessVLAN returns access membership of VLAN vid.
func AccessVLAN(vid uint16) VLANs { return VLANs{Mode: Access, PVID: vid} }

// TrunkVLANs returns trunk membership of the given VLANs with native VLAN
// native (0 for none). The list is sorted and deduplicated.
func TrunkVLANs(native uint16, vids ...uint16) VLANs {
	t := slices.Clone(vids)
	slices.Sort(t)
	return VLANs{Mode: Trunk, PVID: native, Trunk: slices.Compact(t)}
}

// Validate checks the VLAN ids.
func (v VLANs) Validate() error {
	switch v.Mode {
	case Transparent:
		if v.PVID != 0 || len(v.Trunk) != 0 {
			return errors.New("a transparent port takes no VLAN ids")
		}
	case Access:
		if v.PVID < 1 || v.PVID > MaxVID {
			return fmt.Errorf("access VLAN %d: want 1 to %d", v.PVID, MaxVID)
		}
		if len(v.Trunk) != 0 {
			return errors.New("an access port takes no trunk VLANs")
		}
	case Trunk:
		if v.PVID > MaxVID {
			return fmt.Errorf("native VLAN %d: want 1 to %d", v.PVID, MaxVID)
		}
		if len(v.Trunk) == 0 && v.PVID == 0 {
			return errors.New("a trunk needs at least one VLAN")
		}
		for i, id := range v.Trunk {
			if id < 1 || id > MaxVID {
				return fmt.Errorf("trunk VLAN %d: want 1 to %d", id, MaxVID)
			}
			if i > 0 && id <= v.Trunk[i-1] {
				return errors.New("trunk VLANs must be sorted, without duplicates")
			}
		}
	default:
		return fmt.Errorf("unknown VLAN mode %d", v.Mode)
	}
	return nil
}

// Ingress returns the VLAN a frame that arrives on the port belongs to
// inside the bridge: tagged says whether it came with an 802.1Q tag, vid is
// that tag's VLAN id. ok is false when the port does not accept the frame.
func (v VLANs) Ingress(tagged bool, vid uint16) (inside uint16, ok bool) {
	switch v.Mode {
	case Access:
		return v.PVID, !tagged
	case Trunk:
		if !tagged {
			return v.PVID, v.PVID != 0
		}
		_, found := slices.BinarySearch(v.Trunk, vid)
		return vid, found && vid != 0
	}
	if !tagged {
		return 0, true
	}
	return vid, true
}

// Egress says whether a frame of VLAN vid (inside the bridge) leaves on the
// port, and whether it leaves tagged.
func (v VLANs) Egress(vid uint16) (member, tagged bool) {
	switch v.Mode {
	case Access:
		return vid == v.PVID, false
	case Trunk:
		if vid != 0 && vid == v.PVID {
			return true, false
		}
		_, found := slices.BinarySearch(v.Trunk, vid)
		return found && vid != 0, true
	}
	return true, vid != 0
}

// String is the form ParseVLANs reads: "transparent", "access 10",
// "trunk 20,30" or "trunk 20,30 native 10".
func (v VLANs) String() string {
	switch v.Mode {
	case Access:
		return "access " + strconv.Itoa(int(v.PVID))
	case Trunk:
		s := "trunk " + FormatVIDs(v.Trunk)
		if len(v.Trunk) == 0 {
			s = "trunk"
		}
		if v.PVID != 0 {
			s += " native " + strconv.Itoa(int(v.PVID))
		}
		return s
	}
	return v.Mode.String()
}

// ParseVLANs reads what String writes. "" is transparent; a bare number N
// is "access N".
func ParseVLANs(s string) (VLANs, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) == 1 && f[0] == "transparent" {
		return VLANs{}, nil
	}
	bad := fmt.Errorf("VLANs %q: want transparent, access N, or trunk LIST [native N]", s)
	var v VLANs
	switch {
	case len(f) == 1:
		id, err := ParseVID(f[0])
		if err != nil {
			return VLANs{}, bad
		}
		v = AccessVLAN(id)
	case f[0] == "access" && len(f) == 2:
		id, err := ParseVID(f[1])
		if err != nil {
			return VLANs{}, fmt.Errorf("VLANs %q: %w", s, err)
		}
		v = AccessVLAN(id)
	case f[0] == "trunk":
		rest := f[1:]
		var native uint16
		if n := len(rest); n >= 2 && rest[n-2] == "native" {
			id, err := ParseVID(rest[n-1])
			if err != nil {
				return VLANs{}, fmt.Errorf("VLANs %q: native: %w", s, err)
			}
			native, rest = id, rest[:n-2]
		}
		if len(rest) > 1 {
			return VLANs{}, bad
		}
		var ids []uint16
		if len(rest) == 1 {
			var err error
			if ids, err = ParseVIDs(rest[0]); err != nil {
				return VLANs{}, fmt.Errorf("VLANs %q: %w", s, err)
			}
		}
		v = TrunkVLANs(native, ids...)
	default:
		return VLANs{}, bad
	}
	if err := v.Validate(); err != nil {
		return VLANs{}, fmt.Errorf("VLANs %q: %w", s, err)
	}
	return v, nil
}

// ParseVID reads one VLAN id, 1 to MaxVID.
func ParseVID(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n < 1 || n > MaxVID {
		return 0, fmt.Errorf("VLAN %q: want a number from 1 to %d", s, MaxVID)
	}
	return uint16(n), nil
}

// ParseVIDs reads a comma-separated list of VLAN ids and ranges
// ("20,30,100-110"), sorted and deduplicated.
func ParseVIDs(s string) ([]uint16, error) {
	var out []uint16
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := ParseVID(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = ParseVID(hi); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("VLAN range %q: runs backwards", part)
			}
		}
		for id := a; id <= b; id++ {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// FormatVIDs writes ids as ParseVIDs reads them, with runs as ranges.
func FormatVIDs(ids []uint16) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(ids[i])))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(ids[j])))
		}
		i = j + 1
	}
	return b.String()
}

// Policy is what a port may do beyond plain forwarding.
type Policy struct {
	VLAN VLANs
	// Isolated: the port reaches only the bridge's ports that are not
	// isolated (the uplink, the host port, a router guest), never another
	// isolated port, as the kernel bridge's isolated flag.
	Isolated bool
	// AntiSpoof: frames must come from MAC; IPv4 packets and ARP must
	// have a sender in Allowed (or 0.0.0.0: DHCP and ARP probes), and ARP
	// the sender hardware address MAC; IPv6
	// packets and neighbour advertisements must come from Allowed or from
	// the link-local address derived from MAC (or ::, for duplicate
	// address detection). Everything else from the port is dropped
	// (reason "spoofed").
	AntiSpoof bool
	MAC       net.HardwareAddr
	Allowed   []netip.Prefix // a single address is a /32 or /128 prefix
}

// Validate checks a policy before it is applied.
func (p Policy) Validate() error {
	if err := p.VLAN.Validate(); err != nil {
		return err
	}
	if p.MAC != nil && (len(p.MAC) != 6 || p.MAC[0]&1 != 0) {
		return fmt.Errorf("MAC %s: want a unicast Ethernet address", p.MAC)
	}
	if p.AntiSpoof && p.MAC == nil {
		return errors.New("anti-spoofing needs the port's MAC")
	}
	for _, a := range p.Allowed {
		if !a.IsValid() || a.Addr().Zone() != "" {
			return fmt.Errorf("allowed address %s: not an address or prefix", a)
		}
	}
	return nil
}

// ParseAllowed reads addresses and prefixes separated by spaces or commas,
// as Xen's vif "ip" key holds them. A bare address is a /32 or /128.
func ParseAllowed(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("allowed address %q: not an IPv4 or IPv6 address or prefix", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// LinkLocal returns the IPv6 link-local address derived from mac (modified
// EUI-64), which a port with anti-spoofing may always use.
func LinkLocal(mac net.HardwareAddr) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	if len(mac) == 6 {
		a[8], a[9], a[10] = mac[0]^2, mac[1], mac[2]
		a[11], a[12] = 0xff, 0xfe
		a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	}
	return netip.AddrFrom16(a)
}

// AllowsAddr reports whether the port may send from address a.
func (p Policy) AllowsAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() && a == LinkLocal(p.MAC) {
		return true
	}
	for _, pr := range p.Allowed {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

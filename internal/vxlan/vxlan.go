// Package vxlan keeps kernel VXLAN devices that serve as tunnel ports of a
// bridge: the kernel encapsulates and decapsulates, the switch forwards to
// and from the device like any other port. A Device also holds the device's
// forwarding table: which remote VTEP a MAC lives behind, and the list of
// VTEPs a flood is replicated to (head-end replication).
//
// Devices are made without learning: the switch or a control plane (EVPN)
// fills the forwarding table, so the kernel does not guess it from the
// traffic it decapsulates. A Config can ask for learning where no control
// plane runs and a static flood list is all there is.
//
// The functions act on the network namespace of the calling OS thread.
package vxlan

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// DefaultPort is the IANA VXLAN UDP port, used when a Config sets none.
const DefaultPort = 4789

// Encapsulation overhead a guest frame carries on the underlay: outer IP
// header, UDP, VXLAN header and the inner Ethernet header.
const (
	Overhead4 = 20 + 8 + 8 + 14 // 50
	Overhead6 = 40 + 8 + 8 + 14 // 70
)

// MaxVNI is the largest VXLAN network identifier (24 bits).
const MaxVNI = 1<<24 - 1

// ownerAlias marks a device the switch created (IFLA_IFALIAS), so a later
// run knows it may delete it and an operator's device is never deleted.
const ownerAlias = "xswitch vxlan tunnel port"

// Config describes a VXLAN device.
type Config struct {
	Name     string     // interface name; "" means DefaultName(VNI)
	VNI      uint32     // 1..MaxVNI
	Local    netip.Addr // source VTEP address, on the underlay
	Port     uint16     // UDP destination port; 0 means DefaultPort
	Underlay string     // device the tunnel's packets leave by; "" lets routing choose
	MTU      int        // 0: the kernel's default (underlay MTU minus the overhead)
	Learning bool       // let the kernel learn remote MACs from received packets
}

// DefaultName is the name of a VXLAN device whose Config names none.
func DefaultName(vni uint32) string { return fmt.Sprintf("vxlan%d", vni) }

// Overhead returns the bytes encapsulation adds to a guest frame's IP MTU
// for a tunnel whose VTEPs have addr's family.
func Overhead(addr netip.Addr) int {
	if addr.Is6() && !addr.Is4In6() {
		return Overhead6
	}
	return Overhead4
}

// withDefaults fills in the name and port and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.VNI == 0 || c.VNI > MaxVNI {
		return c, fmt.Errorf("vxlan: VNI %d out of range 1..%d", c.VNI, MaxVNI)
	}
	if c.Name == "" {
		c.Name = DefaultName(c.VNI)
	}
	if len(c.Name) >= unix.IFNAMSIZ {
		return c, fmt.Errorf("vxlan: name %q longer than %d bytes", c.Name, unix.IFNAMSIZ-1)
	}
	if !c.Local.IsValid() || c.Local.IsUnspecified() || c.Local.IsMulticast() {
		return c, fmt.Errorf("vxlan %s: local address %v is not a unicast address", c.Name, c.Local)
	}
	c.Local = c.Local.Unmap()
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.MTU < 0 {
		return c, fmt.Errorf("vxlan %s: MTU %d is negative", c.Name, c.MTU)
	}
	return c, nil
}

// Device is a kernel VXLAN device.
type Device struct {
	name     string
	ifindex  int
	vni      uint32
	local    netip.Addr // invalid when the device has no fixed source address
	port     uint16
	underlay string // "" when the device has no underlay device
	mtu      int
	learning bool
	owned    bool // created by the switch (carries ownerAlias)
}

func (d *Device) Name() string     { return d.name }
func (d *Device) VNI() uint32      { return d.vni }
func (d *Device) Ifindex() int     { return d.ifindex }
func (d *Device) Port() uint16     { return d.port }
func (d *Device) Underlay() string { return d.underlay }
func (d *Device) MTU() int         { return d.mtu }
func (d *Device) Learning() bool   { return d.learning }

// Local is the source VTEP address; invalid when the device has none.
func (d *Device) Local() netip.Addr { return d.local }

// Owned reports whether the switch created the device (now or in an
// earlier run), and so may delete it.
func (d *Device) Owned() bool { return d.owned }

// Overhead is the bytes encapsulation adds on this device's underlay.
func (d *Device) Overhead() int { return Overhead(d.local) }

// Open returns the existing VXLAN device name.
func Open(name string) (*Device, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("vxlan %s: %w", name, err)
	}
	return fromLink(l)
}

func fromLink(l netlink.Link) (*Device, error) {
	a := l.Attrs()
	v, ok := l.(*netlink.Vxlan)
	if !ok {
		return nil, fmt.Errorf("vxlan %s: is a %s device, not vxlan", a.Name, l.Type())
	}
	if v.FlowBased {
		return nil, fmt.Errorf("vxlan %s: is a collect-metadata (external) device, which has no VNI of its own", a.Name)
	}
	d := &Device{
		name:     a.Name,
		ifindex:  a.Index,
		vni:      uint32(v.VxlanId),
		port:     uint16(v.Port),
		mtu:      a.MTU,
		learning: v.Learning,
		owned:    a.Alias == ownerAlias,
	}
	if ip, ok := netip.AddrFromSlice(v.SrcAddr); ok {
		d.local = ip.Unmap()
	}
	if v.VtepDevIndex != 0 {
		if u, err := netlink.LinkByIndex(v.VtepDevIndex); err == nil {
			d.underlay = u.Attrs().Name
		}
	}
	return d, nil
}

// Create makes the device cfg describes exist and be up. A device of that
// name that matches cfg is adopted (its MTU set to cfg's); one the switch
// created that no longer matches is replaced; any other interface of that
// name is an error, and left alone.
func Create(cfg Config) (*Device, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if l, err := netlink.LinkByName(cfg.Name); err == nil {
		d, err := fromLink(l)
		if err != nil {
			return nil, fmt.Errorf("%w; refusing to adopt it", err)
		}
		diff := d.differs(cfg)
		if diff == "" {
			return d, d.adopt(l, cfg)
		}
		if !d.owned {
			return nil, fmt.Errorf("vxlan %s: exists with %s and was not created by xswitch; refusing to change it", cfg.Name, diff)
		}
		if err := netlink.LinkDel(l); err != nil {
			return nil, fmt.Errorf("vxlan %s: replacing (it has %s): %w", cfg.Name, diff, err)
		}
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, fmt.Errorf("vxlan %s: %w", cfg.Name, err)
	}
	return create(cfg)
}

// differs names what of cfg the device does not match, or returns "".
func (d *Device) differs(cfg Config) string {
	switch {
	case d.vni != cfg.VNI:
		return fmt.Sprintf("VNI %d, not %d", d.vni, cfg.VNI)
	case d.local != cfg.Local:
		return fmt.Sprintf("local address %v, not %v", d.local, cfg.Local)
	case d.port != cfg.Port:
		return fmt.Sprintf("port %d, not %d", d.port, cfg.Port)
	case cfg.Underlay != "" && d.underlay != cfg.Underlay:
		return fmt.Sprintf("underlay %q, not %q", d.underlay, cfg.Underlay)
	case d.learning != cfg.Learning:
		return fmt.Sprintf("learning %v, not %v", d.learning, cfg.Learning)
	}
	return ""
}

func (d *Device) adopt(l netlink.Link, cfg Config) error {
	if cfg.MTU != 0 && d.mtu != cfg.MTU {
		if err := netlink.LinkSetMTU(l, cfg.MTU); err != nil {
			return fmt.Errorf("vxlan %s: MTU %d: %w", d.name, cfg.MTU, err)
		}
		d.mtu = cfg.MTU
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("vxlan %s: up: %w", d.name, err)
	}
	return nil
}

func create(cfg Config) (_ *Device, err error) {
	v := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: cfg.Name, MTU: cfg.MTU},
		VxlanId:   int(cfg.VNI),
		SrcAddr:   cfg.Local.AsSlice(),
		Port:      int(cfg.Port),
		Learning:  cfg.Learning,
	}
	if cfg.Underlay != "" {
		u, err := netlink.LinkByName(cfg.Underlay)
		if err != nil {
			return nil, fmt.Errorf("vxlan %s: underlay: %w", cfg.Name, err)
		}
		v.VtepDevIndex = u.Attrs().Index
	}
	if err := netlink.LinkAdd(v); err != nil {
		if errors.Is(err, unix.EEXIST) {
			// Lost a race with another creator: adopt what it made.
			return Create(cfg)
		}
		return nil, fmt.Errorf("vxlan %s: create (VNI %d, local %v, port %d): %w", cfg.Name, cfg.VNI, cfg.Local, cfg.Port, err)
	}
	defer func() {
		if err != nil {
			netlink.LinkDel(v)
		}
	}()
	if err := netlink.LinkSetAlias(v, ownerAlias); err != nil {
		return nil, fmt.Errorf("vxlan %s: alias: %w", cfg.Name, err)
	}
	// A switch port sends only what it forwards: no IPv6 link-local
	// address, so no router solicitations or MLD reports into the tunnel.
	err = netlink.LinkSetIP6AddrGenMode(v, nl.IN6_ADDR_GEN_MODE_NONE)
	if err != nil && !errors.Is(err, unix.EAFNOSUPPORT) && !errors.Is(err, unix.EOPNOTSUPP) {
		return nil, fmt.Errorf("vxlan %s: addrgenmode: %w", cfg.Name, err)
	}
	if err := netlink.LinkSetUp(v); err != nil {
		return nil, fmt.Errorf("vxlan %s: up: %w", cfg.Name, err)
	}
	return Open(cfg.Name)
}

// Delete removes the device. Callers delete only devices they own.
func (d *Device) Delete() error {
	l, err := netlink.LinkByIndex(d.ifindex)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vxlan %s: %w", d.name, err)
	}
	if l.Attrs().Name != d.name {
		return nil // gone, and the index reused
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("vxlan %s: delete: %w", d.name, err)
	}
	return nil
}

// RemoveOwned deletes every VXLAN device of the namespace that the switch
// created, and returns their names; the operator's devices stay.
func RemoveOwned() ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("vxlan: list links: %w", err)
	}
	var (
		removed []string
		errs    []error
	)
	for _, l := range links {
		if _, ok := l.(*netlink.Vxlan); !ok || l.Attrs().Alias != ownerAlias {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("vxlan %s: delete: %w", l.Attrs().Name, err))
			continue
		}
		removed = append(removed, l.Attrs().Name)
	}
	return removed, errors.Join(errs...)
}

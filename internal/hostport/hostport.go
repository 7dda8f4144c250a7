// Package hostport keeps host ports: veth pairs that give dom0's own stack
// an interface on a bridge. The dom0 end carries the configured name (eth0)
// and dom0's addresses; the switch end, Peer(name), is attached to the bridge
// like any other port. A pair outlives the daemon that made it, so dom0 keeps
// its addresses and its learned unicast through a restart; only Remove
// deletes it.
//
// The functions act on the network namespace of the calling OS thread.
package hostport

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Spec is a host port.
type Spec struct {
	Name   string           // dom0's interface, e.g. "eth0"
	Bridge string           // the bridge it is a port of
	MAC    net.HardwareAddr // nil: keep an existing one's; a new one gets a random local MAC
	MTU    int              // 0: keep an existing one's; a new one gets 1500
}

// The aliases (IFLA_IFALIAS) that mark both ends, so Find and operators
// (ip link) recognise them: "xswitch host port of xenbr0" on dom0's end,
// "xswitch host port eth0 of xenbr0 (switch end)" on the other.
const (
	aliasPrefix = "xswitch host port "
	aliasOf     = "of "
	peerSuffix  = " (switch end)"
)

func alias(bridge string) string { return aliasPrefix + aliasOf + bridge }

func peerAlias(name, bridge string) string {
	return aliasPrefix + name + " " + aliasOf + bridge + peerSuffix
}

// bridgeOf returns the bridge named by dom0's end's alias.
func bridgeOf(a string) (string, bool) {
	b, ok := strings.CutPrefix(a, aliasPrefix+aliasOf)
	return b, ok && b != ""
}

const (
	peerPrefix = "xhp-"
	maxIfname  = unix.IFNAMSIZ - 1
)

// Peer returns the name of the switch end of host port name: "xhp-" and the
// name when that fits in an interface name, else "xhp-", the name's start
// and a hash of all of it.
func Peer(name string) string {
	if len(peerPrefix)+len(name) <= maxIfname {
		return peerPrefix + name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	sum := fmt.Sprintf("%04x", h.Sum32()&0xffff)
	keep := maxIfname - len(peerPrefix) - 1 - len(sum)
	return peerPrefix + name[:keep] + "-" + sum
}

// DefaultMTU is a new host port's MTU when the Spec sets none.
const DefaultMTU = 1500

// Ensure makes the host port s exist and be up: it creates the pair when
// name is free and adopts it when present, setting the MAC and MTU s asks
// for. It is idempotent, and two concurrent calls agree (the loser of the
// race adopts). An interface called s.Name that is not a host port is an
// error, and left alone.
func Ensure(s Spec) (created bool, err error) {
	if err := s.check(); err != nil {
		return false, err
	}
	l, err := netlink.LinkByName(s.Name)
	if err != nil && !isNotFound(err) {
		return false, fmt.Errorf("host port %s: %w", s.Name, err)
	}
	if l == nil {
		created, err = create(s)
		if err != nil {
			return false, err
		}
		if l, err = netlink.LinkByName(s.Name); err != nil {
			return false, fmt.Errorf("host port %s: look up after creating: %w", s.Name, err)
		}
	}
	peer, err := pairOf(l)
	if err != nil {
		return false, err
	}
	if err := adopt(s, l, peer); err != nil {
		return false, err
	}
	return created, nil
}

func (s Spec) check() error {
	if s.Name == "" || len(s.Name) > maxIfname {
		return fmt.Errorf("host port %q: want a name of 1 to %d bytes", s.Name, maxIfname)
	}
	if s.Bridge == "" {
		return fmt.Errorf("host port %s: no bridge", s.Name)
	}
	if s.MAC != nil && len(s.MAC) != 6 {
		return fmt.Errorf("host port %s: MAC %s is not an Ethernet address", s.Name, s.MAC)
	}
	if s.MTU < 0 {
		return fmt.Errorf("host port %s: MTU %d", s.Name, s.MTU)
	}
	return nil
}

// create adds the pair. created is false when a concurrent call made it
// first.
func create(s Spec) (created bool, err error) {
	mtu := s.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	v := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: s.Name, MTU: mtu, HardwareAddr: s.MAC, Alias: alias(s.Bridge)},
		PeerName:  Peer(s.Name),
		PeerMTU:   uint32(mtu),
	}
	err = netlink.LinkAdd(v)
	if errors.Is(err, unix.EEXIST) {
		if _, lerr := netlink.LinkByName(s.Name); lerr == nil {
			return false, nil
		}
		return false, fmt.Errorf("host port %s: cannot create it: its switch end's name %s is taken by another interface", s.Name, Peer(s.Name))
	}
	if err != nil {
		return false, fmt.Errorf("host port %s: create veth pair with %s: %w", s.Name, Peer(s.Name), err)
	}
	return true, nil
}

// pairOf returns the switch end of l, or an error saying why l is not a
// host port.
func pairOf(l netlink.Link) (netlink.Link, error) {
	a := l.Attrs()
	if _, ok := l.(*netlink.Veth); !ok {
		return nil, fmt.Errorf("host port %s: an interface of that name exists and is not a host port: it is a %s, not a veth; rename or remove it, or choose another name", a.Name, l.Type())
	}
	if a.NetNsID >= 0 {
		return nil, fmt.Errorf("host port %s: an interface of that name exists and is not a host port: a veth whose peer is in another namespace", a.Name)
	}
	peer, err := netlink.LinkByIndex(a.ParentIndex)
	if err != nil {
		return nil, fmt.Errorf("host port %s: look up its peer (ifindex %d): %w", a.Name, a.ParentIndex, err)
	}
	if want := Peer(a.Name); peer.Attrs().Name != want {
		return nil, fmt.Errorf("host port %s: an interface of that name exists and is not a host port: a veth whose peer is %s, not %s", a.Name, peer.Attrs().Name, want)
	}
	return peer, nil
}

// adopt brings an existing pair to s: aliases, MAC, MTU of both ends, no
// IPv6 address on the switch end, both ends up.
func adopt(s Spec, l, peer netlink.Link) error {
	a, pa := l.Attrs(), peer.Attrs()
	fail := func(what string, err error) error {
		return fmt.Errorf("host port %s: %s: %w", s.Name, what, err)
	}
	if want := alias(s.Bridge); a.Alias != want {
		if err := netlink.LinkSetAlias(l, want); err != nil {
			return fail("set alias", err)
		}
	}
	if want := peerAlias(s.Name, s.Bridge); pa.Alias != want {
		if err := netlink.LinkSetAlias(peer, want); err != nil {
			return fail("set alias of "+pa.Name, err)
		}
	}
	if s.MAC != nil && !equalMAC(a.HardwareAddr, s.MAC) {
		if err := netlink.LinkSetHardwareAddr(l, s.MAC); err != nil {
			return fail("set MAC "+s.MAC.String(), err)
		}
	}
	mtu := s.MTU
	if mtu == 0 {
		mtu = a.MTU
	}
	if a.MTU != mtu {
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return fail(fmt.Sprintf("set MTU %d", mtu), err)
		}
	}
	// The switch end forwards what dom0 sends and must take frames as
	// long as dom0's end can send.
	if pa.MTU != mtu {
		if err := netlink.LinkSetMTU(peer, mtu); err != nil {
			return fail(fmt.Sprintf("set MTU %d of %s", mtu, pa.Name), err)
		}
	}
	if pa.Flags&net.FlagUp == 0 {
		// The switch end is a wire, not a host: without an IPv6 address
		// its stack sends nothing into the bridge. Only settable while
		// down; a kernel without IPv6 has nothing to switch off.
		if err := netlink.LinkSetIP6AddrGenMode(peer, 1); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) && !errors.Is(err, unix.EOPNOTSUPP) {
			return fail("switch off IPv6 addresses of "+pa.Name, err)
		}
		if err := netlink.LinkSetUp(peer); err != nil {
			return fail("set "+pa.Name+" up", err)
		}
	}
	if a.Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(l); err != nil {
			return fail("set up", err)
		}
	}
	return nil
}

func equalMAC(a, b net.HardwareAddr) bool { return string(a) == string(b) }

// Remove deletes host port name and its switch end. A missing one is not
// an error; an interface of that name that is not a host port is, and is
// left alone.
func Remove(name string) error {
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host port %s: %w", name, err)
	}
	if _, err := pairOf(l); err != nil {
		return fmt.Errorf("refusing to remove it: %w", err)
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("host port %s: delete: %w", name, err)
	}
	return nil
}

// Find returns every host port of the namespace: the veths whose alias
// names a bridge and whose peer is their switch end. MAC and MTU are the
// current ones.
func Find() ([]Spec, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("host ports: list links: %w", err)
	}
	var out []Spec
	for _, l := range links {
		a := l.Attrs()
		bridge, ok := bridgeOf(a.Alias)
		if !ok {
			continue
		}
		if _, err := pairOf(l); err != nil {
			continue
		}
		out = append(out, Spec{Name: a.Name, Bridge: bridge, MAC: a.HardwareAddr, MTU: a.MTU})
	}
	return out, nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

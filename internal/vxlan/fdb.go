package vxlan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// floodMAC is the forwarding-table key of the flood list: a frame with no
// entry of its own (broadcast, multicast, unknown unicast) is sent to every
// VTEP listed under it.
var floodMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

// Entry is one row of the device's forwarding table.
type Entry struct {
	MAC  net.HardwareAddr // 00:00:00:00:00:00 for the flood list
	VTEP netip.Addr
}

// Flood reports whether e is a flood-list entry.
func (e Entry) Flood() bool { return isZero(e.MAC) }

func isZero(mac net.HardwareAddr) bool {
	for _, b := range mac {
		if b != 0 {
			return false
		}
	}
	return len(mac) == 6
}

func (d *Device) neigh(mac net.HardwareAddr, vtep netip.Addr) *netlink.Neigh {
	n := &netlink.Neigh{
		LinkIndex:    d.ifindex,
		Family:       unix.AF_BRIDGE,
		State:        unix.NUD_NOARP | unix.NUD_PERMANENT,
		Flags:        netlink.NTF_SELF,
		HardwareAddr: mac,
	}
	if vtep.IsValid() {
		n.IP = vtep.Unmap().AsSlice()
	}
	return n
}

func checkMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return fmt.Errorf("%v is not an Ethernet address", mac)
	}
	if isZero(mac) || mac[0]&1 != 0 {
		return fmt.Errorf("%v is not a unicast address", mac)
	}
	return nil
}

func checkVTEP(vtep netip.Addr) error {
	if !vtep.IsValid() || vtep.IsUnspecified() || vtep.IsMulticast() {
		return fmt.Errorf("VTEP %v is not a unicast address", vtep)
	}
	return nil
}

// AddRemoteMAC sends frames for mac to vtep, replacing where mac was sent
// before (bridge fdb replace mac dev d dst vtep self permanent).
func (d *Device) AddRemoteMAC(mac net.HardwareAddr, vtep netip.Addr) error {
	if err := checkMAC(mac); err != nil {
		return fmt.Errorf("vxlan %s: remote MAC: %w", d.name, err)
	}
	if err := checkVTEP(vtep); err != nil {
		return fmt.Errorf("vxlan %s: remote MAC %v: %w", d.name, mac, err)
	}
	if err := netlink.NeighSet(d.neigh(mac, vtep)); err != nil {
		return fmt.Errorf("vxlan %s: remote MAC %v via %v: %w", d.name, mac, vtep, err)
	}
	return nil
}

// DelRemoteMAC forgets where mac lives; frames for it are flooded again.
// Forgetting an unknown MAC is not an error.
func (d *Device) DelRemoteMAC(mac net.HardwareAddr) error {
	if err := checkMAC(mac); err != nil {
		return fmt.Errorf("vxlan %s: remote MAC: %w", d.name, err)
	}
	// The kernel wants the VTEP too (netlink always sends a destination),
	// so delete each row the MAC has.
	es, err := d.FDB()
	if err != nil {
		return err
	}
	for _, e := range es {
		if !slices.Equal(e.MAC, mac) {
			continue
		}
		if err := netlink.NeighDel(d.neigh(mac, e.VTEP)); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("vxlan %s: delete remote MAC %v: %w", d.name, mac, err)
		}
	}
	return nil
}

// AddFloodVTEP adds vtep to the flood list (bridge fdb append
// 00:00:00:00:00:00 dev d dst vtep self permanent). Adding a listed VTEP
// again is not an error.
func (d *Device) AddFloodVTEP(vtep netip.Addr) error {
	if err := checkVTEP(vtep); err != nil {
		return fmt.Errorf("vxlan %s: flood list: %w", d.name, err)
	}
	if err := netlink.NeighAppend(d.neigh(floodMAC, vtep)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("vxlan %s: add %v to the flood list: %w", d.name, vtep, err)
	}
	return nil
}

// DelFloodVTEP removes vtep from the flood list. Removing an unlisted VTEP
// is not an error.
func (d *Device) DelFloodVTEP(vtep netip.Addr) error {
	if err := checkVTEP(vtep); err != nil {
		return fmt.Errorf("vxlan %s: flood list: %w", d.name, err)
	}
	if err := netlink.NeighDel(d.neigh(floodMAC, vtep)); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("vxlan %s: remove %v from the flood list: %w", d.name, vtep, err)
	}
	return nil
}

// FDB lists the device's forwarding table: remote MACs and the flood list
// (a flood entry per VTEP). Entries without a VTEP (the device's own MAC,
// entries the bridge layer above added) are left out.
func (d *Device) FDB() ([]Entry, error) {
	ns, err := netlink.NeighList(d.ifindex, unix.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("vxlan %s: fdb: %w", d.name, err)
	}
	var out []Entry
	for _, n := range ns {
		if n.LinkIndex != d.ifindex || n.IP == nil {
			continue
		}
		vtep, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		out = append(out, Entry{MAC: n.HardwareAddr, VTEP: vtep.Unmap()})
	}
	return out, nil
}

// FloodVTEPs lists the flood list.
func (d *Device) FloodVTEPs() ([]netip.Addr, error) {
	es, err := d.FDB()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, e := range es {
		if e.Flood() {
			out = append(out, e.VTEP)
		}
	}
	return out, nil
}

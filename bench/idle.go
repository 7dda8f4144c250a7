package main

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo"
)

// idleGuests are guests that only exist, many of them: veth pairs whose
// host ends (vifN.0) join the switch and whose guest ends (gN, up, MAC
// topo.MAC(N), no address, IPv6 off) all sit in one shared namespace.
// A namespace per guest would make a thousand vifs take minutes to build
// and tear down; one shared namespace takes a second or two.
type idleGuests struct {
	// ns is the shared namespace; closing it removes the guest ends, and
	// with them the vifs.
	ns *topo.Host
	// vifs are the host ends' names, ifindex the guest ends' indexes in
	// ns, and macs their addresses, in guest order.
	vifs    []string
	ifindex []int
	macs    []net.HardwareAddr
	// guests are their numbers (the N in vifN.0).
	guests []int
}

// addIdleGuests adds n idle guests numbered first, first+1, … to host h.
// On error, everything it made is removed.
func addIdleGuests(ctx context.Context, h *topo.Host, first, n int) (_ *idleGuests, err error) {
	ns, err := topo.NewHost("idle")
	if err != nil {
		return nil, err
	}
	ig := &idleGuests{ns: ns}
	defer func() {
		if err != nil {
			ig.close()
		}
	}()
	hostNL, closeHost, err := netlinkAt(h.NSPath())
	if err != nil {
		return nil, err
	}
	defer closeHost()
	idleNL, closeIdle, err := netlinkAt(ns.NSPath())
	if err != nil {
		return nil, err
	}
	defer closeIdle()
	idleFD, err := unix.Open(ns.NSPath(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ns.NSPath(), err)
	}
	defer unix.Close(idleFD)

	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		g := first + i
		vif, peer, mac := fmt.Sprintf("vif%d.0", g), fmt.Sprintf("g%d", g), topo.MAC(g)
		// Up from birth: one request per pair instead of two.
		err := hostNL.LinkAdd(&netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: vif, Flags: net.FlagUp},
			PeerName:         peer,
			PeerHardwareAddr: mac,
			PeerNamespace:    netlink.NsFd(idleFD),
		})
		if err != nil {
			return nil, fmt.Errorf("add veth %s (peer %s): %w", vif, peer, err)
		}
		l, err := idleNL.LinkByName(peer)
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", peer, err)
		}
		if err := idleNL.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("set %s up: %w", peer, err)
		}
		ig.vifs = append(ig.vifs, vif)
		ig.ifindex = append(ig.ifindex, l.Attrs().Index)
		ig.macs = append(ig.macs, mac)
		ig.guests = append(ig.guests, g)
	}
	return ig, nil
}

// netlinkAt opens an rtnetlink handle inside the namespace mounted at path.
func netlinkAt(path string) (*netlink.Handle, func(), error) {
	ns, err := vnetns.GetFromPath(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return nl, func() { nl.Close(); ns.Close() }, nil
}

// close removes the shared namespace; the kernel then deletes the veths.
func (ig *idleGuests) close() error {
	if ig == nil {
		return nil
	}
	return ig.ns.Close()
}

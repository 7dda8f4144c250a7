package topo

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// AddNIC gives the guest another network interface, as a domU with several
// vifs has (the firewall guest: vif1.0 on one bridge, vif1.2 on another):
// ifname (eth1, …) in the guest is the peer of a veth whose end vif is in
// the host, up and without address. ifname gets mac (nil: the kernel picks
// one) and addr (invalid: none), comes up, and its MAC is returned. Remove
// deletes the veth with the guest's own.
func (g *Guest) AddNIC(vif, ifname string, mac net.HardwareAddr, addr netip.Prefix) (net.HardwareAddr, error) {
	g.mu.Lock()
	if g.removed {
		g.mu.Unlock()
		return nil, fmt.Errorf("topo: add %s to netns %s: %w", ifname, g.name, ErrRemoved)
	}
	g.nics = append(g.nics, vif)
	g.mu.Unlock()

	created := false
	err := g.host.withNetlink("add veth "+vif+" (peer "+ifname+" in netns "+g.name+")", func(nl *netlink.Handle) error {
		if err := addVeth(nl, vif, nil, ifname, mac, g); err != nil {
			return err
		}
		created = true
		l, err := nl.LinkByName(vif)
		if err != nil {
			return err
		}
		return nl.LinkSetUp(l)
	})
	if err != nil {
		if !created {
			// A link of that name that is not ours stays.
			g.forgetNIC(vif)
		}
		return nil, err
	}
	got, err := g.configureLink(ifname, addr, mac)
	if err != nil {
		return nil, err
	}
	return got, nil
}

// forgetNIC drops vif from the links Remove deletes.
func (g *Guest) forgetNIC(vif string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, v := range g.nics {
		if v == vif {
			g.nics = append(g.nics[:i], g.nics[i+1:]...)
			return
		}
	}
}

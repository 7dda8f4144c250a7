package takeover

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/hostport"
)

// The steps and reads that the NIC and the kernel bridge takeovers, and
// their releases, share.

// dom0Net is what a takeover or release moves: the addresses of a link and
// the routes through it.
type dom0Net struct {
	addrs  []netlink.Addr
	routes []netlink.Route
}

// dom0NetOf returns the addresses and routes of link idx.
func dom0NetOf(idx int) (dom0Net, error) {
	addrs, err := addrsOf(idx)
	if err != nil {
		return dom0Net{}, err
	}
	routes, err := routesOf(idx)
	if err != nil {
		return dom0Net{}, err
	}
	return dom0Net{addrs: addrs, routes: routes}, nil
}

// result is the result of moving n, before its steps run.
func (n dom0Net) result(rec Record) Result {
	res := Result{Record: rec}
	for _, ad := range n.addrs {
		res.Addresses = append(res.Addresses, addrString(ad))
	}
	for _, r := range n.routes {
		res.Routes = append(res.Routes, routeString(r))
	}
	return res
}

// addSteps are the two steps that add n's addresses to link *to and its
// routes, which went through link from, through *to; *to is read when they
// run, as an earlier step may make the link. Each undo deletes what its
// step added.
func (n dom0Net) addSteps(link string, from int, to *int) []step {
	var (
		addedA []netlink.Addr
		addedR []netlink.Route
	)
	return []step{
		{"add dom0's addresses to " + link, func() (err error) {
			addedA, err = addAddrs(*to, n.addrs)
			return err
		}, func() error { return delAddrs(*to, addedA) }},
		{"add dom0's routes through " + link, func() (err error) {
			addedR, err = addRoutes(n.routes, from, *to)
			return err
		}, func() error { return delRoutes(addedR) }},
	}
}

// putBack gives link idx the addresses and routes it had, where missing.
func putBack(idx int, addrs []netlink.Addr, routes []netlink.Route) error {
	if _, err := addAddrs(idx, addrs); err != nil {
		return err
	}
	_, err := addRoutes(routes, idx, idx)
	return err
}

// moved returns routes through link from as routes through link to.
func moved(routes []netlink.Route, from, to int) []netlink.Route {
	out := make([]netlink.Route, 0, len(routes))
	for _, r := range routes {
		out = append(out, routeOnto(r, from, to))
	}
	return out
}

// createHostPort is the step of a takeover that makes host port s and sets
// *hp to the ifindex of dom0's end. Its undo removes the host port, unless
// it was there before.
func createHostPort(s hostport.Spec, hp *int) step {
	var created bool
	return step{"create host port " + s.Name, func() (err error) {
		if created, err = hostport.Ensure(s); err != nil {
			return err
		}
		l, err := netlink.LinkByName(s.Name)
		if err != nil {
			return err
		}
		*hp = l.Attrs().Index
		return nil
	}, func() error {
		if !created {
			return nil
		}
		return hostport.Remove(s.Name)
	}}
}

// deleteHostPort is the step of a release that removes host port hpl of
// bridge, which holds n. Its undo makes the host port again, its switch end
// with the MAC it has now, and gives it n back.
func deleteHostPort(hpl netlink.Link, bridge string, n dom0Net) step {
	a := hpl.Attrs()
	s := hostport.Spec{Name: a.Name, Bridge: bridge, MAC: a.HardwareAddr, MTU: a.MTU}
	var peerMAC net.HardwareAddr
	if pl, err := netlink.LinkByName(hostport.Peer(a.Name)); err == nil {
		peerMAC = pl.Attrs().HardwareAddr
	}
	return step{"remove host port " + a.Name, func() error { return hostport.Remove(a.Name) }, func() error {
		l, err := recreateHostPort(s, peerMAC)
		if err != nil {
			return err
		}
		hp := l.Attrs().Index
		return putBack(hp, n.addrs, moved(n.routes, a.Index, hp))
	}}
}

// recreateHostPort makes a removed host port again, its switch end with
// the MAC it had, and returns dom0's end.
func recreateHostPort(s hostport.Spec, peerMAC net.HardwareAddr) (netlink.Link, error) {
	if _, err := hostport.Ensure(s); err != nil {
		return nil, err
	}
	if peerMAC != nil {
		peer, err := netlink.LinkByName(hostport.Peer(s.Name))
		if err != nil {
			return nil, err
		}
		if err := netlink.LinkSetHardwareAddr(peer, peerMAC); err != nil {
			return nil, fmt.Errorf("give %s its MAC %s again: %w", peer.Attrs().Name, peerMAC, err)
		}
	}
	return netlink.LinkByName(s.Name)
}

// unrecord is the last step of a release: it forgets rec; its undo records
// it again.
func (t *Taker) unrecord(rec Record) step {
	return step{"forget the takeover in " + t.Store.Path(), func() error { return t.Store.remove(rec.Interface) }, func() error { return t.Store.put(rec) }}
}

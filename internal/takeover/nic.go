package takeover

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/hostport"
)

// takeNIC takes NIC ethN over: ethN becomes pethN, the uplink of xenbrN, and
// host port ethN gets its MAC, MTU, addresses and routes. dom0's address is
// unreachable from the moment ethN goes down to the moment its addresses
// are on the host port and both ends forward.
func (t *Taker) takeNIC(nic netlink.Link, o Options) (Result, error) {
	a := nic.Attrs()
	name, idx := a.Name, a.Index
	n := trailingDigits(name)
	if n == "" {
		return Result{}, fmt.Errorf("takeover of %s: the name ends in no number, so there is no xenbrN for it", name)
	}
	uplink := "p" + name
	if len(uplink) > 15 {
		return Result{}, fmt.Errorf("takeover of %s: %s is too long for an interface name", name, uplink)
	}
	if linkExists(uplink) {
		return Result{}, fmt.Errorf("takeover of %s: an interface %s exists already", name, uplink)
	}
	if peer := hostport.Peer(name); linkExists(peer) {
		return Result{}, fmt.Errorf("takeover of %s: %s, the name of its host port's switch end, is taken", name, peer)
	}
	uppers, err := uppersOf(idx)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	if len(uppers) > 0 {
		return Result{}, fmt.Errorf("takeover of %s: it carries %v, whose frames would bypass the switch once it is the uplink; move their addresses to host ports first", name, uppers)
	}
	addrs, err := addrsOf(idx)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	routes, err := routesOf(idx)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	rec := Record{Kind: KindNIC, Interface: name, Bridge: "xenbr" + n, Uplink: uplink, HostPort: name,
		MAC: a.HardwareAddr.String(), MTU: a.MTU, Up: isUp(nic)}
	res := Result{Record: rec}
	for _, ad := range addrs {
		res.Addresses = append(res.Addresses, addrString(ad))
	}
	for _, r := range routes {
		res.Routes = append(res.Routes, routeString(r))
	}
	var (
		out      outage
		hp       int // the host port's ifindex
		created  bool
		addedA   []netlink.Addr
		addedR   []netlink.Route
		back     = func() error { return putBack(idx, addrs, routes) }
		hostSpec = hostport.Spec{Name: name, Bridge: rec.Bridge, MAC: a.HardwareAddr, MTU: a.MTU}
	)
	steps := []step{
		mark("note the time", out.cut),
		{"set " + name + " down", func() error { return setUp(idx, false) }, func() error {
			if rec.Up {
				if err := setUp(idx, true); err != nil {
					return err
				}
			}
			return back()
		}},
		{"remove dom0's addresses from " + name, func() error { return delAddrs(idx, addrs) }, func() error {
			_, err := addAddrs(idx, addrs) // the routes need the link up: the step before puts them back
			return err
		}},
		{"rename " + name + " to " + uplink, func() error { return rename(idx, uplink) }, func() error {
			if err := setUp(idx, false); err != nil {
				return err
			}
			return rename(idx, name)
		}},
		{"set " + uplink + " up", func() error { return setUp(idx, true) }, func() error { return setUp(idx, false) }},
		{"create host port " + name, func() (err error) {
			if created, err = hostport.Ensure(hostSpec); err != nil {
				return err
			}
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			hp = l.Attrs().Index
			return nil
		}, func() error {
			if !created {
				return nil
			}
			return hostport.Remove(name)
		}},
		{"attach " + uplink + " and " + hostport.Peer(name) + " to " + rec.Bridge, func() error {
			return t.Switch.Attach(rec.bridge(hostport.Peer(name)))
		}, func() error { return t.Switch.Detach(rec.bridge(hostport.Peer(name))) }},
		{"add dom0's addresses to host port " + name, func() (err error) {
			addedA, err = addAddrs(hp, addrs)
			return err
		}, func() error { return delAddrs(hp, addedA) }},
		{"add dom0's routes through host port " + name, func() (err error) {
			addedR, err = addRoutes(routes, idx, hp)
			return err
		}, func() error { return delRoutes(addedR) }},
		mark("note the time", out.restored),
		t.record(rec),
	}
	done, err := run(steps, o.FailAt)
	res.Outage = out.d
	res.Message = fmt.Sprintf("%s taken over: %s is the uplink of %s, host port %s holds dom0's %d addresses and %d routes", name, uplink, rec.Bridge, name, len(addrs), len(routes))
	return finish(res, done, err, "takeover of "+name)
}

// putBack gives link idx the addresses and routes it had, where missing.
func putBack(idx int, addrs []netlink.Addr, routes []netlink.Route) error {
	if _, err := addAddrs(idx, addrs); err != nil {
		return err
	}
	_, err := addRoutes(routes, idx, idx)
	return err
}

// releaseNIC is the reverse of takeNIC: host port ethN's addresses and
// routes go back to the NIC, which is renamed ethN again, and the host port
// is deleted.
func (t *Taker) releaseNIC(rec Record, o Options) (Result, error) {
	name, uplink := rec.Interface, rec.Uplink
	nic, err := netlink.LinkByName(uplink)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: uplink %s: %w", name, uplink, err)
	}
	hpl, err := netlink.LinkByName(rec.HostPort)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: host port %s: %w", name, rec.HostPort, err)
	}
	idx, hp := nic.Attrs().Index, hpl.Attrs().Index
	addrs, err := addrsOf(hp)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: %w", name, err)
	}
	routes, err := routesOf(hp)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: %w", name, err)
	}
	res := Result{Record: rec}
	for _, ad := range addrs {
		res.Addresses = append(res.Addresses, addrString(ad))
	}
	for _, r := range routes {
		res.Routes = append(res.Routes, routeString(r))
	}
	peer := hostport.Peer(rec.HostPort)
	hostSpec := hostport.Spec{Name: rec.HostPort, Bridge: rec.Bridge, MAC: hpl.Attrs().HardwareAddr, MTU: hpl.Attrs().MTU}
	var peerMAC net.HardwareAddr
	if pl, err := netlink.LinkByName(hostport.Peer(rec.HostPort)); err == nil {
		peerMAC = pl.Attrs().HardwareAddr
	}
	var (
		out    outage
		addedA []netlink.Addr
		addedR []netlink.Route
	)
	steps := []step{
		mark("note the time", out.cut),
		{"set " + uplink + " down", func() error { return setUp(idx, false) }, func() error { return setUp(idx, true) }},
		{"detach " + uplink + " and " + peer + " from " + rec.Bridge, func() error { return t.Switch.Detach(rec.bridge(peer)) },
			func() error { return t.Switch.Attach(rec.bridge(peer)) }},
		{"remove host port " + rec.HostPort, func() error { return hostport.Remove(rec.HostPort) }, func() error {
			l, err := recreateHostPort(hostSpec, peerMAC)
			if err != nil {
				return err
			}
			hp = l.Attrs().Index
			return putBack(hp, addrs, moved(routes, hpl.Attrs().Index, hp))
		}},
		{"rename " + uplink + " to " + name, func() error { return rename(idx, name) }, func() error { return rename(idx, uplink) }},
		{"set " + name + " up", func() error {
			if !rec.Up {
				return nil
			}
			return setUp(idx, true)
		}, func() error { return setUp(idx, false) }},
		{"add dom0's addresses to " + name, func() (err error) {
			addedA, err = addAddrs(idx, addrs)
			return err
		}, func() error { return delAddrs(idx, addedA) }},
		{"add dom0's routes through " + name, func() (err error) {
			addedR, err = addRoutes(routes, hpl.Attrs().Index, idx)
			return err
		}, func() error { return delRoutes(addedR) }},
		mark("note the time", out.restored),
		{"forget the takeover in " + t.Store.Path(), func() error { return t.Store.remove(name) }, func() error { return t.Store.put(rec) }},
	}
	done, err := run(steps, o.FailAt)
	res.Outage = out.d
	res.Message = fmt.Sprintf("%s released: %s is %s again and holds dom0's %d addresses and %d routes; host port %s removed", name, uplink, name, len(addrs), len(routes), rec.HostPort)
	return finish(res, done, err, "release of "+name)
}

// moved returns routes through link from as routes through link to.
func moved(routes []netlink.Route, from, to int) []netlink.Route {
	out := make([]netlink.Route, 0, len(routes))
	for _, r := range routes {
		out = append(out, routeOnto(r, from, to))
	}
	return out
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

// uppersOf returns the VLAN, macvlan and ipvlan devices on link idx.
func uppersOf(idx int) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		switch l.(type) {
		case *netlink.Vlan, *netlink.Macvlan, *netlink.Macvtap, *netlink.IPVlan:
			if l.Attrs().ParentIndex == idx {
				out = append(out, l.Attrs().Name)
			}
		}
	}
	return out, nil
}

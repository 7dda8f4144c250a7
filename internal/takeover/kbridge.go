package takeover

import (
	"fmt"
	"net"
	"sort"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/hostport"
	"github.com/xswitch/xswitch/internal/xen"
)

// takeBridge migrates kernel bridge xenbrN to xswitch: the bridge is
// deleted (its ports stay up), host port xenbrN takes its MAC, MTU,
// addresses and routes, and the switch's bridge xenbrN gets its ports, the
// first one that is not a guest's as the uplink.
func (t *Taker) takeBridge(br netlink.Link, o Options) (Result, error) {
	a := br.Attrs()
	name, idx := a.Name, a.Index
	set, err := readBridge(idx)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	if set["vlan_filtering"] != 0 {
		return Result{}, fmt.Errorf("takeover of %s: the bridge filters VLANs, and its per-port VLANs have no place in xswitch's configuration here; switch vlan_filtering off or move it by hand", name)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	var ports []netlink.Link
	for _, l := range links {
		if l.Attrs().MasterIndex == idx {
			ports = append(ports, l)
		}
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Attrs().Index < ports[j].Attrs().Index })
	rec := Record{Kind: KindBridge, Interface: name, Bridge: name, HostPort: name, MAC: a.HardwareAddr.String(), MTU: a.MTU, Up: isUp(br), Kernel: &set}
	var all []string
	for _, p := range ports {
		pn := p.Attrs().Name
		all = append(all, pn)
		if _, guest := xen.ParseVif(pn); !guest && rec.Uplink == "" {
			rec.Uplink = pn
			continue
		}
		rec.Ports = append(rec.Ports, pn)
	}
	if rec.Uplink == "" {
		return Result{}, fmt.Errorf("takeover of %s: it has no port that is not a guest's to be the uplink (ports: %v)", name, all)
	}
	peer := hostport.Peer(name)
	if linkExists(peer) {
		return Result{}, fmt.Errorf("takeover of %s: %s, the name of its host port's switch end, is taken", name, peer)
	}
	addrs, err := addrsOf(idx)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	routes, err := routesOf(idx)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	res := Result{Record: rec}
	for _, ad := range addrs {
		res.Addresses = append(res.Addresses, addrString(ad))
	}
	for _, r := range routes {
		res.Routes = append(res.Routes, routeString(r))
	}
	kb := kernelBridge{name: name, mac: a.HardwareAddr, mtu: a.MTU, up: rec.Up, set: set, ports: all}
	var (
		out     outage
		hp      int
		created bool
		addedA  []netlink.Addr
		addedR  []netlink.Route
	)
	steps := []step{
		mark("note the time", out.cut),
		{"delete kernel bridge " + name + ", releasing " + fmt.Sprint(all), func() error { return netlink.LinkDel(br) }, func() error {
			nidx, err := createBridge(kb)
			if err != nil {
				return err
			}
			return putBack(nidx, addrs, moved(routes, idx, nidx))
		}},
		{"create host port " + name, func() (err error) {
			if created, err = hostport.Ensure(hostport.Spec{Name: name, Bridge: name, MAC: a.HardwareAddr, MTU: a.MTU}); err != nil {
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
		{"attach " + fmt.Sprint(append(all, peer)) + " to xswitch bridge " + name, func() error { return t.Switch.Attach(rec.bridge(peer)) },
			func() error { return t.Switch.Detach(rec.bridge(peer)) }},
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
	res.Message = fmt.Sprintf("kernel bridge %s taken over: xswitch bridge %s has uplink %s and ports %v, host port %s holds dom0's %d addresses and %d routes",
		name, name, rec.Uplink, rec.Ports, name, len(addrs), len(routes))
	return finish(res, done, err, "takeover of "+name)
}

// releaseBridge is the reverse of takeBridge: the kernel bridge is made
// again with its settings and its ports, in their order, then the ports
// that joined the switch's bridge since; host port xenbrN's addresses and
// routes go back to it and the host port is deleted.
func (t *Taker) releaseBridge(rec Record, o Options) (Result, error) {
	name := rec.Interface
	hpl, err := netlink.LinkByName(rec.HostPort)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: host port %s: %w", name, rec.HostPort, err)
	}
	hp := hpl.Attrs().Index
	addrs, err := addrsOf(hp)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: %w", name, err)
	}
	routes, err := routesOf(hp)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: %w", name, err)
	}
	peer := hostport.Peer(rec.HostPort)
	ports := []string{}
	seen := map[string]bool{peer: true}
	for _, p := range append(append([]string{rec.Uplink}, rec.Ports...), t.Switch.Ports(rec.Bridge)...) {
		if seen[p] {
			continue
		}
		seen[p] = true
		if linkExists(p) {
			ports = append(ports, p)
		}
	}
	tb := Bridge{Name: rec.Bridge, Uplink: rec.Uplink, HostPort: rec.HostPort}
	for _, p := range ports {
		if p != rec.Uplink {
			tb.Ports = append(tb.Ports, p)
		}
	}
	tb.Ports = append(tb.Ports, peer)
	var set BridgeSettings
	if rec.Kernel != nil {
		set = *rec.Kernel
	}
	mac, _ := net.ParseMAC(rec.MAC)
	kb := kernelBridge{name: name, mac: mac, mtu: rec.MTU, up: rec.Up, set: set, ports: ports}
	res := Result{Record: rec}
	for _, ad := range addrs {
		res.Addresses = append(res.Addresses, addrString(ad))
	}
	for _, r := range routes {
		res.Routes = append(res.Routes, routeString(r))
	}
	hostSpec := hostport.Spec{Name: rec.HostPort, Bridge: rec.Bridge, MAC: hpl.Attrs().HardwareAddr, MTU: hpl.Attrs().MTU}
	var peerMAC net.HardwareAddr
	if pl, err := netlink.LinkByName(hostport.Peer(rec.HostPort)); err == nil {
		peerMAC = pl.Attrs().HardwareAddr
	}
	var (
		out    outage
		idx    int
		addedA []netlink.Addr
		addedR []netlink.Route
	)
	steps := []step{
		mark("note the time", out.cut),
		{"detach " + fmt.Sprint(append(ports, peer)) + " from xswitch bridge " + name, func() error { return t.Switch.Detach(tb) },
			func() error { return t.Switch.Attach(tb) }},
		{"remove host port " + rec.HostPort, func() error { return hostport.Remove(rec.HostPort) }, func() error {
			l, err := recreateHostPort(hostSpec, peerMAC)
			if err != nil {
				return err
			}
			hp = l.Attrs().Index
			return putBack(hp, addrs, moved(routes, hpl.Attrs().Index, hp))
		}},
		{"create kernel bridge " + name + " with ports " + fmt.Sprint(ports), func() (err error) {
			idx, err = createBridge(kb)
			return err
		}, func() error {
			if idx == 0 {
				return nil
			}
			return netlink.LinkDel(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Index: idx}})
		}},
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
	res.Message = fmt.Sprintf("%s released: kernel bridge %s is back with ports %v and dom0's %d addresses and %d routes; host port %s removed", name, name, ports, len(addrs), len(routes), rec.HostPort)
	return finish(res, done, err, "release of "+name)
}

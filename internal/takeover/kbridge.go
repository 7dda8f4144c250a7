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
	dn, err := dom0NetOf(idx)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	res := dn.result(rec)
	kb := kernelBridge{name: name, mac: a.HardwareAddr, mtu: a.MTU, up: rec.Up, set: set, ports: all}
	var (
		out outage
		hp  int // the host port's ifindex
	)
	steps := []step{
		mark("note the time", out.cut),
		{"delete kernel bridge " + name + ", releasing " + fmt.Sprint(all), func() error { return netlink.LinkDel(br) }, func() error {
			nidx, err := createBridge(kb)
			if err != nil {
				return err
			}
			return putBack(nidx, dn.addrs, moved(dn.routes, idx, nidx))
		}},
		createHostPort(hostport.Spec{Name: name, Bridge: name, MAC: a.HardwareAddr, MTU: a.MTU}, &hp),
		{"attach " + fmt.Sprint(append(all, peer)) + " to xswitch bridge " + name, func() error { return t.Switch.Attach(rec.bridge(peer)) },
			func() error { return t.Switch.Detach(rec.bridge(peer)) }},
	}
	steps = append(steps, dn.addSteps("host port "+name, idx, &hp)...)
	steps = append(steps, mark("note the time", out.restored), t.record(rec))
	done, err := run(steps, o.FailAt)
	res.Outage = out.d
	res.Message = fmt.Sprintf("kernel bridge %s taken over: xswitch bridge %s has uplink %s and ports %v, host port %s holds dom0's %d addresses and %d routes",
		name, name, rec.Uplink, rec.Ports, name, len(dn.addrs), len(dn.routes))
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
	dn, err := dom0NetOf(hpl.Attrs().Index)
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
	res := dn.result(rec)
	var (
		out outage
		idx int // the kernel bridge's ifindex, once made
	)
	steps := []step{
		mark("note the time", out.cut),
		{"detach " + fmt.Sprint(append(ports, peer)) + " from xswitch bridge " + name, func() error { return t.Switch.Detach(tb) },
			func() error { return t.Switch.Attach(tb) }},
		deleteHostPort(hpl, rec.Bridge, dn),
		{"create kernel bridge " + name + " with ports " + fmt.Sprint(ports), func() (err error) {
			idx, err = createBridge(kb)
			return err
		}, func() error {
			if idx == 0 {
				return nil
			}
			return netlink.LinkDel(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Index: idx}})
		}},
	}
	steps = append(steps, dn.addSteps(name, hpl.Attrs().Index, &idx)...)
	steps = append(steps, mark("note the time", out.restored), t.unrecord(rec))
	done, err := run(steps, o.FailAt)
	res.Outage = out.d
	res.Message = fmt.Sprintf("%s released: kernel bridge %s is back with ports %v and dom0's %d addresses and %d routes; host port %s removed", name, name, ports, len(dn.addrs), len(dn.routes), rec.HostPort)
	return finish(res, done, err, "release of "+name)
}

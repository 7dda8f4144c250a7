package takeover

import (
	"fmt"

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
	dn, err := dom0NetOf(idx)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", name, err)
	}
	rec := Record{Kind: KindNIC, Interface: name, Bridge: "xenbr" + n, Uplink: uplink, HostPort: name,
		MAC: a.HardwareAddr.String(), MTU: a.MTU, Up: isUp(nic)}
	res := dn.result(rec)
	var (
		out outage
		hp  int // the host port's ifindex
	)
	steps := []step{
		mark("note the time", out.cut),
		{"set " + name + " down", func() error { return setUp(idx, false) }, func() error {
			if rec.Up {
				if err := setUp(idx, true); err != nil {
					return err
				}
			}
			return putBack(idx, dn.addrs, dn.routes)
		}},
		{"remove dom0's addresses from " + name, func() error { return delAddrs(idx, dn.addrs) }, func() error {
			_, err := addAddrs(idx, dn.addrs) // the routes need the link up: the step before puts them back
			return err
		}},
		{"rename " + name + " to " + uplink, func() error { return rename(idx, uplink) }, func() error {
			if err := setUp(idx, false); err != nil {
				return err
			}
			return rename(idx, name)
		}},
		{"set " + uplink + " up", func() error { return setUp(idx, true) }, func() error { return setUp(idx, false) }},
		createHostPort(hostport.Spec{Name: name, Bridge: rec.Bridge, MAC: a.HardwareAddr, MTU: a.MTU}, &hp),
		{"attach " + uplink + " and " + hostport.Peer(name) + " to " + rec.Bridge, func() error {
			return t.Switch.Attach(rec.bridge(hostport.Peer(name)))
		}, func() error { return t.Switch.Detach(rec.bridge(hostport.Peer(name))) }},
	}
	steps = append(steps, dn.addSteps("host port "+name, idx, &hp)...)
	steps = append(steps, mark("note the time", out.restored), t.record(rec))
	done, err := run(steps, o.FailAt)
	res.Outage = out.d
	res.Message = fmt.Sprintf("%s taken over: %s is the uplink of %s, host port %s holds dom0's %d addresses and %d routes", name, uplink, rec.Bridge, name, len(dn.addrs), len(dn.routes))
	return finish(res, done, err, "takeover of "+name)
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
	dn, err := dom0NetOf(hp)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: %w", name, err)
	}
	res := dn.result(rec)
	peer := hostport.Peer(rec.HostPort)
	var out outage
	steps := []step{
		mark("note the time", out.cut),
		{"set " + uplink + " down", func() error { return setUp(idx, false) }, func() error { return setUp(idx, true) }},
		{"detach " + uplink + " and " + peer + " from " + rec.Bridge, func() error { return t.Switch.Detach(rec.bridge(peer)) },
			func() error { return t.Switch.Attach(rec.bridge(peer)) }},
		deleteHostPort(hpl, rec.Bridge, dn),
		{"rename " + uplink + " to " + name, func() error { return rename(idx, name) }, func() error { return rename(idx, uplink) }},
		{"set " + name + " up", func() error {
			if !rec.Up {
				return nil
			}
			return setUp(idx, true)
		}, func() error { return setUp(idx, false) }},
	}
	steps = append(steps, dn.addSteps(name, hp, &idx)...)
	steps = append(steps, mark("note the time", out.restored), t.unrecord(rec))
	done, err := run(steps, o.FailAt)
	res.Outage = out.d
	res.Message = fmt.Sprintf("%s released: %s is %s again and holds dom0's %d addresses and %d routes; host port %s removed", name, uplink, name, len(dn.addrs), len(dn.routes), rec.HostPort)
	return finish(res, done, err, "release of "+name)
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

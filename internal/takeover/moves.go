package takeover

import (
	"errors"
	"fmt"
	"net"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Addresses and routes move between links by index: the kernel keeps them
// per link, and a link may be renamed between the steps that touch it.

// addrFlagsSettable are the IFA_F_* flags an address is added with; the
// kernel works out the others (secondary, permanent, tentative, ...).
const addrFlagsSettable = unix.IFA_F_NODAD | unix.IFA_F_HOMEADDRESS | unix.IFA_F_MANAGETEMPADDR |
	unix.IFA_F_NOPREFIXROUTE | unix.IFA_F_MCAUTOJOIN | unix.IFA_F_OPTIMISTIC

// addrsOf returns the addresses of link idx in the kernel's order.
func addrsOf(idx int) ([]netlink.Addr, error) {
	all, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []netlink.Addr
	for _, a := range all {
		if a.LinkIndex == idx {
			out = append(out, a)
		}
	}
	return out, nil
}

// routesOf returns the routes of every table through link idx that the
// kernel does not make by itself (proto kernel routes come back with the
// addresses and the link).
func routesOf(idx int) ([]netlink.Route, error) {
	all, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []netlink.Route
	for _, r := range all {
		if r.Protocol == unix.RTPROT_KERNEL || !through(r, idx) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func through(r netlink.Route, idx int) bool {
	if r.LinkIndex == idx {
		return true
	}
	for _, nh := range r.MultiPath {
		if nh.LinkIndex == idx {
			return true
		}
	}
	return false
}

// addrString is an address as a report shows it.
func addrString(a netlink.Addr) string {
	s := a.IPNet.String()
	if a.Label != "" {
		s += " label " + a.Label
	}
	return s
}

// routeString is a route as a report shows it.
func routeString(r netlink.Route) string {
	dst := "default"
	if r.Dst != nil {
		if ones, _ := r.Dst.Mask.Size(); ones > 0 {
			dst = r.Dst.String()
		}
	}
	s := dst
	if r.Gw != nil {
		s += " via " + r.Gw.String()
	}
	if r.Src != nil {
		s += " src " + r.Src.String()
	}
	if r.Table != unix.RT_TABLE_MAIN {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	return s
}

// addAddrs adds addrs to link idx with their prefix, scope, flags, label,
// broadcast, peer and lifetimes. One the link has already is skipped: the
// IPv6 link-local address that the kernel made from the same MAC. It
// returns those it added. IPv4 addresses go in their order, which makes the
// first of a subnet its primary; the kernel puts a new IPv6 address before
// the older ones of its scope, so those go in reverse to keep their order.
func addAddrs(idx int, addrs []netlink.Addr) (added []netlink.Addr, err error) {
	have, err := addrsOf(idx)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netlink.Addr
	for _, a := range addrs {
		if a.IP.To4() != nil {
			v4 = append(v4, a)
		} else {
			v6 = append([]netlink.Addr{a}, v6...)
		}
	}
	for _, a := range append(v4, v6...) {
		if hasAddr(have, a) {
			continue
		}
		n := a
		n.LinkIndex = idx
		n.Flags &= addrFlagsSettable
		if a.IP.To4() == nil {
			n.Label = ""
		} else if n.Broadcast == nil {
			n.Broadcast = net.IPv4zero // none, as before; nil would have one made up
		}
		if err := netlink.AddrAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: idx}}, &n); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			return added, fmt.Errorf("add address %s: %w", addrString(a), err)
		}
		added = append(added, n)
	}
	return added, nil
}

func hasAddr(have []netlink.Addr, a netlink.Addr) bool {
	for _, h := range have {
		if h.IP.Equal(a.IP) {
			return true
		}
	}
	return false
}

// delAddrs deletes addrs from link idx, last first, so that IPv4
// secondaries go before their primary; one already gone is no error.
func delAddrs(idx int, addrs []netlink.Addr) error {
	var errs []error
	for i := len(addrs) - 1; i >= 0; i-- {
		a := addrs[i]
		a.LinkIndex = idx
		if err := netlink.AddrDel(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: idx}}, &a); err != nil &&
			!errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete address %s: %w", addrString(a), err))
		}
	}
	return errors.Join(errs...)
}

// routeOnto is r through link to instead of from.
func routeOnto(r netlink.Route, from, to int) netlink.Route {
	n := r
	if n.LinkIndex == from {
		n.LinkIndex = to
	}
	n.Flags &= unix.RTNH_F_ONLINK
	n.MultiPath = nil
	for _, nh := range r.MultiPath {
		c := *nh
		if c.LinkIndex == from {
			c.LinkIndex = to
		}
		c.Flags &= unix.RTNH_F_ONLINK
		n.MultiPath = append(n.MultiPath, &c)
	}
	return n
}

// addRoutes adds routes, moved from link from to link to, and returns those
// it added. A route the kernel has already is skipped. Routes of the
// narrowest scope go first, as a gateway needs its on-link route; one the
// kernel refuses for want of another is tried again after the rest.
func addRoutes(routes []netlink.Route, from, to int) (added []netlink.Route, err error) {
	todo := make([]netlink.Route, 0, len(routes))
	for _, r := range routes {
		todo = append(todo, routeOnto(r, from, to))
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].Scope > todo[j].Scope })
	for pass := 0; len(todo) > 0; pass++ {
		var again []netlink.Route
		var last error
		for _, r := range todo {
			err := netlink.RouteAdd(&r)
			switch {
			case err == nil:
				added = append(added, r)
			case errors.Is(err, unix.EEXIST):
			case pass < 2 && (errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EHOSTUNREACH)):
				again = append(again, r)
				last = err
			default:
				return added, fmt.Errorf("add route %s: %w", routeString(r), err)
			}
		}
		if len(again) == len(todo) {
			return added, fmt.Errorf("add route %s: %w", routeString(again[0]), last)
		}
		todo = again
	}
	return added, nil
}

// delRoutes deletes routes; one already gone is no error.
func delRoutes(routes []netlink.Route) error {
	var errs []error
	for i := len(routes) - 1; i >= 0; i-- {
		r := routes[i]
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", routeString(r), err))
		}
	}
	return errors.Join(errs...)
}

// setUp sets link idx up or down.
func setUp(idx int, up bool) error {
	l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: idx}}
	if up {
		return netlink.LinkSetUp(l)
	}
	return netlink.LinkSetDown(l)
}

// rename renames link idx, which must be down.
func rename(idx int, name string) error {
	return netlink.LinkSetName(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: idx}}, name)
}

// isUp says whether a link is administratively up.
func isUp(l netlink.Link) bool { return l.Attrs().Flags&net.FlagUp != 0 }

// linkExists says whether a link of that name exists.
func linkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

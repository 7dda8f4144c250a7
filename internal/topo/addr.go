package topo

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddAddr adds addr to the link ifname, as `ip addr add` does, e.g. to the
// host port a switch made in the host. An IPv6 address skips duplicate
// address detection, so it is usable at once.
func (n *Netns) AddAddr(ifname string, addr netip.Prefix) error {
	return n.withNetlink("add address "+addr.String()+" to "+ifname, func(nl *netlink.Handle) error {
		l, err := nl.LinkByName(ifname)
		if err != nil {
			return err
		}
		return nl.AddrAdd(l, netlinkAddr(addr))
	})
}

// AddRoute makes dst reachable on the link ifname without a gateway, as
// `ip route add DST dev IFNAME metric METRIC` does: the namespace then asks
// the link (ARP, neighbour discovery) for any address in dst.
func (n *Netns) AddRoute(dst netip.Prefix, ifname string, metric int) error {
	return n.withNetlink(fmt.Sprintf("add route %s dev %s metric %d", dst, ifname, metric), func(nl *netlink.Handle) error {
		l, err := nl.LinkByName(ifname)
		if err != nil {
			return err
		}
		return nl.RouteAdd(&netlink.Route{
			LinkIndex: l.Attrs().Index,
			Dst:       ipNet(dst.Masked()),
			Scope:     netlink.SCOPE_LINK,
			Priority:  metric,
		})
	})
}

// SetSysctl writes a network setting of the namespace, as `sysctl -w` run
// inside it would; key is a path under /proc/sys, e.g. net/ipv4/ip_forward.
func (n *Netns) SetSysctl(key, value string) error {
	if !strings.HasPrefix(key, "net/") {
		return fmt.Errorf("topo: sysctl %s in netns %s: only net/ keys belong to a namespace", key, n.name)
	}
	if err := n.Do(func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0)
	}); err != nil {
		return fmt.Errorf("topo: sysctl %s=%s in netns %s: %w", key, value, n.name, err)
	}
	return nil
}

// netlinkAddr is addr as netlink takes it; IPv6 addresses skip duplicate
// address detection, which would hold them tentative for a second and send
// frames of their own.
func netlinkAddr(addr netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: ipNet(addr)}
	if addr.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

package topo

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestSecondNIC builds a two-NIC guest, gives the host an address on the
// second vif and talks to the guest over it alone.
func TestSecondNIC(t *testing.T) {
	h := newHost(t)
	g := addGuest(t, h, "vif1.0", 1, "10.202.0.1/24")
	mac, err := g.AddNIC("vif1.2", "eth1", MAC(2), netip.MustParsePrefix("10.202.2.1/24"))
	if err != nil {
		t.Fatal(err)
	}
	if mac.String() != MAC(2).String() {
		t.Errorf("eth1 has MAC %s, want %s", mac, MAC(2))
	}
	if _, err := g.AddNIC("vif1.2", "eth2", nil, netip.Prefix{}); err == nil {
		t.Error("a second vif1.2 was added")
	}
	if err := h.AddAddr("vif1.2", netip.MustParsePrefix("10.202.2.100/24")); err != nil {
		t.Fatal(err)
	}
	onLink := netip.MustParsePrefix("10.203.0.0/16")
	if err := g.AddRoute(onLink, "eth1", 500); err != nil {
		t.Fatal(err)
	}
	if err := g.SetSysctl("net/ipv4/conf/all/arp_ignore", "1"); err != nil {
		t.Fatal(err)
	}
	if err := g.SetSysctl("kernel/hostname", "x"); err == nil {
		t.Error("SetSysctl wrote a key outside net/")
	}
	err = g.Do(func() error {
		if v, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_ignore"); err != nil || strings.TrimSpace(string(v)) != "1" {
			t.Errorf("arp_ignore is %q (%v), want 1", v, err)
		}
		l, err := netlink.LinkByName("eth1")
		if err != nil {
			return err
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: ipNet(onLink)}, netlink.RT_FILTER_DST)
		if err != nil {
			return err
		}
		if len(routes) != 1 || routes[0].LinkIndex != l.Attrs().Index || routes[0].Scope != netlink.SCOPE_LINK || routes[0].Priority != 500 || routes[0].Gw != nil {
			t.Errorf("routes to %s: %+v, want one on-link through eth1 with metric 500", onLink, routes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	l, err := g.Listen("tcp", "10.202.2.1:7007")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("eth1"))
			c.Close()
		}
	}()
	c, err := h.Dial(t.Context(), "tcp", "10.202.2.1:7007")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if string(got) != "eth1" || err != nil {
		t.Errorf("read %q (%v) over vif1.2, want eth1", got, err)
	}

	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	err = h.Do(func() error {
		_, err := netlink.LinkByName("vif1.2")
		return err
	})
	if !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Errorf("vif1.2 after Remove: %v, want gone", err)
	}
}

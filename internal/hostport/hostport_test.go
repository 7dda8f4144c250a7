package hostport

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/nstest"
	"github.com/xswitch/xswitch/internal/topo/netns"
)

func TestPeer(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		{"eth0", "xhp-eth0"},
		{"xenbr0", "xhp-xenbr0"},
		{"abcdefghijk", "xhp-abcdefghijk"},
	}
	for _, tt := range tests {
		if got := Peer(tt.name); got != tt.want {
			t.Errorf("Peer(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	long1, long2 := "abcdefghijklmn1", "abcdefghijklmn2"
	p1, p2 := Peer(long1), Peer(long2)
	if len(p1) > 15 || len(p2) > 15 || p1 == p2 || p1 != Peer(long1) || !strings.HasPrefix(p1, "xhp-") {
		t.Errorf("Peer(%q) = %q, Peer(%q) = %q: want distinct, stable, xhp-, at most 15 bytes", long1, p1, long2, p2)
	}
}

// link is what a test checks of an interface.
type link struct {
	index, mtu, parent int
	mac, alias, kind   string
	up                 bool
}

func get(name string) (link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return link{}, err
	}
	a := l.Attrs()
	return link{a.Index, a.MTU, a.ParentIndex, a.HardwareAddr.String(), a.Alias, l.Type(), a.Flags&net.FlagUp != 0}, nil
}

// in runs fn in a fresh namespace and fails the test with its error.
func in(t *testing.T, fn func(ns string) error) {
	t.Helper()
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "hp")
	nstest.In(t, ns, func() error { return fn(ns) })
}

func TestEnsureCreates(t *testing.T) {
	in(t, func(string) error {
		created, err := Ensure(Spec{Name: "eth0", Bridge: "xenbr0"})
		if err != nil || !created {
			return fmt.Errorf("Ensure = %v, %v; want created", created, err)
		}
		h, err := get("eth0")
		if err != nil {
			return err
		}
		p, err := get(Peer("eth0"))
		if err != nil {
			return err
		}
		if h.kind != "veth" || h.parent != p.index || p.parent != h.index {
			return fmt.Errorf("eth0 %+v and %s %+v are not a veth pair", h, Peer("eth0"), p)
		}
		if !h.up || !p.up || h.mtu != 1500 || p.mtu != 1500 {
			return fmt.Errorf("want both ends up with MTU 1500: %+v, %+v", h, p)
		}
		mac, _ := net.ParseMAC(h.mac)
		if mac[0]&2 == 0 || mac[0]&1 != 0 {
			return fmt.Errorf("MAC %s: want a random locally administered unicast address", h.mac)
		}
		if h.alias != "xswitch host port of xenbr0" || p.alias != "xswitch host port eth0 of xenbr0 (switch end)" {
			return fmt.Errorf("aliases %q, %q", h.alias, p.alias)
		}
		again, err := Ensure(Spec{Name: "eth0", Bridge: "xenbr0"})
		if err != nil || again {
			return fmt.Errorf("second Ensure = %v, %v; want adopted", again, err)
		}
		if h2, _ := get("eth0"); h2 != h {
			return fmt.Errorf("second Ensure changed eth0: %+v, was %+v", h2, h)
		}
		return nil
	})
}

func TestEnsureCreatesWithMACAndMTU(t *testing.T) {
	in(t, func(string) error {
		mac, _ := net.ParseMAC("02:00:00:00:aa:01")
		if _, err := Ensure(Spec{Name: "eth1", Bridge: "xenbr1", MAC: mac, MTU: 9000}); err != nil {
			return err
		}
		h, _ := get("eth1")
		p, _ := get(Peer("eth1"))
		if h.mac != mac.String() || h.mtu != 9000 || p.mtu != 9000 {
			return fmt.Errorf("got eth1 %+v, switch end %+v; want MAC %s, MTU 9000 on both", h, p, mac)
		}
		return nil
	})
}

func TestEnsureAdoptsAndFixes(t *testing.T) {
	in(t, func(ns string) error {
		if _, err := Ensure(Spec{Name: "eth0", Bridge: "xenbr0"}); err != nil {
			return err
		}
		before, _ := get("eth0")
		// What an operator or a crash may leave: ends down, another MTU.
		for _, n := range []string{"eth0", Peer("eth0")} {
			l, _ := netlink.LinkByName(n)
			netlink.LinkSetDown(l)
		}
		l, _ := netlink.LinkByName("eth0")
		if err := netlink.LinkSetMTU(l, 1400); err != nil {
			return err
		}

		// Nothing asked: the MTU stays, both ends come up.
		created, err := Ensure(Spec{Name: "eth0", Bridge: "xenbr0"})
		if err != nil || created {
			return fmt.Errorf("Ensure = %v, %v; want adopted", created, err)
		}
		h, _ := get("eth0")
		p, _ := get(Peer("eth0"))
		if h.index != before.index || h.mac != before.mac || h.mtu != 1400 || p.mtu != 1400 || !h.up || !p.up {
			return fmt.Errorf("after adopting: eth0 %+v, switch end %+v; want index %d, MAC %s, MTU 1400, up", h, p, before.index, before.mac)
		}

		// Asked: MAC and MTU fixed, on a pair that is up; a moved bridge
		// is written in the aliases.
		mac, _ := net.ParseMAC("02:00:00:00:bb:02")
		if _, err := Ensure(Spec{Name: "eth0", Bridge: "xenbr9", MAC: mac, MTU: 9000}); err != nil {
			return err
		}
		h, _ = get("eth0")
		p, _ = get(Peer("eth0"))
		if h.index != before.index || h.mac != mac.String() || h.mtu != 9000 || p.mtu != 9000 {
			return fmt.Errorf("after fixing: eth0 %+v, switch end %+v; want index %d, MAC %s, MTU 9000", h, p, before.index, mac)
		}
		if !strings.HasSuffix(h.alias, "of xenbr9") {
			return fmt.Errorf("alias %q does not name xenbr9", h.alias)
		}
		return nil
	})
}

func TestEnsureConcurrent(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "hp")
	fd, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	const n = 8
	var wg sync.WaitGroup
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = netns.Do(fd, func() (err error) {
				created[i], err = Ensure(Spec{Name: "eth0", Bridge: "xenbr0"})
				return err
			})
		})
	}
	wg.Wait()
	made := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Ensure %d: %v", i, errs[i])
		}
		if created[i] {
			made++
		}
	}
	if made != 1 {
		t.Errorf("%d of %d concurrent calls created the pair, want 1", made, n)
	}
	nstest.In(t, ns, func() error {
		h, err := get("eth0")
		if err != nil || !h.up {
			return fmt.Errorf("eth0 %+v, %v: want it up", h, err)
		}
		return nil
	})
}

func TestEnsureRefusesOthers(t *testing.T) {
	in(t, func(ns string) error {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}}); err != nil {
			return err
		}
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1"}, PeerName: "other1"}); err != nil {
			return err
		}
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "sw2"}, PeerName: Peer("eth2")}); err != nil {
			return err
		}
		tests := []struct{ name, want string }{
			{"eth0", "is a bridge, not a veth"},
			{"eth1", "a veth whose peer is other1, not xhp-eth1"},
			{"eth2", "its switch end's name xhp-eth2 is taken"},
		}
		for _, tt := range tests {
			_, err := Ensure(Spec{Name: tt.name, Bridge: "xenbr0"})
			if err == nil || !strings.Contains(err.Error(), tt.name) || !strings.Contains(err.Error(), tt.want) {
				return fmt.Errorf("Ensure(%s) = %v, want an error naming it and saying %q", tt.name, err, tt.want)
			}
			if tt.name == "eth2" {
				continue
			}
			if err := Remove(tt.name); err == nil || !strings.Contains(err.Error(), "refusing") {
				return fmt.Errorf("Remove(%s) = %v, want a refusal", tt.name, err)
			}
			if _, err := get(tt.name); err != nil {
				return fmt.Errorf("%s is gone: %v", tt.name, err)
			}
		}
		for _, n := range []string{"eth0", "eth1", "sw2"} {
			if l, _ := get(n); l.alias != "" {
				return fmt.Errorf("%s was changed: alias %q", n, l.alias)
			}
		}
		return nil
	})
}

func TestRemove(t *testing.T) {
	in(t, func(string) error {
		if err := Remove("eth0"); err != nil {
			return fmt.Errorf("Remove of a missing host port: %v", err)
		}
		if _, err := Ensure(Spec{Name: "eth0", Bridge: "xenbr0"}); err != nil {
			return err
		}
		if err := Remove("eth0"); err != nil {
			return err
		}
		for _, n := range []string{"eth0", Peer("eth0")} {
			if _, err := get(n); err == nil {
				return fmt.Errorf("%s still exists", n)
			}
		}
		return Remove("eth0")
	})
}

func TestFind(t *testing.T) {
	in(t, func(string) error {
		if got, err := Find(); err != nil || len(got) != 0 {
			return fmt.Errorf("Find in an empty namespace = %v, %v", got, err)
		}
		mac, _ := net.ParseMAC("02:00:00:00:cc:03")
		if _, err := Ensure(Spec{Name: "eth0", Bridge: "xenbr0", MAC: mac}); err != nil {
			return err
		}
		if _, err := Ensure(Spec{Name: "drbd", Bridge: "xenbr1", MTU: 9000}); err != nil {
			return err
		}
		// Not host ports: a plain veth pair, and one with a forged alias.
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vif1.0"}, PeerName: "guest"}); err != nil {
			return err
		}
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fake", Alias: "xswitch host port of xenbr0"}, PeerName: "fakepeer"}); err != nil {
			return err
		}
		got, err := Find()
		if err != nil {
			return err
		}
		var s []string
		for _, h := range got {
			s = append(s, fmt.Sprintf("%s/%s/%s/%d", h.Name, h.Bridge, h.MAC, h.MTU))
		}
		drbd, _ := get("drbd")
		want := []string{"eth0/xenbr0/" + mac.String() + "/1500", "drbd/xenbr1/" + drbd.mac + "/9000"}
		if len(s) != 2 || !(s[0] == want[0] && s[1] == want[1] || s[0] == want[1] && s[1] == want[0]) {
			return fmt.Errorf("Find = %v, want %v", s, want)
		}
		return nil
	})
}

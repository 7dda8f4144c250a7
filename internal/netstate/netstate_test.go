package netstate

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/nstest"
)

// TestDiff takes snapshots of a namespace as addresses and routes come and
// go: equal snapshots give no lines, and each change gives the line of what
// changed, in the words of `ip`.
func TestDiff(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "netstate")
	nstest.Veth(t, ns, "eth0", ns, "lan0")
	ip := func(args ...string) { nstest.Run(t, "ip", append([]string{"-n", ns}, args...)...) }
	ip("addr", "add", "192.0.2.10/24", "dev", "eth0", "label", "eth0:a")
	ip("addr", "add", "192.0.2.11/24", "dev", "eth0")
	ip("-6", "addr", "add", "2001:db8::10/64", "dev", "eth0", "nodad")
	ip("route", "add", "default", "via", "192.0.2.1", "dev", "eth0", "src", "192.0.2.11", "metric", "50")
	ip("route", "add", "198.51.100.0/24", "via", "192.0.2.2", "dev", "eth0", "table", "100", "mtu", "1400")
	var nl *netlink.Handle
	nstest.In(t, ns, func() (err error) { nl, err = netlink.NewHandle(); return err })
	defer nl.Close()
	take := func() *Snapshot {
		t.Helper()
		s, err := Take(nl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := take()
	if d := Diff(before, take(), Mask{Lifetimes: true}); len(d) != 0 {
		t.Fatalf("two snapshots of an unchanged namespace differ:\n%s", strings.Join(d, "\n"))
	}
	all := strings.Join(before.Lines(Mask{}), "\n") + "\n"
	for _, want := range []string{
		"addr eth0 inet 192.0.2.10/24 scope global permanent label eth0:a",
		"addr eth0 inet 192.0.2.11/24 scope global secondary permanent",
		"addr eth0 inet6 2001:db8::10/64 scope global nodad permanent",
		"route table main unicast default proto boot scope global via 192.0.2.1 dev eth0 src 192.0.2.11 metric 50",
		"route table 100 unicast 198.51.100.0/24 proto boot scope global via 192.0.2.2 dev eth0 mtu 1400",
		"order eth0: 192.0.2.10/24 192.0.2.11/24 2001:db8::10/64",
	} {
		if !strings.Contains(all, want+"\n") {
			t.Errorf("snapshot lacks %q:\n%s", want, all)
		}
	}

	ip("route", "del", "default", "table", "main")
	ip("addr", "add", "203.0.113.1/32", "dev", "lan0")
	got := strings.Join(Diff(before, take(), Mask{Lifetimes: true}), "\n")
	for _, want := range []string{
		"- route table main unicast default proto boot scope global via 192.0.2.1 dev eth0 src 192.0.2.11 metric 50",
		"+ addr lan0 inet 203.0.113.1/32 scope global permanent",
		"+ route table local local 203.0.113.1/32 proto kernel scope host dev lan0 src 203.0.113.1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if d := Diff(before, take(), Mask{Lifetimes: true, Links: []string{"lan0"}}); len(d) != 1 {
		t.Errorf("masking lan0 should leave the default route's line alone:\n%s", strings.Join(d, "\n"))
	}
}

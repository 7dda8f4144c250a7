package takeover

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/netstate"
	"github.com/xswitch/xswitch/internal/nstest"
)

// fakeSwitch records the bridges a takeover gives it.
type fakeSwitch struct {
	bridges map[string]Bridge
}

func (f *fakeSwitch) Attach(b Bridge) error { f.bridges[b.Name] = b; return nil }
func (f *fakeSwitch) Detach(b Bridge) error { delete(f.bridges, b.Name); return nil }
func (f *fakeSwitch) Ports(name string) []string {
	b, ok := f.bridges[name]
	if !ok {
		return nil
	}
	return append([]string{b.Uplink}, b.Ports...)
}

// dom0 makes a namespace playing dom0, enters it for the rest of the test,
// and wires its eth0 to a LAN namespace. dom0's eth0 holds IPv4 and IPv6
// addresses (a secondary with a label among them), its IPv6 link-local
// address made by the kernel, and routes in two tables, one with a source
// hint. DAD is off, so no address is ever tentative.
func dom0(t *testing.T) (ip func(args ...string) string) {
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "tkdom0")
	lan := nstest.Netns(t, "tklan")
	ip = func(args ...string) string { return nstest.Run(t, "ip", append([]string{"-n", ns}, args...)...) }
	for _, k := range []string{"all", "default"} {
		nstest.Run(t, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf."+k+".accept_dad=0")
	}
	nstest.Veth(t, ns, "eth0", lan, "eth0")
	ip("link", "set", "eth0", "down")
	ip("link", "set", "eth0", "addrgenmode", "eui64", "mtu", "1400", "up")
	nicAddresses(ip)
	nstest.Enter(t, ns)
	return ip
}

// nicAddresses gives eth0 dom0's addresses and routes, as the operator's
// files do at boot.
func nicAddresses(ip func(args ...string) string) {
	ip("addr", "add", "192.0.2.10/24", "dev", "eth0")
	ip("addr", "add", "192.0.2.11/24", "dev", "eth0", "label", "eth0:1")
	ip("addr", "add", "10.9.0.1/16", "brd", "+", "dev", "eth0")
	ip("-6", "addr", "add", "2001:db8::10/64", "dev", "eth0")
	ip("-6", "addr", "add", "2001:db8::11/64", "dev", "eth0", "preferred_lft", "600", "valid_lft", "1200")
	ip("route", "add", "default", "via", "192.0.2.1", "dev", "eth0", "src", "192.0.2.11", "metric", "50")
	ip("route", "add", "198.51.100.0/24", "via", "192.0.2.2", "dev", "eth0", "table", "100", "mtu", "1300")
	ip("-6", "route", "add", "default", "via", "2001:db8::1", "dev", "eth0", "metric", "10")
	ip("-6", "route", "add", "2001:db8:5::/48", "via", "2001:db8::2", "dev", "eth0", "table", "100")
}

// snapshot takes a snapshot once no IPv6 address is tentative any more:
// without DAD the kernel clears the flag at once, but from a work queue.
func snapshot(t *testing.T) *netstate.Snapshot {
	t.Helper()
	nl, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	for range 100 {
		s, err := netstate.Take(nl)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(s.Addrs, func(a netstate.Addr) bool { return slices.Contains(a.Flags, "tentative") }) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("IPv6 addresses still tentative after a second, with DAD off")
	return nil
}

// same fails the test if the namespace differs from want. Only the
// remaining lifetimes of addresses with a finite one are masked: they count
// down. Ifindexes are not compared: a host port or kernel bridge made again
// has a new one.
// A link's carrier (running) follows its ports' through the kernel's
// linkwatch, which may take up to a second: the comparison waits for it.
func same(t *testing.T, what string, want *netstate.Snapshot) {
	t.Helper()
	sameBut(t, what, want)
}

// sameBut is same, ignoring the links named.
func sameBut(t *testing.T, what string, want *netstate.Snapshot, links ...string) {
	t.Helper()
	var d []string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if d = netstate.Diff(want, snapshot(t), netstate.Mask{Lifetimes: true, Links: links}); len(d) == 0 {
			return
		}
	}
	t.Fatalf("%s: the namespace differs from before:\n%s", what, strings.Join(d, "\n"))
}

func newTaker(t *testing.T) (*Taker, *fakeSwitch) {
	st, err := OpenStore(filepath.Join(t.TempDir(), "takeover.json"))
	if err != nil {
		t.Fatal(err)
	}
	sw := &fakeSwitch{bridges: map[string]Bridge{}}
	return &Taker{Store: st, Switch: sw}, sw
}

// TestNIC takes a NIC over and releases it: dom0's addresses and routes
// move to the host port and back, and the namespace ends as it began.
func TestNIC(t *testing.T) {
	dom0(t)
	tk, sw := newTaker(t)
	before := snapshot(t)

	res, err := tk.Takeover("eth0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%d steps, outage %v)", res.Message, len(res.Steps), res.Outage)
	if !res.Changed || len(res.Addresses) != 6 || len(res.Routes) != 4 {
		t.Errorf("takeover moved %d addresses %v and %d routes %v, want 6 (5 and the link-local) and 4", len(res.Addresses), res.Addresses, len(res.Routes), res.Routes)
	}
	b := sw.bridges["xenbr0"]
	if b.Uplink != "peth0" || !slices.Equal(b.Ports, []string{"xhp-eth0"}) {
		t.Errorf("switch got %+v, want xenbr0 with uplink peth0 and port xhp-eth0", b)
	}
	taken := snapshot(t)
	for _, want := range []string{
		"addr eth0 inet 192.0.2.11/24 scope global secondary permanent label eth0:1",
		"route table main unicast default proto boot scope global via 192.0.2.1 dev eth0 src 192.0.2.11 metric 50",
		"route table 100 unicast 198.51.100.0/24 proto boot scope global via 192.0.2.2 dev eth0 mtu 1300",
		"route table 100 unicast 2001:db8:5::/48 proto boot scope global via 2001:db8::2 dev eth0 metric 1024",
	} {
		if !slices.Contains(taken.Lines(netstate.Mask{}), want) {
			t.Errorf("after the takeover, no %q:\n%s", want, strings.Join(taken.Lines(netstate.Mask{}), "\n"))
		}
	}
	if d := netstate.Diff(before, taken, netstate.Mask{Lifetimes: true, Links: []string{"eth0", "peth0", "xhp-eth0"}}); len(d) > 0 {
		t.Errorf("the takeover changed more than eth0:\n%s", strings.Join(d, "\n"))
	}
	lines := strings.Join(taken.Lines(netstate.Mask{}), "\n")
	if strings.Count(lines, "addr eth0 inet6 fe80:") != 1 || strings.Contains(lines, "addr peth0 inet ") {
		t.Errorf("after the takeover: one link-local on eth0 and no IPv4 on peth0 wanted:\n%s", lines)
	}

	again, err := tk.Takeover("eth0", Options{})
	if err != nil || again.Changed || !strings.Contains(again.Message, "nothing changed") {
		t.Errorf("second takeover: %+v, %v; want nothing changed", again, err)
	}
	same(t, "after a second takeover", taken)

	res, err = tk.Release("eth0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%d steps, outage %v)", res.Message, len(res.Steps), res.Outage)
	same(t, "after takeover and release", before)
	again, err = tk.Release("eth0", Options{})
	if err != nil || again.Changed {
		t.Errorf("second release: %+v, %v; want nothing changed", again, err)
	}
	if len(sw.bridges) != 0 || len(tk.Store.Records()) != 0 {
		t.Errorf("after release the switch has %v and the store %v", sw.bridges, tk.Store.Records())
	}
}

// TestNICRollback makes each step of the takeover and of the release fail
// in turn: the namespace is as it was before the failed call.
func TestNICRollback(t *testing.T) {
	dom0(t)
	tk, sw := newTaker(t)
	before := snapshot(t)
	n := drill(t, "takeover", before, func(k int) error { _, err := tk.Takeover("eth0", Options{FailAt: k}); return err })
	if len(sw.bridges) != 0 || len(tk.Store.Records()) != 0 {
		t.Fatalf("after failed takeovers the switch has %v and the store %v", sw.bridges, tk.Store.Records())
	}
	if _, err := tk.Takeover("eth0", Options{}); err != nil {
		t.Fatal(err)
	}
	taken := snapshot(t)
	m := drill(t, "release", taken, func(k int) error { _, err := tk.Release("eth0", Options{FailAt: k}); return err })
	t.Logf("each of %d takeover and %d release steps failed in turn, each rolled back", n, m)
}

// drill fails steps 1, 2, ... of call in turn, checking after each
// failure that the namespace equals want; it returns the number of steps.
func drill(t *testing.T, what string, want *netstate.Snapshot, call func(k int) error) int {
	t.Helper()
	for k := 1; ; k++ {
		err := call(k)
		if err == nil || !strings.Contains(err.Error(), errInjected.Error()) || !strings.Contains(err.Error(), "rolled back, nothing changed") || !errors.Is(err, ErrStep) {
			t.Fatalf("%s with a failure at step %d: %v; want the injected failure, rolled back", what, k, err)
		}
		same(t, fmt.Sprintf("%s failing at step %d", what, k), want)
		if strings.Contains(err.Error(), fmt.Sprintf("step %d of %d,", k, k)) {
			return k
		}
	}
}

// kernelBridge makes a namespace playing a Debian dom0 and enters it:
// kernel bridge xenbr0 with the NIC eth0 and a guest's vif1.0 as ports, and
// dom0's addresses and routes on the bridge.
func kernelBridgeDom0(t *testing.T) (ip func(args ...string) string) {
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "tkbr")
	lan := nstest.Netns(t, "tkbrlan")
	guest := nstest.Netns(t, "tkbrg")
	ip = func(args ...string) string { return nstest.Run(t, "ip", append([]string{"-n", ns}, args...)...) }
	for _, k := range []string{"all", "default"} {
		nstest.Run(t, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf."+k+".accept_dad=0")
	}
	nstest.Veth(t, ns, "eth0", lan, "eth0")
	nstest.Veth(t, ns, "vif1.0", guest, "eth0")
	ip("link", "add", "xenbr0", "address", "02:00:00:00:0b:01", "type", "bridge", "stp_state", "0", "forward_delay", "400",
		"ageing_time", "12000", "mcast_snooping", "0", "hello_time", "300")
	ip("link", "set", "eth0", "master", "xenbr0")
	ip("link", "set", "vif1.0", "master", "xenbr0")
	ip("link", "set", "xenbr0", "up")
	ip("addr", "add", "192.0.2.10/24", "dev", "xenbr0")
	ip("-6", "addr", "add", "2001:db8::10/64", "dev", "xenbr0")
	ip("route", "add", "default", "via", "192.0.2.1", "dev", "xenbr0", "src", "192.0.2.10")
	ip("route", "add", "198.51.100.0/24", "via", "192.0.2.2", "dev", "xenbr0", "table", "100")
	nstest.Enter(t, ns)
	return ip
}

// TestBridge migrates a kernel bridge to the switch and back.
func TestBridge(t *testing.T) {
	kernelBridgeDom0(t)
	tk, sw := newTaker(t)
	before := snapshot(t)
	set, err := readBridge(linkIndex(t, "xenbr0"))
	if err != nil {
		t.Fatal(err)
	}
	if set["forward_delay"] != 400 || set["ageing_time"] != 12000 || set["hello_time"] != 300 || set["mcast_snooping"] != 0 {
		t.Fatalf("settings read %v, want those the bridge was made with", set)
	}
	res, err := tk.Takeover("xenbr0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (outage %v)", res.Message, res.Outage)
	b := sw.bridges["xenbr0"]
	if b.Uplink != "eth0" || !slices.Equal(b.Ports, []string{"vif1.0", "xhp-xenbr0"}) {
		t.Errorf("switch got %+v, want xenbr0 with uplink eth0 and ports vif1.0, xhp-xenbr0", b)
	}
	taken := snapshot(t)
	if d := netstate.Diff(before, taken, netstate.Mask{Lifetimes: true, Links: []string{"xenbr0", "xhp-xenbr0", "eth0", "vif1.0"}}); len(d) > 0 {
		t.Errorf("the takeover changed more than the bridge and its ports:\n%s", strings.Join(d, "\n"))
	}
	lines := strings.Join(taken.Lines(netstate.Mask{}), "\n")
	for _, want := range []string{"addr xenbr0 inet 192.0.2.10/24", "link xenbr0 veth mac 02:00:00:00:0b:01", "via 192.0.2.1 dev xenbr0 src 192.0.2.10"} {
		if !strings.Contains(lines, want) {
			t.Errorf("after the takeover, no %q:\n%s", want, lines)
		}
	}
	if again, err := tk.Takeover("xenbr0", Options{}); err != nil || again.Changed {
		t.Errorf("second takeover: %+v, %v; want nothing changed", again, err)
	}
	if _, err := tk.Release("xenbr0", Options{}); err != nil {
		t.Fatal(err)
	}
	same(t, "after takeover and release", before)
	if got, err := readBridge(linkIndex(t, "xenbr0")); err != nil || !maps.Equal(got, set) {
		t.Errorf("settings after release %v (%v), want %v", got, err, set)
	}
}

// TestBridgeRollback fails each step of the bridge's takeover and release.
func TestBridgeRollback(t *testing.T) {
	kernelBridgeDom0(t)
	tk, _ := newTaker(t)
	before := snapshot(t)
	n := drill(t, "takeover", before, func(k int) error { _, err := tk.Takeover("xenbr0", Options{FailAt: k}); return err })
	if _, err := tk.Takeover("xenbr0", Options{}); err != nil {
		t.Fatal(err)
	}
	m := drill(t, "release", snapshot(t), func(k int) error { _, err := tk.Release("xenbr0", Options{FailAt: k}); return err })
	t.Logf("each of %d takeover and %d release steps failed in turn, each rolled back", n, m)
}

func linkIndex(t *testing.T, name string) int {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

// TestNICWithUpper: a NIC that carries a macvlan (or a VLAN device, which
// this kernel cannot make) is refused, untouched.
func TestNICWithUpper(t *testing.T) {
	ip := dom0(t)
	ip("link", "add", "mv0", "link", "eth0", "type", "macvlan")
	tk, _ := newTaker(t)
	before := snapshot(t)
	_, err := tk.Takeover("eth0", Options{})
	if err == nil || !strings.Contains(err.Error(), "[mv0]") || errors.Is(err, ErrStep) {
		t.Fatalf("takeover of a NIC with a macvlan: %v; want a refusal naming mv0", err)
	}
	same(t, "after a refused takeover", before)
}

package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// isolatedDrops sums the "isolated" drops over the bridge's ports, in the
// control API and in /metrics: the dataplane counts one where it refuses
// the frame.
func (d *dom0) isolatedDrops(names ...string) dropCounts {
	d.t.Helper()
	var sum dropCounts
	for _, name := range names {
		n := d.drops(name, "isolated")
		sum.api += n.api
		sum.metric += n.metric
	}
	return sum
}

// TestIsolation isolates three guests at run time with xswitchctl, next
// to a non-isolated uplink: they reach the LAN and the LAN reaches them,
// but no frame of one, unicast or flooded, reaches another, in userspace
// or on the fast path; and a guest set free again talks to the others.
func TestIsolation(t *testing.T) {
	eachPath(t, policyPaths, func(t *testing.T, mode string) { testIsolation(t, mode, false) })
}

// TestIsolationFromConfig isolates the guests in the configuration file.
func TestIsolationFromConfig(t *testing.T) {
	eachPath(t, []string{"off", "tc"}, func(t *testing.T, mode string) { testIsolation(t, mode, true) })
}

func testIsolation(t *testing.T, mode string, fromConfig bool) {
	d := newPolicyDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.32.0.1/24")
	b := d.guest("vif2.0", 2, "10.32.0.2/24")
	c := d.guest("vif3.0", 3, "10.32.0.3/24")
	up, err := d.host.AddUplink("peth0", topo.MAC(254), netip.MustParsePrefix("10.32.0.254/24"))
	if err != nil {
		t.Fatal(err)
	}
	quiet(t, a, b, c, up)
	if d.mode == "xdp" {
		nsRun(t, up.Netns, "ethtool", "-K", "eth0", "gro", "on")
	}
	settings := ""
	if fromConfig {
		settings = `
    port-settings:
      "vif*": {isolated: true}`
	}
	d.start(`
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*"]` + settings + "\n")
	all := []string{"peth0", "vif1.0", "vif2.0", "vif3.0"}
	d.waitPorts(2*time.Second, "peth0=xenbr0", "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	guests := []*topo.Guest{a, b, c}
	if !fromConfig {
		// Free at first: the guests reach each other, and learn where
		// they are.
		for _, g := range guests[1:] {
			if err := ping(t, a, g.Addr(), 2); err != nil {
				t.Fatal(err)
			}
		}
		for _, g := range guests {
			var ch control.PortChange
			if err := d.xswitchctl(&ch, "port", "set", g.Vif(), "-isolated"); err != nil {
				t.Fatal(err)
			}
			if !ch.Changed {
				t.Errorf("xswitchctl port set %s -isolated: %+v, want a change", g.Vif(), ch)
			}
			if err := d.xswitchctl(&ch, "port", "set", g.Vif(), "-isolated"); err != nil {
				t.Fatal(err)
			}
			if ch.Changed {
				t.Errorf("xswitchctl port set %s -isolated, twice: %+v, want no change", g.Vif(), ch)
			}
		}
	}
	ports := d.policyPorts()
	for _, name := range all {
		if got, want := ports[name].Isolated, name != "peth0"; got != want {
			t.Errorf("xswitchctl -json ports: %s isolated %v, want %v", name, got, want)
		}
	}
	atA, atB, atC, atUp := capture(t, a), capture(t, b), capture(t, c), capture(t, up)

	// Every guest reaches the LAN (which teaches the switch where all are).
	for _, g := range guests {
		if err := ping(t, g, up.Addr(), 2); err != nil {
			t.Error(err)
		}
	}
	fast := fastPath(mode) != "off"
	if fast {
		d.onFastPath("vif1.0", a, atUp, func(tag string) []byte { return marker(up.MAC(), a.MAC(), tag) })
		d.onFastPath("peth0", up, atA, func(tag string) []byte { return marker(a.MAC(), up.MAC(), tag) })
	}

	// Unicast between isolated guests, to MACs the switch has learned:
	// dropped, counted once per frame.
	dropped := d.isolatedDrops(all...)
	before := d.ports()
	const n = 50
	for i := range n {
		inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint("ab-", i)), marker(c.MAC(), a.MAC(), fmt.Sprint("ac-", i)))
		inject(t, c, marker(b.MAC(), c.MAC(), fmt.Sprint("cb-", i)))
	}
	// Flooded from an isolated guest: to the uplink only.
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ghost := net.HardwareAddr{0x02, 0xee, 0, 0, 0, 2}
	inject(t, a, marker(bcast, a.MAC(), "a-bcast"), marker(ghost, a.MAC(), "a-unknown"))
	// Between the uplink and the guests, both ways: delivered.
	for i := range n {
		inject(t, a, marker(up.MAC(), a.MAC(), fmt.Sprint("a-up-", i)))
		inject(t, up, marker(a.MAC(), up.MAC(), fmt.Sprint("up-a-", i)))
	}
	inject(t, up, marker(bcast, up.MAC(), "up-bcast"))

	for _, w := range []struct {
		who string
		at  *topo.Capture
	}{{"b", atB}, {"c", atC}, {"the uplink", atUp}} {
		exactly(t, w.at, w.who, taggedPrefix("ab-"), 0)
		exactly(t, w.at, w.who, taggedPrefix("ac-"), 0)
		exactly(t, w.at, w.who, taggedPrefix("cb-"), 0)
	}
	exactly(t, atUp, "the uplink", tagged("a-bcast"), 1)
	exactly(t, atUp, "the uplink", tagged("a-unknown"), 1)
	exactly(t, atUp, "the uplink", taggedPrefix("a-up-"), n)
	exactly(t, atA, "a", taggedPrefix("up-a-"), n)
	for _, w := range []struct {
		who string
		at  *topo.Capture
	}{{"b", atB}, {"c", atC}} {
		exactly(t, w.at, w.who, tagged("a-bcast"), 0)
		exactly(t, w.at, w.who, tagged("a-unknown"), 0)
		exactly(t, w.at, w.who, taggedPrefix("up-a-"), 0)
	}
	for _, w := range []struct {
		who string
		at  *topo.Capture
	}{{"a", atA}, {"b", atB}, {"c", atC}} {
		exactly(t, w.at, w.who, tagged("up-bcast"), 1)
	}
	if now := d.isolatedDrops(all...); now.api-dropped.api != 3*n || now.metric-dropped.metric != 3*n {
		t.Errorf("drops{reason=\"isolated\"} over the ports grew by %d in xswitchctl -json ports and by %d in /metrics, want exactly %d",
			now.api-dropped.api, now.metric-dropped.metric, 3*n)
	}
	after := d.ports()
	if fast {
		for _, p := range []string{"vif1.0", "peth0"} {
			if got := after[p].FastPathPackets - before[p].FastPathPackets; got != n {
				t.Errorf("%s: the fast path forwarded %d frames, want the %d learned ones to the other side", p, got, n)
			}
		}
	}
	for _, g := range guests[1:] {
		if err := ping(t, a, g.Addr(), 2); err == nil {
			t.Errorf("isolated guest a reached isolated guest %s", g.Addr())
		}
	}
	if err := ping(t, b, c.Addr(), 2); err == nil {
		t.Errorf("isolated guest b reached isolated guest c")
	}

	// Set free, a reaches the others again; b and c stay apart.
	var ch control.PortChange
	if err := d.xswitchctl(&ch, "port", "set", "vif1.0", "-isolated=false"); err != nil {
		t.Fatal(err)
	}
	if !ch.Changed {
		t.Errorf("xswitchctl port set vif1.0 -isolated=false: %+v, want a change", ch)
	}
	if got := d.policyPorts()["vif1.0"].Isolated; got {
		t.Errorf("vif1.0 still isolated after -isolated=false")
	}
	for i := range n {
		inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint("free-ab-", i)))
		inject(t, c, marker(b.MAC(), c.MAC(), fmt.Sprint("still-cb-", i)))
	}
	exactly(t, atB, "b", taggedPrefix("free-ab-"), n)
	exactly(t, atB, "b", taggedPrefix("still-cb-"), 0)
	if err := ping(t, a, b.Addr(), 2); err != nil {
		t.Errorf("a, no longer isolated: %v", err)
	}
}

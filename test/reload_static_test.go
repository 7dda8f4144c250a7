package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReloadStaticInPlace reloads files that pin the receiving guest's MAC
// and another to its port, move the other to a third port and unpin both,
// while a steady flow goes to that guest: the static MACs change in the
// table, no port is attached again, and the flow loses nothing.
func TestReloadStaticInPlace(t *testing.T) { forEachMode(t, testReloadStaticInPlace) }

func testReloadStaticInPlace(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.43.0.1/24")
	b := d.guest("vif2.0", 2, "10.43.0.2/24")
	d.guest("vif3.0", 3, "10.43.0.3/24")
	const base = `
bridges:
  - name: xenbr0
    ports: ["vif*.0"]
`
	d.start(base)
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	if err := ping(t, a, b.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	atB := capture(t, b)
	fl := startFlow(t, a, b)
	c := &churner{d: d}
	const other = "02:00:00:00:00:33"
	pins := func(otherPort string) string {
		return base + fmt.Sprintf("    static:\n      - {mac: %q, port: vif2.0}\n      - {mac: %q, port: %s}\n", b.MAC(), other, otherPort)
	}
	for _, step := range []struct {
		yaml      string
		bMAC, oth string // the ports the MACs are pinned to, "" when not
	}{
		{pins("vif2.0"), "vif2.0", "vif2.0"},
		{pins("vif3.0"), "vif2.0", "vif3.0"},
		{base, "", ""},
	} {
		c.reload(step.yaml)
		time.Sleep(100 * time.Millisecond) // frames of the flow go through the new table
		fdb := d.fdb()
		for mac, want := range map[string]string{b.MAC().String(): step.bMAC, other: step.oth} {
			if got := fdb["xenbr0 "+mac]; want != "" && got != want {
				t.Errorf("after reload %d: %s on %q, want %s", c.reloads, mac, got, want)
			}
		}
		if got, ok := fdb["xenbr0 "+other]; step.oth == "" && ok {
			t.Errorf("after reload %d: %s still on %s", c.reloads, other, got)
		}
	}
	sent := fl.end()
	exactly(t, atB, "b", taggedPrefix("flow-"), sent)
	log := d.log.String()
	for _, port := range []string{"vif1.0", "vif2.0", "vif3.0"} {
		re := regexp.MustCompile(`msg="port attached" bridge=\S+ port=` + regexp.QuoteMeta(port) + ` `)
		if got := len(re.FindAllString(log, -1)); got != 1 {
			t.Errorf("%s attached %d times, want once", port, got)
		}
	}
	t.Logf("%d frames of the a→b flow, each once, through %d reloads of static MACs", sent, c.reloads)
}

// TestReattachAFXDP detaches an AF_XDP port and attaches it again at once,
// 30 times: the kernel lets go of the old sockets' queue a little after
// they close, and the new ones must still bind, on the bridge's UMEM,
// without an error.
func TestReattachAFXDP(t *testing.T) {
	for _, mode := range modes {
		if isAFXDP(mode) {
			t.Run(mode, func(t *testing.T) { requireE2E(t); testReattachAFXDP(t, mode) })
		}
	}
}

func testReattachAFXDP(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.44.0.1/24")
	b := d.guest("vif2.0", 2, "10.44.0.2/24")
	d.start(`
bridges:
  - name: xenbr0
    ports: ["vif*.0"]
`)
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	c := &churner{d: d}
	for i := range 30 {
		c.ctl("port", "del", "vif2.0")
		c.ctl("port", "add", "xenbr0", "vif2.0")
		d.eventually(5*time.Second, "vif2.0 attached", func() error { return c.hasPort("vif2.0", true) })
		if p := d.ports()["vif2.0"]; p.AFXDP == nil || !p.AFXDP.SharesUMEM {
			t.Fatalf("attach %d: vif2.0 does not share the bridge's UMEM: %+v", i+1, p.AFXDP)
		}
	}
	if err := ping(t, a, b.Addr(), 1); err != nil {
		t.Error(err)
	}
	for _, msg := range []string{"cannot attach interface", "refused to share the bridge's UMEM"} {
		if n := strings.Count(d.log.String(), msg); n != 0 {
			t.Errorf("%q logged %d times", msg, n)
		}
	}
}

package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// TestKernelFlood checks that with fast path tc the programs flood a
// bridge's broadcasts themselves: each other guest gets each frame exactly
// once, the sender's port counts it flooded, and nothing is punted for it.
// A capture on one port hands the bridge's floods back to userspace, which
// delivers them exactly once too, and its end gives them to the kernel
// again.
func TestKernelFlood(t *testing.T) {
	d := newDom0(t, "tc")
	const guests = 5
	var (
		all  []*topo.Guest
		want []string
	)
	for i := range guests {
		vif := fmt.Sprintf("vif%d.0", i+1)
		all = append(all, d.guest(vif, i+1, fmt.Sprintf("10.21.0.%d/24", i+1)))
		want = append(want, vif+"=xenbr0")
	}
	d.start("")
	d.waitPorts(5*time.Second, want...)
	a := all[0]
	at := make([]*topo.Capture, guests)
	for i, g := range all {
		at[i] = capture(t, g)
	}
	sender := map[string]string{"bridge": "xenbr0", "port": "vif1.0"}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	// flood sends n broadcasts tagged prefix from a, checks that every
	// other guest got each once and a none, and returns what a's port
	// counted: frames flooded and frames punted as floods.
	flood := func(prefix string, n int) (flooded, punted float64) {
		t.Helper()
		before := d.scrape()
		for i := range n {
			inject(t, a, marker(bcast, a.MAC(), fmt.Sprint(prefix, i)))
		}
		for i, c := range at[1:] {
			exactly(t, c, all[i+1].Vif(), taggedPrefix(prefix), n)
			for j := range n {
				if got := c.Count(tagged(fmt.Sprint(prefix, j))); got != 1 {
					t.Fatalf("%s%d reached %s %d times", prefix, j, all[i+1].Vif(), got)
				}
			}
		}
		exactly(t, at[0], "a (sender)", taggedPrefix(prefix), 0)
		after := d.scrape()
		delta := func(name string, labels map[string]string) float64 {
			return value(t, after, name, labels) - value(t, before, name, labels)
		}
		return delta("xswitch_port_flooded_packets_total", sender), delta("xswitch_port_fastpath_punts_total", withReason(sender, "flood"))
	}

	const n = 20
	if flooded, punted := flood("k-", n); flooded != n || punted != 0 {
		t.Fatalf("kernel flooding: %v flooded, %v punted; want %d and 0", flooded, punted, n)
	}

	stop := d.startCapture("vif3.0", "-w", filepath.Join(d.dir, "vif3.0.pcapng"))
	if flooded, punted := flood("c-", n); flooded != n || punted != n {
		t.Fatalf("with a capture: %v flooded, %v punted; want %d and %d", flooded, punted, n, n)
	}
	stop()
	d.eventually(5*time.Second, "floods back in the kernel", func() error {
		if flooded, punted := flood(fmt.Sprint("e-", time.Now().UnixNano(), "-"), 1); flooded != 1 || punted != 0 {
			return fmt.Errorf("%v flooded, %v punted", flooded, punted)
		}
		return nil
	})
}

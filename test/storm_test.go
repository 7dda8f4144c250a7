package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// bcastMAC is the broadcast address.
var bcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// flood sends frame from g as fast as one goroutine can, in batches, until
// stop is closed; it returns how many it sent.
func flood(g *topo.Guest, frame []byte, stop <-chan struct{}) (sent *atomic.Int64, done <-chan struct{}) {
	sent = new(atomic.Int64)
	end := make(chan struct{})
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = frame
	}
	go func() {
		defer close(end)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// A full send buffer is not the test's business: the
			// storm goes on.
			if g.Inject(batch...) == nil {
				sent.Add(int64(len(batch)))
			}
		}
	}()
	return sent, end
}

// injectSure sends frame from g, again while g's link refuses it for a
// moment: ENOBUFS says it did not leave the guest (the backlog of the CPU
// it is sent on is full of the attack), which is no loss of the switch's.
func injectSure(g *topo.Guest, frame []byte) error {
	_, err := send(g, frame)
	return err
}

// TestStormControl has one guest flood broadcasts as fast as it can with
// a limit on its port: its drops of reason storm grow, the others get its
// broadcasts at no more than the limit, and their own floods and a unicast
// flow between two of them arrive, each frame exactly once.
func TestStormControl(t *testing.T) { forEachMode(t, testStormControl) }

func testStormControl(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.31.0.1/24") // the storm
	b := d.guest("vif2.0", 2, "10.31.0.2/24")
	c := d.guest("vif3.0", 3, "10.31.0.3/24")
	const limit = 200 // broadcasts/s of vif1.0
	d.start(fmt.Sprintf(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
    storm-control: {broadcast: 100000, unknown-unicast: 100000}
    port-settings:
      vif1.0: {storm-control: {broadcast: %d}}
`, limit))
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	atA, atB, atC := capture(t, a), capture(t, b), capture(t, c)
	for i, g := range []*topo.Guest{b, c} {
		inject(t, g, marker(bcastMAC, g.MAC(), fmt.Sprint("hello-", i)))
	}
	exactly(t, atA, "a", taggedPrefix("hello-"), 2)
	before := d.drops("vif1.0", "storm")

	stop := make(chan struct{})
	start := time.Now()
	sent, stormDone := flood(a, marker(bcastMAC, a.MAC(), "storm"), stop)
	var wg sync.WaitGroup
	const n = 2000
	wg.Go(func() { // unicast both ways and floods of their own, paced as a real flow
		for i := range n {
			err := injectSure(b, marker(c.MAC(), b.MAC(), fmt.Sprint("bc-", i)))
			if err == nil {
				err = injectSure(c, marker(b.MAC(), c.MAC(), fmt.Sprint("cb-", i)))
			}
			if err == nil && i%100 == 0 {
				err = injectSure(c, marker(bcastMAC, c.MAC(), fmt.Sprint("c-bcast-", i/100)))
			}
			if err != nil {
				t.Error(err)
				return
			}
			if i%50 == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	wg.Wait()
	time.Sleep(max(0, 2*time.Second-time.Since(start)))
	close(stop)
	<-stormDone
	elapsed := time.Since(start)

	exactly(t, atC, "c", taggedPrefix("bc-"), n)
	exactly(t, atB, "b", taggedPrefix("cb-"), n)
	exactly(t, atB, "b", taggedPrefix("c-bcast-"), n/100)
	exactly(t, atA, "a (the storm's guest)", taggedPrefix("c-bcast-"), n/100)
	for i := range n {
		if got := atC.Count(tagged(fmt.Sprint("bc-", i))); got != 1 {
			t.Fatalf("frame bc-%d arrived %d times at c, want once", i, got)
		}
	}
	// The storm's share: at most the limit and a burst, and some of it.
	allowed := int(float64(limit)*elapsed.Seconds()) + limit/10 + 8 + limit/2
	for who, cp := range map[string]*topo.Capture{"b": atB, "c": atC} {
		if got := cp.Count(tagged("storm")); got == 0 || got > allowed {
			t.Errorf("%s got %d of the %d storm broadcasts in %v, want 1 to %d (%d/s)", who, got, sent.Load(), elapsed, allowed, limit)
		}
	}
	after := d.drops("vif1.0", "storm")
	if after.api <= before.api || after.metric <= before.metric {
		t.Errorf("storm drops of vif1.0 did not grow: %+v → %+v", before, after)
	}
	t.Logf("%s: %d storm broadcasts sent in %v, %d dropped (storm), %d reached b", mode, sent.Load(), elapsed.Round(time.Millisecond),
		after.api-before.api, atB.Count(tagged("storm")))

	// A reload lifts vif1.0's own limit: a burst five times the bucket's
	// passes whole.
	if err := os.WriteFile(filepath.Join(d.dir, "xswitch.yaml"), []byte(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
    storm-control: {broadcast: 100000, unknown-unicast: 100000}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	const reloaded = `msg="configuration reloaded"`
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.eventually(5*time.Second, "reload", func() error {
		if !strings.Contains(d.log.String(), reloaded) {
			return errors.New("no reload logged")
		}
		return nil
	})
	burst := make([][]byte, 100)
	for i := range burst {
		burst[i] = marker(bcastMAC, a.MAC(), fmt.Sprint("after-reload-", i))
	}
	inject(t, a, burst...)
	exactly(t, atB, "b, after the reload", taggedPrefix("after-reload-"), len(burst))
}

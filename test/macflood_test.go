package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xswitch/xswitch/internal/topo"
)

// macFlood sends frames to dst from ever new random source MACs from g, as
// fast as one goroutine can, until stop is closed.
func macFlood(g *topo.Guest, dst []byte, stop <-chan struct{}) (sent *atomic.Int64, done <-chan struct{}) {
	sent = new(atomic.Int64)
	end := make(chan struct{})
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = marker(dst, g.MAC(), "macflood")
	}
	go func() {
		defer close(end)
		r := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, f := range batch {
				v := r.Uint64()
				for i := range 5 {
					f[7+i] = byte(v >> (8 * i))
				}
				f[6] = 0x02 // locally administered, unicast
			}
			if g.Inject(batch...) == nil {
				sent.Add(int64(len(batch)))
			}
		}
	}()
	return sent, end
}

// rssKiB is the resident set of process pid.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// fdbMapEntries counts the entries of the pinned MAC map that point at
// ifindex, and all of them; -1, -1 without a fast path.
func (d *dom0) fdbMapEntries(ifindex int) (on, all int) {
	d.t.Helper()
	m, err := ebpf.LoadPinnedMap(d.pinDir+"/xs_fdb", &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return -1, -1
	}
	defer m.Close()
	var (
		k []byte
		v []byte
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		all++
		if bytes.Equal(v[:4], []byte{byte(ifindex), byte(ifindex >> 8), byte(ifindex >> 16), byte(ifindex >> 24)}) {
			on++
		}
	}
	if err := it.Err(); err != nil {
		d.t.Fatal(err)
	}
	return on, all
}

// TestMACFlood has one guest send from random source MACs as fast as it
// can: its port's table entries stay within the bridge's per-port limit,
// in the daemon and in the fast path's map, the refusals are counted, the
// programs punt no frame for its unlearnable source, the daemon's memory
// stays flat, and two other guests keep their flow, each frame exactly once.
func TestMACFlood(t *testing.T) { forEachMode(t, testMACFlood) }

func testMACFlood(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.32.0.1/24") // the flood
	b := d.guest("vif2.0", 2, "10.32.0.2/24")
	c := d.guest("vif3.0", 3, "10.32.0.3/24")
	sink := d.guest("vif4.0", 4, "10.32.0.4/24") // where the flood goes: known, not captured
	const limit = 300
	d.start(fmt.Sprintf(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
    fdb: {max-per-port: %d}
`, limit))
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0", "vif4.0=xenbr0")
	atB, atC := capture(t, b), capture(t, c)
	for i, g := range []*topo.Guest{a, b, c, sink} {
		inject(t, g, marker(bcastMAC, g.MAC(), fmt.Sprint("hello-", i)))
	}
	exactly(t, atB, "b", taggedPrefix("hello-"), 3)
	idx := d.hostLink("vif1.0").Index
	pid := d.cmd.Process.Pid
	rssBefore := rssKiB(t, pid)
	mf := d.scrape()
	refusedBefore := value(t, mf, "xswitch_fdb_refused_total", map[string]string{"bridge": "xenbr0"})
	rxBefore := value(t, mf, "xswitch_port_receive_packets_total", map[string]string{"port": "vif1.0"})
	puntsBefore := d.ports()["vif1.0"].Punts["unknown_source"]

	stop := make(chan struct{})
	start := time.Now()
	sent, floodDone := macFlood(a, sink.MAC(), stop)
	var wg sync.WaitGroup
	const n = 2000
	wg.Go(func() {
		for i := range n {
			err := injectSure(b, marker(c.MAC(), b.MAC(), fmt.Sprint("bc-", i)))
			if err == nil {
				err = injectSure(c, marker(b.MAC(), c.MAC(), fmt.Sprint("cb-", i)))
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
	time.Sleep(max(0, 3*time.Second-time.Since(start)))
	close(stop)
	<-floodDone
	elapsed := time.Since(start)

	exactly(t, atC, "c", taggedPrefix("bc-"), n)
	exactly(t, atB, "b", taggedPrefix("cb-"), n)
	for i := range n {
		if got := atC.Count(tagged(fmt.Sprint("bc-", i))); got != 1 {
			t.Fatalf("frame bc-%d arrived %d times at c, want once", i, got)
		}
	}
	onPort := 0
	for k, p := range d.fdb() {
		if p == "vif1.0" && strings.HasPrefix(k, "xenbr0 ") {
			onPort++
		}
	}
	if onPort > limit || onPort < limit/2 {
		t.Errorf("the table holds %d MACs of vif1.0, want up to its limit of %d (and most of it)", onPort, limit)
	}
	if on, all := d.fdbMapEntries(idx); on > limit || all > limit+8 {
		t.Errorf("the fast path's MAC map holds %d entries of vif1.0 and %d in all, want at most %d and %d", on, all, limit, limit+8)
	}
	mf = d.scrape()
	refused := value(t, mf, "xswitch_fdb_refused_total", map[string]string{"bridge": "xenbr0"}) - refusedBefore
	punts := d.ports()["vif1.0"].Punts["unknown_source"] - puntsBefore
	// Every frame the switch received from the flood but the first MACs
	// it learned; the kernel may have dropped more, its ring full.
	rx := value(t, mf, "xswitch_port_receive_packets_total", map[string]string{"port": "vif1.0"}) - rxBefore
	if refused < 0.95*(rx-limit) || rx < float64(sent.Load())/10 {
		t.Errorf("xswitch_fdb_refused_total grew by %.0f for %.0f frames received of %d sent from new MACs", refused, rx, sent.Load())
	}
	if punts > limit {
		t.Errorf("the fast path punted %d frames for their unknown source, want none past the limit of %d", punts, limit)
	}
	rss := rssKiB(t, pid)
	if rss-rssBefore > 8<<10 {
		t.Errorf("the daemon's RSS grew from %d KiB to %d KiB", rssBefore, rss)
	}
	t.Logf("%s: %d frames from new MACs in %v, %.0f received; table %d, refused %.0f, unknown_source punts %d, RSS %d → %d KiB",
		mode, sent.Load(), elapsed.Round(time.Millisecond), rx, onPort, refused, punts, rssBefore, rss)
}

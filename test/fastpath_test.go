package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// learnBoth makes a and b known to the switch and waits until the fast path
// has both MACs: a frame between them is then forwarded in the kernel.
func (d *dom0) learnBoth(a, b *topo.Guest, atA, atB *topo.Capture) {
	d.t.Helper()
	inject(d.t, a, marker(b.MAC(), a.MAC(), "hello-a"))
	exactly(d.t, atB, "b", tagged("hello-a"), 1)
	inject(d.t, b, marker(a.MAC(), b.MAC(), "hello-b"))
	exactly(d.t, atA, "a", tagged("hello-b"), 1)
	d.eventually(2*time.Second, "a's flow on the fast path", func() error {
		before := d.ports()[a.Vif()].FastPathPackets
		inject(d.t, a, marker(b.MAC(), a.MAC(), "probe"))
		if err := atB.WaitFor(tagged("probe"), 1, time.Second); err != nil {
			return err
		}
		if d.ports()[a.Vif()].FastPathPackets == before {
			return fmt.Errorf("the probe went through userspace")
		}
		return nil
	})
}

// TestFastPathFollowsMove moves a MAC to another port while frames to it
// keep coming, and checks that they reach the new port within 100 ms and
// that each arrives exactly once, at one port or the other.
func TestFastPathFollowsMove(t *testing.T) { fastModes(t, testFastPathFollowsMove) }

func testFastPathFollowsMove(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.16.0.1/24")
	b := d.guest("vif2.0", 2, "10.16.0.2/24")
	c := d.guest("vif3.0", 3, "10.16.0.3/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	atA, atB, atC := capture(t, a), capture(t, b), capture(t, c)
	d.learnBoth(a, b, atA, atB)

	// a sends to b's MAC every 2 ms; after 100 ms, b's MAC shows up behind c.
	const n, every = 200, 2 * time.Millisecond
	sent := make([]time.Time, n)
	var moved time.Time
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := range n {
			<-tick.C
			if i == 50 {
				moved = time.Now()
				if err := c.Inject(marker(a.MAC(), b.MAC(), "moved")); err != nil {
					t.Error(err)
				}
			}
			sent[i] = time.Now()
			if err := a.Inject(marker(b.MAC(), a.MAC(), fmt.Sprint("mv-", i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	exactly(t, atA, "a", tagged("moved"), 1)
	time.Sleep(settle)

	first := -1
	for i := range n {
		m := tagged(fmt.Sprint("mv-", i))
		inB, inC := atB.Count(m), atC.Count(m)
		if inB+inC != 1 {
			t.Errorf("frame mv-%d arrived %d times at the old port and %d at the new one, want once", i, inB, inC)
		}
		if inC == 1 && first < 0 {
			first = i
		}
		if first >= 0 && inB != 0 {
			t.Errorf("frame mv-%d reached the old port after mv-%d reached the new one", i, first)
		}
	}
	if first < 0 {
		t.Fatal("no frame reached the new port")
	}
	lag := sent[first].Sub(moved)
	// Frames sent before the move frame belong to the old port.
	if first < 50 {
		t.Errorf("frame mv-%d, sent before the move, reached the new port", first)
	}
	if lag > 100*time.Millisecond {
		t.Errorf("traffic reached the new port %v after the move, want within 100ms", lag)
	}
	t.Logf("first frame at the new port: mv-%d, sent %v after the move", first, lag.Round(time.Millisecond))
}

// TestRestartLosesNothing restarts xswitchd in the middle of a 10-second
// constant-rate learned unicast flow: the fast path carries it while no
// daemon runs, and the new daemon adopts the pinned state.
func TestRestartLosesNothing(t *testing.T) { fastModes(t, testRestartLosesNothing) }

func testRestartLosesNothing(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.17.0.1/24")
	b := d.guest("vif2.0", 2, "10.17.0.2/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	atA, atB := capture(t, a), capture(t, b)
	d.learnBoth(a, b, atA, atB)

	// 10 s at 1000 frames/s, 10 frames every 10 ms.
	const seconds, rate, burst = 10, 1000, 10
	const n = seconds * rate
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Second * burst / rate)
		defer tick.Stop()
		for i := 0; i < n; i += burst {
			<-tick.C
			frames := make([][]byte, burst)
			for j := range frames {
				frames[j] = marker(b.MAC(), a.MAC(), fmt.Sprint("rs-", i+j))
			}
			if err := a.Inject(frames...); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(3 * time.Second)
	stopped := time.Now()
	d.stop()
	down := time.Since(stopped)
	// A second with no daemon at all: 1000 frames only the kernel carries.
	time.Sleep(time.Second)
	d.start("")
	d.waitPorts(5*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	restarted := time.Since(stopped)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := atB.WaitFor(taggedPrefix("rs-"), n, 10*time.Second); err != nil {
		t.Error(err)
	}
	time.Sleep(settle)
	lost, dup := 0, 0
	for i := range n {
		switch atB.Count(tagged(fmt.Sprint("rs-", i))) {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	t.Logf("%d frames sent; stop took %v, ports back after %v; %d lost, %d duplicated",
		n, down.Round(time.Millisecond), restarted.Round(time.Millisecond), lost, dup)
	if lost != 0 || dup != 0 {
		t.Errorf("restart lost %d and duplicated %d of %d frames", lost, dup, n)
	}
	// The new daemon warmed its table from the pinned map.
	fdb := d.fdb()
	if fdb["xenbr0 "+a.MAC().String()] != "vif1.0" || fdb["xenbr0 "+b.MAC().String()] != "vif2.0" {
		t.Errorf("restarted daemon's fdb %v lacks a or b", fdb)
	}
	if !strings.Contains(d.log.String(), "adopted") {
		t.Errorf("the restarted daemon did not say it adopted the pinned fast path")
	}
}

// TestXDPTargetFollowsGRO turns GRO off in a guest while xdp mode
// redirects to its veth: the veth then takes no XDP frames, and the switch
// must notice at once and leave those frames to TC instead of losing them.
func TestXDPTargetFollowsGRO(t *testing.T) {
	d := newDom0(t, "xdp")
	a := d.guest("vif1.0", 1, "10.19.0.1/24")
	b := d.guest("vif2.0", 2, "10.19.0.2/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	atA, atB := capture(t, a), capture(t, b)
	d.learnBoth(a, b, atA, atB)

	send := func(tag string, n int) {
		t.Helper()
		for i := range n {
			inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint(tag, i)))
		}
		exactly(t, atB, "b", taggedPrefix(tag), n)
	}
	xdp := func() uint64 {
		var v []control.Port
		if err := d.ctl.Get(t.Context(), "/v1/ports", nil, &v); err != nil {
			t.Fatal(err)
		}
		for _, p := range v {
			if p.Name == "vif1.0" {
				return p.FastPathPackets
			}
		}
		return 0
	}
	send("gro-on-", 100)
	if out, err := b.Command(t.Context(), "ethtool", "-K", "eth0", "gro", "off").CombinedOutput(); err != nil {
		t.Fatalf("ethtool: %v\n%s", err, out)
	}
	// The kernel announces the change at once; leave the daemon ample time.
	time.Sleep(time.Second)
	before := xdp()
	send("gro-off-", 100)
	if got := xdp() - before; got != 100 {
		t.Errorf("fast path forwarded %d of 100 frames after GRO went off, want all (by TC)", got)
	}
}

// TestClsactHook runs the TC fast path on the clsact qdisc, as on kernels
// without tcx: it forwards, survives a restart, and -cleanup removes it.
func TestClsactHook(t *testing.T) {
	d := newDom0(t, "tc")
	d.args = []string{"-tc-hook", "clsact"}
	a := d.guest("vif1.0", 1, "10.20.0.1/24")
	b := d.guest("vif2.0", 2, "10.20.0.2/24")
	filters := func() int {
		t.Helper()
		return d.sumOverLinks(func(l netlink.Link) (n int, err error) {
			fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
			for _, f := range fs {
				if bf, ok := f.(*netlink.BpfFilter); ok && strings.HasPrefix(bf.Name, "xswitch") {
					n++
				}
			}
			return n, err
		}, "vif1.0", "vif2.0")
	}
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	if n, tcx := filters(), d.fastPathPrograms("vif1.0", "vif2.0"); n != 2 || tcx != 0 {
		t.Fatalf("%d clsact filters and %d tcx/XDP programs on the vifs, want 2 and 0", n, tcx)
	}
	atA, atB := capture(t, a), capture(t, b)
	d.learnBoth(a, b, atA, atB)

	before := d.ports()["vif1.0"]
	for i := range 200 {
		inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint("cl-", i)))
	}
	exactly(t, atB, "b", taggedPrefix("cl-"), 200)
	after := d.ports()["vif1.0"]
	if after.FastPathPackets-before.FastPathPackets != 200 || after.RxPackets != before.RxPackets {
		t.Errorf("fast path forwarded %d, userspace saw %d, of 200 learned frames; want 200 and 0",
			after.FastPathPackets-before.FastPathPackets, after.RxPackets-before.RxPackets)
	}

	// While no daemon runs, the filters forward; the next one replaces them.
	d.stop()
	for i := range 100 {
		inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint("down-", i)))
	}
	exactly(t, atB, "b", taggedPrefix("down-"), 100)
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	if n := filters(); n != 2 {
		t.Errorf("%d clsact filters after the restart, want 2", n)
	}
	d.stop()
	if out, err := d.cleanup(); err != nil {
		t.Fatalf("xswitchd -cleanup: %v\n%s", err, out)
	}
	if n := filters(); n != 0 {
		t.Errorf("%d clsact filters left after xswitchd -cleanup", n)
	}
}

// TestVLANTags sends 802.1Q-tagged frames through every path: flooded
// (punted, with the fast path), learned per VLAN, forwarded in the kernel
// once learned; each arrives with its tag, and a MAC learned in one VLAN is
// unknown in another.
func TestVLANTags(t *testing.T) { forEachMode(t, testVLANTags) }

func testVLANTags(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.21.0.1/24")
	b := d.guest("vif2.0", 2, "10.21.0.2/24")
	c := d.guest("vif3.0", 3, "10.21.0.3/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	atA, atB, atC := capture(t, a), capture(t, b), capture(t, c)
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// withTag matches marker tag carried in VLAN vid, tag and all.
	withTag := func(tag string, vid uint16) func([]byte) bool {
		m := tagged(tag)
		return func(f []byte) bool {
			return len(f) > 16 && f[12] == 0x81 && f[13] == 0 && (uint16(f[14])<<8|uint16(f[15]))&0xfff == vid && m(f)
		}
	}
	tag := func(f []byte, vid uint16) []byte { return topo.Tag(f, 0x8100, vid) }

	// Flooded with the tag; the sources are learned in VLAN 10.
	inject(t, a, tag(marker(bcast, a.MAC(), "v10-bcast"), 10))
	exactly(t, atB, "b", withTag("v10-bcast", 10), 1)
	exactly(t, atC, "c", withTag("v10-bcast", 10), 1)
	inject(t, b, tag(marker(a.MAC(), b.MAC(), "v10-reply"), 10))
	exactly(t, atA, "a", withTag("v10-reply", 10), 1)
	exactly(t, atC, "c", tagged("v10-reply"), 0)

	// Learned unicast in VLAN 10: to b only, tagged, exactly once; with a
	// fast path, in the kernel.
	before := d.ports()["vif1.0"]
	const n = 50
	for i := range n {
		inject(t, a, tag(marker(b.MAC(), a.MAC(), fmt.Sprint("v10-uni-", i)), 10))
	}
	if err := atB.WaitFor(taggedPrefix("v10-uni-"), n, 5*time.Second); err != nil {
		t.Error(err)
	}
	time.Sleep(settle)
	after := d.ports()["vif1.0"]
	got := 0
	for i := range n {
		if atB.Count(withTag(fmt.Sprint("v10-uni-", i), 10)) == 1 {
			got++
		}
	}
	if got != n {
		t.Errorf("b got %d of %d tagged unicast frames exactly once, with their tag", got, n)
	}
	exactly(t, atC, "c", taggedPrefix("v10-uni-"), 0)
	if fastPath(mode) != "off" && after.FastPathPackets-before.FastPathPackets != n {
		t.Errorf("fast path forwarded %d of %d learned tagged frames", after.FastPathPackets-before.FastPathPackets, n)
	}

	// b's MAC is unknown in VLAN 20: flooded there, tag 20 kept.
	inject(t, a, tag(marker(b.MAC(), a.MAC(), "v20-uni"), 20))
	exactly(t, atB, "b", withTag("v20-uni", 20), 1)
	exactly(t, atC, "c", withTag("v20-uni", 20), 1)
}

// TestFastPathTalkerDoesNotAge has a MAC talk only through the fast path
// for twice the aging time: the ager reads the kernel's last-seen time, so
// the MAC stays learned.
func TestFastPathTalkerDoesNotAge(t *testing.T) { fastModes(t, testFastPathTalkerDoesNotAge) }

func testFastPathTalkerDoesNotAge(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.22.0.1/24")
	b := d.guest("vif2.0", 2, "10.22.0.2/24")
	// b is static: only a's entry can age.
	d.start(fmt.Sprintf(`
bridges:
  - name: br-age
    ports: ["vif*"]
    aging-time: 1s
    static:
      - {mac: "%s", port: vif2.0}
`, b.MAC()))
	d.waitPorts(2*time.Second, "vif1.0=br-age", "vif2.0=br-age")
	atB := capture(t, b)
	inject(t, a, marker(b.MAC(), a.MAC(), "hello"))
	exactly(t, atB, "b", tagged("hello"), 1)
	before := d.ports()["vif1.0"]
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint("alive-", i)))
		time.Sleep(50 * time.Millisecond)
	}
	after := d.ports()["vif1.0"]
	if after.RxPackets != before.RxPackets {
		t.Errorf("userspace saw %d frames of the learned flow", after.RxPackets-before.RxPackets)
	}
	if got := d.fdb()["br-age "+a.MAC().String()]; got != "vif1.0" {
		t.Errorf("a, talking through the fast path for 3 aging periods, is learned on %q, want vif1.0", got)
	}
}

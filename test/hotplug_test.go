package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestHotplug adds and removes vifs while two other guests exchange frames:
// the flow loses nothing, new vifs join the bridge their name says within a
// second, and a removed vif's MACs are forgotten at once.
func TestHotplug(t *testing.T) { forEachMode(t, testHotplug) }

func testHotplug(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.11.0.1/24")
	b := d.guest("vif2.0", 2, "10.11.0.2/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	if err := ping(t, a, b.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	atB := capture(t, b)

	// A steady flow from a to b during the whole test.
	fl := startFlow(t, a, b)

	// Guests start: each joins the bridge of its device index.
	c := d.guest("vif7.0", 7, "10.11.0.7/24")
	e := d.guest("vif8.1", 8, "10.11.0.8/24")
	emu := d.guest("vif9.0-emu", 9, "10.11.0.9/24")
	d.guest("eth5", 5, "10.11.0.5/24") // not a Xen name: never attached
	d.waitPorts(time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif7.0=xenbr0", "vif8.1=xenbr1", "vif9.0-emu=xenbr0")
	if err := ping(t, c, a.Addr(), 1); err != nil {
		t.Error(err)
	}
	if err := ping(t, emu, b.Addr(), 1); err != nil {
		t.Error(err)
	}
	if got := d.fdb()["xenbr0 "+c.MAC().String()]; got != "vif7.0" {
		t.Errorf("c learned on %q, want vif7.0", got)
	}

	// Guests stop: their vifs go, and so do their MACs.
	for _, g := range []interface{ Remove() error }{c, e, emu} {
		if err := g.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	d.waitPorts(time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	if got, ok := d.fdb()["xenbr0 "+c.MAC().String()]; ok {
		t.Errorf("MAC of a removed vif still learned on %s", got)
	}
	// A vif name comes back (Xen never reuses a domid, but a test may).
	c2 := d.guest("vif7.0", 17, "10.11.0.17/24")
	d.waitPorts(time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif7.0=xenbr0")
	if err := ping(t, c2, b.Addr(), 1); err != nil {
		t.Error(err)
	}

	sent := fl.end()
	exactly(t, atB, "b", taggedPrefix("flow-"), sent)
	for i := range sent {
		if n := atB.Count(tagged(fmt.Sprint("flow-", i))); n != 1 {
			t.Fatalf("flow frame %d arrived %d times, want once", i, n)
		}
	}
	t.Logf("%d frames of the a→b flow, none lost, during 3 attaches, 3 detaches and a re-attach", sent)
}

// TestMalformedFrames injects frames a switch must survive. Frames with a
// multicast source are dropped and counted; a frame too big for its egress
// port is dropped and counted there; random bytes are forwarded or dropped
// by the same rules; forwarding goes on.
func TestMalformedFrames(t *testing.T) { forEachMode(t, testMalformedFrames) }

func testMalformedFrames(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.12.0.1/24")
	b := d.guest("vif2.0", 2, "10.12.0.2/24")
	// a's link takes jumbo frames, b's does not.
	for _, set := range []func() error{
		func() error { return d.host.SetMTU("vif1.0", 9000) },
		func() error { return a.SetMTU("eth0", 9000) },
	} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
	}
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	if err := ping(t, a, b.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	before, scrapeBefore := d.ports(), d.scrape()
	atB := capture(t, b)

	mcastSrc := net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x07}
	const nMcast = 5
	for i := range nMcast {
		inject(t, a, marker(b.MAC(), mcastSrc, fmt.Sprint("mcast-src-", i)))
	}
	big := marker(b.MAC(), a.MAC(), "jumbo")
	big = append(big, make([]byte, 4000)...)
	inject(t, a, big)

	// Random frames: those with a group source bit must be dropped.
	rnd := []byte("seed for the random frames of the malformed test.")
	var nRandom, nRandomMcast uint64
	for i := range 100 {
		f := make([]byte, 60+i)
		for j := range f {
			rnd = append(rnd[1:], rnd[0]^byte(i*31+j*7))
			f[j] = rnd[0] ^ byte(j*13+i)
		}
		f[0] |= 0x01 // keep them off b's unicast path: flooded or dropped
		nRandom++
		if f[6]&1 != 0 {
			nRandomMcast++
		}
		inject(t, a, f)
	}
	exactly(t, atB, "b", taggedPrefix("mcast-src-"), 0)
	exactly(t, atB, "b", tagged("jumbo"), 0)
	// Forwarding goes on.
	if err := ping(t, a, b.Addr(), 2); err != nil {
		t.Error(err)
	}

	after, scrapeAfter := d.ports(), d.scrape()
	pa, pb := after["vif1.0"], after["vif2.0"]
	ba, bb := before["vif1.0"], before["vif2.0"]
	if got, want := pa.Drops["multicast_source"]-ba.Drops["multicast_source"], nMcast+nRandomMcast; got != want {
		t.Errorf("vif1.0 multicast_source drops: %d, want %d", got, want)
	}
	// The jumbo frame fits vif1.0 but not vif2.0's MTU (an AF_XDP port
	// takes it in over several UMEM frames).
	if got := pb.Drops["mtu"] - bb.Drops["mtu"]; got != 1 {
		t.Errorf("vif2.0 mtu drops: %d, want 1", got)
	}
	// What the port received, whichever path took it: the fast path
	// floods some of the random multicast frames itself.
	labels := map[string]string{"bridge": "xenbr0", "port": "vif1.0"}
	received := value(t, scrapeAfter, "xswitch_port_receive_packets_total", labels) - value(t, scrapeBefore, "xswitch_port_receive_packets_total", labels)
	if want := nMcast + 1 + nRandom; received < float64(want) {
		t.Errorf("vif1.0 received %.0f frames, want at least the %d injected", received, want)
	}
}

// TestStopReleasesPorts checks that SIGTERM hands every interface back as it
// was: promiscuous mode off again, and the control socket gone.
func TestStopReleasesPorts(t *testing.T) { forEachMode(t, testStopReleasesPorts) }

func testStopReleasesPorts(t *testing.T, mode string) {
	d := newDom0(t, mode)
	d.guest("vif1.0", 1, "10.14.0.1/24")
	d.guest("vif2.0", 2, "10.14.0.2/24")
	promisc := func() int {
		t.Helper()
		return d.sumOverLinks(func(l netlink.Link) (int, error) { return l.Attrs().Promisc, nil }, "vif1.0", "vif2.0")
	}
	if n := promisc(); n != 0 {
		t.Fatalf("%d vifs promiscuous before the switch started", n)
	}
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	if n := promisc(); n != 2 {
		t.Errorf("%d of 2 vifs promiscuous while attached", n)
	}
	attached := d.fastPathPrograms("vif1.0", "vif2.0")
	if want := map[string]int{"off": 0, "tc": 2, "xdp": 4, "afxdp-off": 2, "afxdp-xdp": 2}[mode]; attached != want {
		t.Errorf("%d fast-path programs attached to the vifs, want %d", attached, want)
	}
	d.stop()
	if n := promisc(); n != 0 {
		t.Errorf("%d vifs still promiscuous after SIGTERM", n)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "ctl.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
	// The fast path outlives the daemon, for the next one to adopt; the
	// clean stop removes it.
	if got := d.fastPathPrograms("vif1.0", "vif2.0"); got != attached {
		t.Errorf("%d fast-path programs attached after SIGTERM, want %d still", got, attached)
	}
	if out, err := d.cleanup(); err != nil {
		t.Fatalf("xswitchd -cleanup: %v\n%s", err, out)
	}
	if got := d.fastPathPrograms("vif1.0", "vif2.0"); got != 0 {
		t.Errorf("%d fast-path programs still attached after xswitchd -cleanup", got)
	}
	if _, err := os.Stat(d.pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin directory left behind by -cleanup: %v", err)
	}
}

// TestPortRemovedUnderTraffic removes a guest's port while another guest
// blasts frames at it, unicast and flooded: the switch goes on, and a flow
// between two other guests loses nothing. (With AF_XDP ports the removed
// port's UMEM frames, also those other ports hold, go back to the pool.)
func TestPortRemovedUnderTraffic(t *testing.T) { forEachMode(t, testPortRemovedUnderTraffic) }

func testPortRemovedUnderTraffic(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.15.0.1/24")
	b := d.guest("vif2.0", 2, "10.15.0.2/24")
	c := d.guest("vif3.0", 3, "10.15.0.3/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	if err := ping(t, a, c.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	atB := capture(t, b)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the blast at c: learned unicast and broadcast
		defer wg.Done()
		uni := marker(c.MAC(), a.MAC(), "blast")
		bcast := marker(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, a.MAC(), "blast-bcast")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := uni
			if i%8 == 0 {
				f = bcast
			}
			a.Inject(f) // errors (ENOBUFS) are fine: this is a flood
		}
	}()
	sent := 0
	go func() { // the flow that must not suffer, from another guest
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := c.Inject(marker(b.MAC(), c.MAC(), fmt.Sprint("flow-", sent))); err != nil {
					return // c is gone
				}
				sent++
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if sent < 100 {
		t.Fatalf("only %d frames of the c→b flow were sent", sent)
	}
	// Every frame c got out before its vif went arrives once; none twice.
	got := atB.Count(taggedPrefix("flow-"))
	for i := range sent {
		if n := atB.Count(tagged(fmt.Sprint("flow-", i))); n > 1 {
			t.Fatalf("flow frame %d arrived %d times", i, n)
		}
	}
	if got < sent-2 {
		t.Errorf("b got %d of the %d frames c sent before its removal", got, sent)
	}
	// The switch still forwards, between the guests that are left.
	if err := ping(t, a, b.Addr(), 2); err != nil {
		t.Error(err)
	}
	t.Logf("c→b: %d of %d frames; the a→c blast ran until c's vif was removed", got, sent)
}

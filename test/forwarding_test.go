package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/hostport"
	"github.com/xswitch/xswitch/internal/topo"
)

func TestPingWithinBridgeNotAcross(t *testing.T) { forEachMode(t, testPingWithinBridgeNotAcross) }

func testPingWithinBridgeNotAcross(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.7.0.1/24")
	b := d.guest("vif2.0", 2, "10.7.0.2/24")
	up, err := d.host.AddUplink("peth0", topo.MAC(254), netip.MustParsePrefix("10.7.0.254/24"))
	if err != nil {
		t.Fatal(err)
	}
	// Same subnet, other bridge: only the switch keeps it apart.
	other := d.guest("vif3.1", 3, "10.7.0.3/24")
	d.start("")
	// In auto mode the uplink brings xenbr0's host port.
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "peth0=xenbr0", hostport.Peer("eth0")+"=xenbr0", "vif3.1=xenbr1")

	seen := capture(t, other)
	if err := ping(t, a, b.Addr(), 3); err != nil {
		t.Error(err)
	}
	if err := ping(t, b, up.Addr(), 3); err != nil {
		t.Error(err)
	}
	if err := ping(t, a, other.Addr(), 2); err == nil {
		t.Error("a guest of xenbr0 reached a guest of xenbr1")
	}
	time.Sleep(settle)
	for _, f := range seen.Frames() {
		if src := net.HardwareAddr(f[6:12]); src.String() != other.MAC().String() {
			t.Errorf("guest of xenbr1 received a frame from %s (xenbr0): %x", src, f)
		}
	}
	fdb := d.fdb()
	for _, g := range []struct {
		mac  net.HardwareAddr
		port string
	}{{a.MAC(), "vif1.0"}, {b.MAC(), "vif2.0"}, {up.MAC(), "peth0"}} {
		if got := fdb["xenbr0 "+g.mac.String()]; got != g.port {
			t.Errorf("fdb: %s learned on %q, want %s", g.mac, got, g.port)
		}
	}
}

func TestLearningAndFlooding(t *testing.T) { forEachMode(t, testLearningAndFlooding) }

func testLearningAndFlooding(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.8.0.1/24")
	b := d.guest("vif2.0", 2, "10.8.0.2/24")
	c := d.guest("vif3.0", 3, "10.8.0.3/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")

	// The first exchange: ARP broadcast, then unicast replies; both MACs learned.
	if err := ping(t, a, b.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	atB, atC, atA := capture(t, b), capture(t, c), capture(t, a)
	const n = 200
	for i := range n {
		inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint("ab-", i)))
		inject(t, b, marker(a.MAC(), b.MAC(), fmt.Sprint("ba-", i)))
	}
	exactly(t, atB, "b", taggedPrefix("ab-"), n)
	exactly(t, atA, "a", taggedPrefix("ba-"), n)
	exactly(t, atC, "c (bystander)", taggedPrefix("ab-"), 0)
	exactly(t, atC, "c (bystander)", taggedPrefix("ba-"), 0)
	for i := range n {
		if atB.Count(tagged(fmt.Sprint("ab-", i))) != 1 {
			t.Fatalf("frame ab-%d did not arrive exactly once at b", i)
		}
	}

	// A broadcast reaches every other guest exactly once, not the sender.
	inject(t, a, marker(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, a.MAC(), "bcast"))
	exactly(t, atB, "b", tagged("bcast"), 1)
	exactly(t, atC, "c", tagged("bcast"), 1)
	exactly(t, atA, "a (sender)", tagged("bcast"), 0)

	// Unknown unicast floods.
	ghost := net.HardwareAddr{0x02, 0xee, 0, 0, 0, 1}
	inject(t, a, marker(ghost, a.MAC(), "unknown"))
	exactly(t, atB, "b", tagged("unknown"), 1)
	exactly(t, atC, "c", tagged("unknown"), 1)
}

func TestAgingAndMove(t *testing.T) { forEachMode(t, testAgingAndMove) }

func testAgingAndMove(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.9.0.1/24")
	b := d.guest("vif2.0", 2, "10.9.0.2/24")
	c := d.guest("vif3.0", 3, "10.9.0.3/24")
	d.start(`
bridges:
  - name: br-age
    ports: ["vif*"]
    aging-time: 2s
`)
	d.waitPorts(2*time.Second, "vif1.0=br-age", "vif2.0=br-age", "vif3.0=br-age")
	atA, atB, atC := capture(t, a), capture(t, b), capture(t, c)

	// X is a MAC that no kernel uses: it talks only when the test says so.
	x := net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	inject(t, b, marker(a.MAC(), x, "x-hello"))
	exactly(t, atA, "a", tagged("x-hello"), 1)
	if got := d.fdb()["br-age "+x.String()]; got != "vif2.0" {
		t.Fatalf("x learned on %q, want vif2.0", got)
	}
	inject(t, a, marker(x, a.MAC(), "to-x-1"))
	exactly(t, atB, "b", tagged("to-x-1"), 1)
	exactly(t, atC, "c", tagged("to-x-1"), 0)

	// X moves behind c: traffic follows at once.
	inject(t, c, marker(a.MAC(), x, "x-moved"))
	exactly(t, atA, "a", tagged("x-moved"), 1)
	inject(t, a, marker(x, a.MAC(), "to-x-2"))
	exactly(t, atC, "c", tagged("to-x-2"), 1)
	exactly(t, atB, "b", tagged("to-x-2"), 0)

	// X falls silent: aged out within aging time plus the ager's period.
	d.eventually(5*time.Second, "x aged out", func() error {
		if p, ok := d.fdb()["br-age "+x.String()]; ok {
			return fmt.Errorf("x still on %s", p)
		}
		return nil
	})
	inject(t, a, marker(x, a.MAC(), "to-x-3"))
	exactly(t, atB, "b", tagged("to-x-3"), 1)
	exactly(t, atC, "c", tagged("to-x-3"), 1)
}

// TestTCPWithOffloads moves 64 MiB between guests that keep their default
// offloads (TSO, GSO, checksum offload) and checks the content, and that the
// switch carried super-frames unsegmented. With AF_XDP the path is mixed:
// the sender's port is an AF_PACKET port without fast path, so its
// super-frames reach userspace, and the receiver's an AF_XDP port, which
// must cut them and finish their checksums in software; the receiver's
// ACKs come with checksums left pending, which its port finishes.
func TestTCPWithOffloads(t *testing.T) { forEachMode(t, testTCPWithOffloads) }

func testTCPWithOffloads(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.10.0.1/24")
	b := d.guest("vif2.0", 2, "10.10.0.2/24")
	if isAFXDP(mode) {
		d.start(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
    port-types: {vif1.0: afpacket}
    port-fastpath: {vif1.0: "off"}
`)
	} else {
		d.start("")
	}
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")

	l, err := b.Listen("tcp", b.Addr().String()+":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const size = 64 << 20
	got := receiveSum(l)
	conn, err := a.Dial(t.Context(), "tcp", b.Addr().String()+":5001")
	if err != nil {
		t.Fatal(err)
	}
	w, err := sendRandom(conn, [32]byte{7}, size)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g != w {
			t.Fatalf("received %s, want %s", g, w)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("transfer did not finish within 60s")
	}

	p := d.ports()["vif1.0"]
	if isAFXDP(mode) {
		x := d.ports()["vif2.0"].AFXDP
		if p.RxGSO == 0 || x == nil || x.Segmented == 0 || x.ChecksumsCompleted == 0 {
			t.Errorf("vif1.0 received %d super-frames; AF_XDP port vif2.0: %+v: want super-frames cut and checksums finished", p.RxGSO, x)
		}
		t.Logf("vif1.0: %d super-frames; vif2.0: %+v", p.RxGSO, x)
		return
	}
	if mode == "off" {
		if p.RxGSO == 0 {
			t.Errorf("no super-frame crossed the switch from vif1.0 (rx %d frames, %d bytes)", p.RxPackets, p.RxBytes)
		}
		if avg := p.RxBytes / max(p.RxPackets, 1); avg <= 1514 {
			t.Errorf("average frame from vif1.0 is %d bytes: super-frames were segmented before the switch", avg)
		}
		t.Logf("vif1.0: %d frames, %d super-frames, %d bytes on average", p.RxPackets, p.RxGSO, p.RxBytes/max(p.RxPackets, 1))
		return
	}
	if p.FastPathPackets == 0 {
		t.Errorf("no frame from vif1.0 took the fast path (userspace saw %d)", p.RxPackets)
	}
	avg := p.FastPathBytes / max(p.FastPathPackets, 1)
	switch mode {
	case "tc":
		// TC redirects the skbs whole: the stream keeps its super-frames.
		if avg <= 1514 {
			t.Errorf("average fast-path frame from vif1.0 is %d bytes: the stream was segmented", avg)
		}
	case "xdp":
		// Native XDP on a veth makes the kernel turn TSO off on the
		// guest's end (which is why auto mode gives veths TC), so the
		// frames may be segmented here; the content check above shows that
		// XDP left the segments whose checksums were still pending to TC.
	}
	t.Logf("vif1.0: %d fast-path frames of %d bytes on average; %d frames through userspace", p.FastPathPackets, p.FastPathBytes/max(p.FastPathPackets, 1), p.RxPackets)
}

// TestStaticMAC pins a MAC to a port in the configuration: frames to it go
// there before it ever speaks, and it does not move when it shows up
// behind another port.
func TestStaticMAC(t *testing.T) { forEachMode(t, testStaticMAC) }

func testStaticMAC(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.15.0.1/24")
	b := d.guest("vif2.0", 2, "10.15.0.2/24")
	c := d.guest("vif3.0", 3, "10.15.0.3/24")
	d.start(`
bridges:
  - name: br-st
    ports: ["vif*"]
    static:
      - {mac: "02:bb:00:00:00:01", port: vif2.0}
`)
	d.waitPorts(2*time.Second, "vif1.0=br-st", "vif2.0=br-st", "vif3.0=br-st")
	atA, atB, atC := capture(t, a), capture(t, b), capture(t, c)
	x := net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 1}

	inject(t, a, marker(x, a.MAC(), "to-x-1"))
	exactly(t, atB, "b", tagged("to-x-1"), 1)
	exactly(t, atC, "c", tagged("to-x-1"), 0)

	// X appears behind c: forwarded, but the entry stays on vif2.0.
	inject(t, c, marker(a.MAC(), x, "x-from-c"))
	exactly(t, atA, "a", tagged("x-from-c"), 1)
	inject(t, a, marker(x, a.MAC(), "to-x-2"))
	exactly(t, atB, "b", tagged("to-x-2"), 1)
	exactly(t, atC, "c", tagged("to-x-2"), 0)
	if got := d.fdb()["br-st "+x.String()]; got != "vif2.0" {
		t.Errorf("static MAC on %q, want vif2.0", got)
	}
}

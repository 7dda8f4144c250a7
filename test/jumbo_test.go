package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// jumboMTU is the MTU of a storage or DRBD bridge's guests and vifs.
const jumboMTU = 9000

// TestJumboFrames carries frames up to an MTU of 9000 between two guests,
// in every mode: pings of sizes across the range, each answered exactly
// once and not fragmented, then a TCP transfer checked by sha256. With
// AF_XDP the frames span several UMEM frames.
func TestJumboFrames(t *testing.T) { forEachMode(t, testJumboFrames) }

func testJumboFrames(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.90.0.1/24")
	b := d.guest("vif2.0", 2, "10.90.0.2/24")
	setMTU(t, d, jumboMTU, a, b)
	d.start(`
bridges:
  - name: br-jumbo
    ports: ["vif*"]
`)
	d.waitPorts(2*time.Second, "vif1.0=br-jumbo", "vif2.0=br-jumbo")
	// The first frames the switch carries are jumbo ones: ports that have
	// never received take them too.
	if err := pingOnce(t, a, b.Addr().String(), jumboMTU-28, 1); err != nil {
		t.Error(err)
	}
	pingSizes(t, a, b.Addr().String())
	rate := jumboTransfer(t, a, b, 20<<20)
	t.Logf("%s: 20 MiB over TCP at MTU %d: %.0f Mbit/s", mode, jumboMTU, rate)

	if isAFXDP(mode) {
		// The stream's frames crossed the AF_XDP ports whole: more than
		// a standard frame on average.
		p := d.ports()["vif1.0"]
		if avg := p.RxBytes / max(p.RxPackets, 1); avg <= 1514 {
			t.Errorf("vif1.0 received %d frames of %d bytes on average: no jumbo frame crossed its AF_XDP sockets", p.RxPackets, avg)
		}
		if x := p.AFXDP; x == nil {
			t.Errorf("vif1.0 is not an AF_XDP port: %+v", p)
		}
	}
}

// TestJumboMTURaised raises the MTU of guests and vifs to 9000 after the
// ports attached: the switch follows, and jumbo frames pass.
func TestJumboMTURaised(t *testing.T) { forEachMode(t, testJumboMTURaised) }

func testJumboMTURaised(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.91.0.1/24")
	b := d.guest("vif2.0", 2, "10.91.0.2/24")
	d.start(`
bridges:
  - name: br-jumbo
    ports: ["vif*"]
`)
	d.waitPorts(2*time.Second, "vif1.0=br-jumbo", "vif2.0=br-jumbo")
	if err := ping(t, a, b.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	setMTU(t, d, jumboMTU, a, b)
	d.eventually(5*time.Second, "a ping of 8972 bytes answered", func() error {
		return pingOnce(t, a, b.Addr().String(), jumboMTU-28, 1)
	})
	pingSizes(t, a, b.Addr().String())
	d.waitPorts(time.Second, "vif1.0=br-jumbo", "vif2.0=br-jumbo")
}

// setMTU sets the MTU of the guests' eth0 and of their vifs.
func setMTU(t *testing.T, d *dom0, mtu int, guests ...*topo.Guest) {
	t.Helper()
	for _, g := range guests {
		if err := g.SetMTU("eth0", mtu); err != nil {
			t.Fatal(err)
		}
		if err := d.host.SetMTU(g.Vif(), mtu); err != nil {
			t.Fatal(err)
		}
	}
}

// pingSizes pings to from g with payloads across the range up to the MTU,
// each size three times.
func pingSizes(t *testing.T, g *topo.Guest, to string) {
	t.Helper()
	for _, size := range []int{56, 1472, 1500, 4000, 8000, jumboMTU - 28} {
		if err := pingOnce(t, g, to, size, 3); err != nil {
			t.Error(err)
		}
	}
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pingOnce sends count unfragmented pings of size bytes of payload from g
// and checks that each was answered exactly once.
func pingOnce(t *testing.T, g *topo.Guest, to string, size, count int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := g.Command(ctx, "ping", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "2", "-M", "do", "-s", fmt.Sprint(size), to).CombinedOutput()
	m := pingSummary.FindStringSubmatch(string(out))
	switch {
	case m == nil:
		return fmt.Errorf("ping -s %d: %v\n%s", size, err, out)
	case m[1] != fmt.Sprint(count) || m[2] != fmt.Sprint(count) || strings.Contains(string(out), "duplicates"):
		return fmt.Errorf("ping -s %d: %s transmitted, %s answered, want each of %d answered once\n%s", size, m[1], m[2], count, out)
	}
	return nil
}

// jumboTransfer moves size pseudo-random bytes from a to b over TCP, checks them
// by sha256 and returns the rate in Mbit/s.
func jumboTransfer(t *testing.T, a, b *topo.Guest, size int) float64 {
	t.Helper()
	l, err := b.Listen("tcp", b.Addr().String()+":5009")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := receiveSum(l)
	start := time.Now()
	conn, err := a.Dial(t.Context(), "tcp", b.Addr().String()+":5009")
	if err != nil {
		t.Fatal(err)
	}
	w, err := sendRandom(conn, [32]byte{'j', 'u', 'm', 'b', 'o'}, size)
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
	return float64(size) * 8 / time.Since(start).Seconds() / 1e6
}

// TestJumboBeyondAFXDP gives links an MTU no AF_XDP port carries: auto mode
// makes such an uplink an AF_PACKET port, while a like uplink of standard
// MTU gets AF_XDP, and a port set to afxdp is refused with its name, its
// MTU and the limit in the log.
func TestJumboBeyondAFXDP(t *testing.T) {
	const huge = 65000
	d := newDom0(t, "xdp")
	d.args = append(d.args, "-host-ports=false")
	if _, err := d.host.AddUplink("peth1", topo.MAC(1), netip.MustParsePrefix("10.92.0.1/24")); err != nil {
		t.Fatal(err)
	}
	up, err := d.host.AddUplink("peth2", topo.MAC(2), netip.MustParsePrefix("10.93.0.1/24"))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.SetMTU("eth0", huge); err != nil {
		t.Fatal(err)
	}
	if err := d.host.SetMTU("peth2", huge); err != nil {
		t.Fatal(err)
	}
	g := d.guest("vif3.0", 3, "10.93.0.3/24")
	setMTU(t, d, huge, g)
	d.start(`
bridges:
  - name: br-std
    uplink: peth1
  - name: br-huge
    uplink: peth2
    ports: ["vif*"]
    port-types: {vif3.0: afxdp}
`)
	d.waitPorts(5*time.Second, "peth1=br-std", "peth2=br-huge")
	ports := d.ports()
	if k := ports["peth1"].Kind; k != "afxdp" {
		t.Fatalf("auto made the uplink of MTU 1500 %q, want afxdp: no native XDP on a veth here?", k)
	}
	if k := ports["peth2"].Kind; k != "afpacket" {
		t.Errorf("auto made the uplink of MTU %d %q, want afpacket", huge, k)
	}
	want := fmt.Sprintf("MTU %d, at most 61422", huge)
	d.eventually(2*time.Second, "the refusal of vif3.0 logged", func() error {
		for _, line := range strings.Split(d.log.String(), "\n") {
			if strings.Contains(line, "cannot attach interface") && strings.Contains(line, "vif3.0") && strings.Contains(line, want) {
				return nil
			}
		}
		return fmt.Errorf("no line with %q and vif3.0", want)
	})
}

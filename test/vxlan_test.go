package e2e

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// The underlay joins the hosts of a VXLAN test: a veth ul0 in each host,
// with these addresses, and the guests' subnet on top of it.
const (
	vtepA     = "10.77.0.1"
	vtepB     = "10.77.0.2"
	tunnelMTU = 1450 // the underlay veth's 1500 minus 50 bytes of VXLAN over IPv4
)

// ipIn runs ip in host h and fails the test if it fails.
func ipIn(t *testing.T, h *topo.Host, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", h.Name()}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v\n%s", h.Name(), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// bridgeIn runs bridge(8) in host h.
func bridgeIn(t *testing.T, h *topo.Host, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", h.Name(), "bridge"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("bridge %s in %s: %v\n%s", strings.Join(args, " "), h.Name(), err, out)
	}
	return string(out)
}

// joinUnderlay wires host a's ul0 (vtepA) to host b's ul0 (vtepB).
func joinUnderlay(t *testing.T, a, b *topo.Host) {
	t.Helper()
	ipIn(t, a, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.Name())
	ipIn(t, a, "addr", "add", vtepA+"/24", "dev", "ul0")
	ipIn(t, b, "addr", "add", vtepB+"/24", "dev", "ul0")
	ipIn(t, a, "link", "set", "ul0", "up")
	ipIn(t, b, "link", "set", "ul0", "up")
}

// plainHost is a host namespace without xswitchd, deleted when the test ends.
func plainHost(t *testing.T, prefix string) *topo.Host {
	t.Helper()
	h, err := topo.NewHost(prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return h
}

// kernelVTEP makes host h the kernel's way: a bridge br0 with a VXLAN
// device of VNI 100 (learning, as a static fabric has it) that floods to
// remote, and the given guests' vifs.
func kernelVTEP(t *testing.T, h *topo.Host, local, remote string, vifs ...string) {
	t.Helper()
	ipIn(t, h, "link", "add", "vxlan100", "type", "vxlan", "id", "100", "local", local, "dstport", "4789", "dev", "ul0")
	ipIn(t, h, "link", "set", "vxlan100", "addrgenmode", "none", "up")
	bridgeIn(t, h, "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan100", "dst", remote)
	if err := h.AddBridge("br0", append([]string{"vxlan100"}, vifs...)...); err != nil {
		t.Fatal(err)
	}
}

// tunnelGuest adds a guest whose MTU (both ends of its veth) fits the
// tunnel.
func tunnelGuest(t *testing.T, h *topo.Host, add func() (*topo.Guest, error)) *topo.Guest {
	t.Helper()
	g, err := add()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetMTU("eth0", tunnelMTU); err != nil {
		t.Fatal(err)
	}
	if err := h.SetMTU(g.Vif(), tunnelMTU); err != nil {
		t.Fatal(err)
	}
	return g
}

// vxlanYAML is host A's configuration: guests' vifs and VNI 100 over ul0,
// flooding to remote.
func vxlanYAML(local, remote string) string {
	return fmt.Sprintf(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
    vxlan:
      - {vni: 100, local: %s, underlay: ul0, flood: [%s]}
`, local, remote)
}

// transfer sends size random bytes over TCP from a to b and checks them by
// their sha256.
func transfer(t *testing.T, a, b *topo.Guest, size int) {
	t.Helper()
	l, err := b.Listen("tcp", b.Addr().String()+":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := receiveSum(l)
	conn, err := a.Dial(t.Context(), "tcp", b.Addr().String()+":5001")
	if err != nil {
		t.Fatal(err)
	}
	w, err := sendRandom(conn, [32]byte{16}, size)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g != w {
			t.Fatalf("%s received %s, want %s", b.Name(), g, w)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("transfer did not finish within 60s")
	}
}

// checkTunnelFastPath checks that the unicast between guest a of host d
// and the remote guests crossed the tunnel port in the kernel: the frames
// the tunnel delivered, and (with TC or XDP on the vifs, which an AF_XDP
// vif has not for frames it cannot redirect in XDP) those a sent.
func checkTunnelFastPath(t *testing.T, d *dom0, mode string, a *topo.Guest) {
	t.Helper()
	ports := d.ports()
	vx, va := ports["vxlan100"], ports[a.Vif()]
	t.Logf("%s: vxlan100 %d fast-path frames, %d through userspace; %s %d fast-path, %d through userspace",
		mode, vx.FastPathPackets, vx.RxPackets, a.Vif(), va.FastPathPackets, va.RxPackets)
	if fastPath(mode) == "off" {
		if vx.RxPackets == 0 {
			t.Errorf("userspace saw nothing from vxlan100")
		}
		return
	}
	if vx.FastPathPackets == 0 || vx.FastPathPackets < vx.RxPackets {
		t.Errorf("vxlan100: %d frames in the fast path, %d through userspace: want most in the fast path", vx.FastPathPackets, vx.RxPackets)
	}
	if !isAFXDP(mode) && (va.FastPathPackets == 0 || va.FastPathPackets < va.RxPackets) {
		t.Errorf("%s: %d frames in the fast path, %d through userspace: want most in the fast path", a.Vif(), va.FastPathPackets, va.RxPackets)
	}
}

// TestVXLANToKernelBridge joins a bridge of xswitchd to a kernel bridge on
// another host through VNI 100: guests ping across and pass a TCP stream
// intact, the broadcasts reach the other host through the flood list, and
// the unicast takes the fast path. A guest whose MTU is too large for the
// tunnel is reported when it attaches.
func TestVXLANToKernelBridge(t *testing.T) { forEachMode(t, testVXLANToKernelBridge) }

func testVXLANToKernelBridge(t *testing.T, mode string) {
	d := newDom0(t, mode)
	hb := plainHost(t, "e2evxb")
	joinUnderlay(t, d.host, hb)
	a1 := tunnelGuest(t, d.host, func() (*topo.Guest, error) { return d.guest("vif1.0", 1, "10.78.0.1/24"), nil })
	d.guest("vif2.0", 2, "10.78.0.2/24") // MTU 1500: too large for the tunnel
	b1 := tunnelGuest(t, hb, func() (*topo.Guest, error) {
		return hb.AddGuest("vif1.0", topo.MAC(11), netip.MustParsePrefix("10.78.0.11/24"))
	})
	kernelVTEP(t, hb, vtepB, vtepA, "vif1.0")
	d.start(vxlanYAML(vtepA, vtepB))
	d.waitPorts(5*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vxlan100=xenbr0")

	// Logged as the last of the ports attaches.
	d.eventually(2*time.Second, "the MTU warning for vif2.0", func() error {
		if !strings.Contains(d.log.String(), `msg="port MTU 1500 exceeds what tunnel port vxlan100 carries (1450: underlay ul0's MTU 1500 minus 50 bytes of VXLAN overhead): `+
			`frames of more than 1450 bytes to other hosts are lost; lower the guest's MTU or raise the underlay's" port=vif2.0`) {
			return fmt.Errorf("not in the log")
		}
		return nil
	})
	if strings.Contains(d.log.String(), "port=vif1.0 bridge=xenbr0 mtu=") {
		t.Errorf("an MTU warning for vif1.0, whose MTU fits")
	}

	if err := ping(t, a1, b1.Addr(), 5); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, b1, a1.Addr(), 5); err != nil {
		t.Fatal(err)
	}
	transfer(t, a1, b1, 16<<20)
	transfer(t, b1, a1, 16<<20)

	if port := d.fdb()["xenbr0 "+b1.MAC().String()]; port != "vxlan100" {
		t.Errorf("%s is behind %q, want vxlan100", b1.MAC(), port)
	}
	if fdb := bridgeIn(t, hb, "fdb", "show", "dev", "vxlan100"); !strings.Contains(fdb, a1.MAC().String()+" dst "+vtepA) {
		t.Errorf("the kernel VTEP did not learn %s behind %s:\n%s", a1.MAC(), vtepA, fdb)
	}
	checkTunnelFastPath(t, d, mode, a1)
}

// TestVXLANTwoSwitches joins two hosts that both run xswitchd, each with
// the other in its tunnel's flood list.
func TestVXLANTwoSwitches(t *testing.T) { forEachMode(t, testVXLANTwoSwitches) }

func testVXLANTwoSwitches(t *testing.T, mode string) {
	da, db := newDom0(t, mode), newDom0(t, mode)
	joinUnderlay(t, da.host, db.host)
	a1 := tunnelGuest(t, da.host, func() (*topo.Guest, error) { return da.guest("vif1.0", 1, "10.79.0.1/24"), nil })
	b1 := tunnelGuest(t, db.host, func() (*topo.Guest, error) { return db.guest("vif1.0", 11, "10.79.0.11/24"), nil })
	b2 := tunnelGuest(t, db.host, func() (*topo.Guest, error) { return db.guest("vif2.0", 12, "10.79.0.12/24"), nil })
	da.start(vxlanYAML(vtepA, vtepB))
	db.start(vxlanYAML(vtepB, vtepA))
	da.waitPorts(5*time.Second, "vif1.0=xenbr0", "vxlan100=xenbr0")
	db.waitPorts(5*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vxlan100=xenbr0")

	for _, b := range []*topo.Guest{b1, b2} {
		if err := ping(t, a1, b.Addr(), 3); err != nil {
			t.Fatal(err)
		}
	}
	transfer(t, a1, b1, 16<<20)
	transfer(t, b2, a1, 16<<20)
	checkTunnelFastPath(t, da, mode, a1)
	checkTunnelFastPath(t, db, mode, b1)

	// Stopping keeps the devices (the fast path goes on forwarding);
	// -cleanup deletes them, as xswitchd made them.
	da.stop()
	if out := ipIn(t, da.host, "-d", "link", "show", "vxlan100"); !strings.Contains(out, "vxlan id 100") {
		t.Fatalf("vxlan100 after xswitchd stopped:\n%s", out)
	}
	out, err := da.cleanup()
	if err != nil || !strings.Contains(string(out), "tunnel port vxlan100 removed") {
		t.Fatalf("xswitchd -cleanup: %v\n%s", err, out)
	}
	if out, err := exec.Command("ip", "-n", da.host.Name(), "link", "show", "vxlan100").CombinedOutput(); err == nil {
		t.Fatalf("vxlan100 after -cleanup:\n%s", out)
	}
}

// TestVXLANOnVLAN carries one VLAN of a bridge in VNI 100: the tunnel port
// is an access port of VLAN 10, so a guest of VLAN 10 reaches the other
// host's guest (untagged on its side, as the kernel bridge there has no
// VLANs) and a guest of VLAN 20 does not.
func TestVXLANOnVLAN(t *testing.T) { forEachMode(t, testVXLANOnVLAN) }

func testVXLANOnVLAN(t *testing.T, mode string) {
	d := newDom0(t, mode)
	hb := plainHost(t, "e2evxb")
	joinUnderlay(t, d.host, hb)
	a10 := tunnelGuest(t, d.host, func() (*topo.Guest, error) { return d.guest("vif1.0", 1, "10.80.0.1/24"), nil })
	a20 := tunnelGuest(t, d.host, func() (*topo.Guest, error) { return d.guest("vif2.0", 2, "10.80.0.2/24"), nil })
	b1 := tunnelGuest(t, hb, func() (*topo.Guest, error) {
		return hb.AddGuest("vif1.0", topo.MAC(11), netip.MustParsePrefix("10.80.0.11/24"))
	})
	kernelVTEP(t, hb, vtepB, vtepA, "vif1.0")
	d.start(fmt.Sprintf(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
    port-settings:
      vif1.0: {vlan: "access 10"}
      vif2.0: {vlan: "access 20"}
    vxlan:
      - {vni: 100, local: %s, underlay: ul0, flood: [%s], vlan: 10}
`, vtepA, vtepB))
	d.waitPorts(5*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vxlan100=xenbr0")
	if vlan := d.ports()["vxlan100"].VLAN; vlan != "access 10" {
		t.Errorf("vxlan100 VLANs %q, want access 10", vlan)
	}
	if err := ping(t, a10, b1.Addr(), 3); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, b1, a10.Addr(), 3); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, a20, b1.Addr(), 2); err == nil {
		t.Fatal("a guest of VLAN 20 reached the other host through the tunnel of VLAN 10")
	}
	if port := d.fdbVLANs()["10 "+b1.MAC().String()]; port != "vxlan100" {
		t.Errorf("%s in VLAN 10 is behind %q, want vxlan100", b1.MAC(), port)
	}
}

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/hostport"
	"github.com/xswitch/xswitch/internal/topo"
)

// TestHostPort gives dom0 an address on a bridge's host port: dom0 reaches
// a guest and a LAN host through it; while xswitchd is killed, learned
// unicast between dom0 and the guest keeps flowing in the fast path; a new
// xswitchd adopts the host port (same interface, addresses intact), and
// -cleanup keeps it unless asked to remove it.
func TestHostPort(t *testing.T) {
	requireE2E(t)
	for _, mode := range []string{"tc", "xdp"} {
		t.Run("auto/"+mode, func(t *testing.T) { testHostPort(t, mode, "") })
	}
	t.Run("config/tc", func(t *testing.T) {
		testHostPort(t, "tc", `
bridges:
  - name: lan
    uplink: peth0
    ports: ["vif*.0"]
    host-port: {name: dom0lan, mac: "02:00:00:00:0d:00", mtu: 1500}
  - name: guests
    ports: ["vif*.2"]
`)
	})
}

// TestHostPortsOff: with -host-ports=false auto mode gives the uplink's
// bridge no host port.
func TestHostPortsOff(t *testing.T) {
	d := newDom0(t, "tc")
	if _, err := d.host.AddUplink("peth0", topo.MAC(254), netip.MustParsePrefix("10.33.0.254/24")); err != nil {
		t.Fatal(err)
	}
	d.args = append(d.args, "-host-ports=false")
	d.start("")
	d.waitPorts(5*time.Second, "peth0=xenbr0")
	time.Sleep(settle)
	d.waitPorts(time.Second, "peth0=xenbr0")
	for _, n := range []string{"eth0", hostport.Peer("eth0")} {
		if err := d.host.Do(func() error { _, err := netlink.LinkByName(n); return err }); err == nil {
			t.Errorf("%s exists with -host-ports=false", n)
		}
	}
}

func testHostPort(t *testing.T, mode, yaml string) {
	d := newDom0(t, mode)
	lan, err := d.host.AddUplink("peth0", topo.MAC(254), netip.MustParsePrefix("10.31.0.254/24"))
	if err != nil {
		t.Fatal(err)
	}
	g := d.guest("vif1.0", 1, "10.31.0.1/24")
	// A bridge without an uplink gets no host port unless the file asks.
	d.guest("vif2.2", 2, "10.32.0.2/24")
	name, bridge, other := "eth0", "xenbr0", "xenbr2"
	if yaml != "" {
		name, bridge, other = "dom0lan", "lan", "guests"
	}
	peer := hostport.Peer(name)
	ports := []string{"peth0=" + bridge, "vif1.0=" + bridge, peer + "=" + bridge, "vif2.2=" + other}
	d.start(yaml)
	d.waitPorts(5*time.Second, ports...)

	before := d.hostLink(name)
	up := d.hostLink("peth0")
	wantMAC := up.HardwareAddr.String() // auto mode: a copy of pethN's
	if yaml != "" {
		wantMAC = "02:00:00:00:0d:00"
	}
	if got := before.HardwareAddr.String(); got != wantMAC || before.MTU != up.MTU || before.Flags&(1<<0) == 0 {
		t.Errorf("host port %s: MAC %s, MTU %d, flags %v; want MAC %s, MTU %d, up", name, got, before.MTU, before.Flags, wantMAC, up.MTU)
	}
	// dom0's stack hands the host port large TCP segments and leaves the
	// checksums to it, as on the bridge device.
	out, err := d.host.Command(t.Context(), "ethtool", "-k", name).CombinedOutput()
	if err != nil {
		t.Fatalf("ethtool -k %s: %v\n%s", name, err, out)
	}
	for _, f := range []string{"tcp-segmentation-offload: on", "tx-checksumming: on", "generic-segmentation-offload: on"} {
		if !strings.Contains(string(out), f) {
			t.Errorf("host port %s: want %q\n%s", name, f, out)
		}
	}
	dom0 := netip.MustParsePrefix("10.31.0.100/24")
	if err := d.host.AddAddr(name, dom0); err != nil {
		t.Fatal(err)
	}
	if err := d.pingFromDom0(g.Addr(), 3); err != nil {
		t.Fatal(err)
	}
	if err := d.pingFromDom0(lan.Addr(), 3); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, g, dom0.Addr(), 2); err != nil {
		t.Fatal(err)
	}
	if got := d.fdb()[bridge+" "+before.HardwareAddr.String()]; got != peer {
		t.Errorf("dom0's MAC learned on %q, want %s", got, peer)
	}

	// xswitchd dies: dom0 and the guest, which know each other, go on.
	d.kill()
	if err := d.pingFromDom0(g.Addr(), 10); err != nil {
		t.Errorf("dom0 → guest while xswitchd is down: %v", err)
	}
	if err := ping(t, g, dom0.Addr(), 10); err != nil {
		t.Errorf("guest → dom0 while xswitchd is down: %v", err)
	}

	// A new xswitchd adopts the host port instead of making another.
	d.start(yaml)
	d.waitPorts(5*time.Second, ports...)
	after := d.hostLink(name)
	if after.Index != before.Index || after.HardwareAddr.String() != before.HardwareAddr.String() {
		t.Errorf("host port %s after a restart: ifindex %d, MAC %s; want the same interface (%d, %s)", name, after.Index, after.HardwareAddr, before.Index, before.HardwareAddr)
	}
	if !d.hasAddr(name, dom0) {
		t.Errorf("host port %s lost dom0's address %s across the restart", name, dom0)
	}
	if n := strings.Count(d.log.String(), "host port created"); n != 1 {
		t.Errorf("%d host ports created over two runs, want 1", n)
	}
	if err := d.pingFromDom0(lan.Addr(), 3); err != nil {
		t.Error(err)
	}
	if yaml == "" {
		return
	}

	// -cleanup keeps it, with dom0's address; -remove-host-ports removes it.
	d.stop()
	if out, err := d.cleanup(); err != nil || !strings.Contains(string(out), "host port "+name+" (bridge lan) kept") {
		t.Errorf("xswitchd -cleanup: %v\n%s", err, out)
	}
	if !d.hasAddr(name, dom0) {
		t.Errorf("-cleanup removed host port %s or its address", name)
	}
	out, err = exec.Command("nsenter", "--net="+d.host.NSPath(), filepath.Join(binDir, "xswitchd"), "-cleanup", "-remove-host-ports", "-bpf-pin-dir", d.pinDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "host port "+name+" (bridge lan) removed") {
		t.Errorf("xswitchd -cleanup -remove-host-ports: %v\n%s", err, out)
	}
	for _, n := range []string{name, peer} {
		if err := d.host.Do(func() error { _, err := netlink.LinkByName(n); return err }); err == nil {
			t.Errorf("%s still exists after -remove-host-ports", n)
		}
	}
}

// kill ends xswitchd with SIGKILL, as a crash would: nothing is released.
func (d *dom0) kill() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = nil
}

// hostLink returns a link of the dom0 namespace.
func (d *dom0) hostLink(name string) *netlink.LinkAttrs {
	d.t.Helper()
	var a *netlink.LinkAttrs
	if err := d.host.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err == nil {
			a = l.Attrs()
		}
		return err
	}); err != nil {
		d.t.Fatalf("%s in dom0: %v", name, err)
	}
	return a
}

// hasAddr says whether the dom0 link name has the address p.
func (d *dom0) hasAddr(name string, p netip.Prefix) bool {
	d.t.Helper()
	found := false
	d.host.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		for _, a := range addrs {
			found = found || a.IPNet.String() == p.String()
		}
		return err
	})
	return found
}

// pingFromDom0 runs ping in dom0's namespace and reports whether every echo
// was answered.
func (d *dom0) pingFromDom0(to netip.Addr, count int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := d.host.Command(ctx, "ping", "-c", fmt.Sprint(count), "-i", "0.1", "-W", "1", to.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from dom0: %v\n%s", to, err, out)
	}
	return nil
}

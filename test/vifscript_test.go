package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// The vif-xswitch tests play Xen's toolstack around xswitchd: libxl's
// backend keys in a fake xenstore, netback's vifD.N and QEMU's vifD.N-emu
// as veths in the dom0 namespace, and dist/xen/vif-xswitch run as libxl
// runs it, with its arguments and environment. xswitchd has bridges xenbr0
// and xenbr1 and no port names: only the script attaches guests.

const vifBridges = `
bridges:
  - name: xenbr0
  - name: xenbr1
`

// xenDom0 is a dom0 with xswitchd running, a xenstore and the hotplug
// script installed.
type xenDom0 struct {
	*dom0
	xs *xenstore
	// script is a copy of vif-xswitch, with its settings file beside it.
	script string
}

// newXenDom0 starts xswitchd with the configuration yaml ("": auto mode).
func newXenDom0(t *testing.T, yaml string) *xenDom0 {
	t.Helper()
	d := newDom0(t, "tc")
	d.args = append(d.args, "-port-state", filepath.Join(d.dir, "ports.json"))
	src, err := os.ReadFile("../dist/xen/vif-xswitch")
	if err != nil {
		t.Fatal(err)
	}
	x := &xenDom0{dom0: d, xs: newXenstore(t), script: filepath.Join(t.TempDir(), "vif-xswitch")}
	if err := os.WriteFile(x.script, src, 0o755); err != nil {
		t.Fatal(err)
	}
	x.settings()
	d.start(yaml)
	return x
}

// settings writes vif-xswitch.conf: xswitchd's socket, then lines.
func (x *xenDom0) settings(lines ...string) {
	x.t.Helper()
	conf := "XSWITCH_SOCKET=" + filepath.Join(x.dir, "ctl.sock") + "\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(x.script), "vif-xswitch.conf"), []byte(conf), 0o644); err != nil {
		x.t.Fatal(err)
	}
}

// backend is NIC devid of domain domid's backend directory, relative to
// dom0's home as libxl passes it in XENBUS_PATH.
func backend(domid, devid int) string { return fmt.Sprintf("backend/vif/%d/%d", domid, devid) }

// nic writes what libxl writes for NIC devid of domain domid before it
// runs the script: its MAC, bridge (xenbr0 unless keys say otherwise),
// type (vif_ioemu for an HVM guest's NIC, which also has a tap), an empty
// hotplug-status, and keys ("ip=...", "vlan=...", "mtu=...").
func (x *xenDom0) nic(domid, devid int, mac net.HardwareAddr, hvm bool, keys ...string) {
	x.t.Helper()
	be := backend(domid, devid)
	typ := "vif"
	if hvm {
		typ = "vif_ioemu"
	}
	for k, v := range map[string]string{"script": x.script, "mac": mac.String(), "bridge": "xenbr0", "handle": fmt.Sprint(devid),
		"type": typ, "hotplug-status": "", "frontend": fmt.Sprintf("/local/domain/%d/device/vif/%d", domid, devid), "frontend-id": fmt.Sprint(domid)} {
		x.xs.write(be+"/"+k, v)
	}
	for _, kv := range keys {
		k, v, _ := strings.Cut(kv, "=")
		x.xs.write(be+"/"+k, v)
	}
}

// hotplug runs the script as libxl does for NIC devid of domain domid:
// online and offline with type_if=vif, add and remove with type_if=tap,
// inside the dom0 namespace. It returns what the script printed, its
// error and how long it took.
func (x *xenDom0) hotplug(action string, domid, devid int) (string, time.Duration, error) {
	x.t.Helper()
	typeIf := "vif"
	if action == "add" || action == "remove" {
		typeIf = "tap"
	}
	be := backend(domid, devid)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := x.host.Command(ctx, "/bin/sh", x.script, action, "type_if="+typeIf)
	cmd.Env = append(os.Environ(), x.xs.path(binDir), "script="+x.script, "XENBUS_TYPE=vif", "XENBUS_PATH="+be,
		"XENBUS_BASE_PATH=backend", "netdev=", fmt.Sprintf("vif=vif%d.%d", domid, devid))
	if typ, _ := x.xs.read(be + "/type"); typ == "vif_ioemu" {
		cmd.Env = append(cmd.Env, fmt.Sprintf("INTERFACE=vif%d.%d-emu", domid, devid))
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	return string(out), time.Since(start), err
}

// must runs the script and fails the test if it fails.
func (x *xenDom0) must(action string, domid, devid int) {
	x.t.Helper()
	if out, _, err := x.hotplug(action, domid, devid); err != nil {
		x.t.Fatalf("vif-xswitch %s for %s: %v\n%s", action, backend(domid, devid), err, out)
	}
}

// fails runs the script, which must exit 1 and leave hotplug-status
// "error" and a hotplug-error that contains want; it returns how long it
// took.
func (x *xenDom0) fails(action string, domid, devid int, want string) time.Duration {
	x.t.Helper()
	out, took, err := x.hotplug(action, domid, devid)
	if exitCode(err) != 1 {
		x.t.Fatalf("vif-xswitch %s for %s: %v, want exit 1\n%s", action, backend(domid, devid), err, out)
	}
	be := backend(domid, devid)
	if st, _ := x.xs.read(be + "/hotplug-status"); st != "error" {
		x.t.Errorf("%s/hotplug-status %q after a failure, want error", be, st)
	}
	if msg, _ := x.xs.read(be + "/hotplug-error"); !strings.Contains(msg, want) {
		x.t.Errorf("%s/hotplug-error %q, want it to contain %q", be, msg, want)
	}
	return took
}

// connected checks that the script told netback to connect the guest.
func (x *xenDom0) connected(domid, devid int) {
	x.t.Helper()
	be := backend(domid, devid)
	if st, ok := x.xs.read(be + "/hotplug-status"); st != "connected" {
		x.t.Errorf("%s/hotplug-status %q (present %v), want connected", be, st, ok)
	}
	if msg, ok := x.xs.read(be + "/hotplug-error"); ok {
		x.t.Errorf("%s/hotplug-error %q after a success", be, msg)
	}
}

// ctlPorts returns the ports as `xswitchctl -json ports` lists them.
func (x *xenDom0) ctlPorts() map[string]control.Port {
	x.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "xswitchctl"), "-socket", filepath.Join(x.dir, "ctl.sock"), "-json", "ports")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		x.t.Fatalf("xswitchctl -json ports: %v\n%s", err, stderr.String())
	}
	var v []control.Port
	if err := json.Unmarshal(out, &v); err != nil {
		x.t.Fatalf("xswitchctl -json ports: %v\n%s", err, out)
	}
	m := map[string]control.Port{}
	for _, p := range v {
		m[p.Name] = p
	}
	return m
}

// port is what a test expects of a port the script added.
type port struct {
	bridge, vlan        string
	antispoof, isolated bool
	mac                 net.HardwareAddr
	allowed             []string
}

// hasPort checks that name is a port the script added, as want says.
func (x *xenDom0) hasPort(name string, want port) {
	x.t.Helper()
	p, ok := x.ctlPorts()[name]
	if !ok {
		x.t.Fatalf("%s is not a port of xswitchd", name)
	}
	got := port{p.Bridge, p.VLAN, p.AntiSpoof, p.Isolated, nil, p.Allowed}
	if p.MAC != "" {
		got.mac, _ = net.ParseMAC(p.MAC)
	}
	if got.bridge != want.bridge || got.vlan != want.vlan || got.antispoof != want.antispoof || got.isolated != want.isolated ||
		got.mac.String() != want.mac.String() || !slices.Equal(got.allowed, want.allowed) || !p.Runtime {
		x.t.Errorf("port %s: bridge %s, vlan %q, antispoof %v, isolated %v, mac %s, allowed %q, runtime %v; want %s, %q, %v, %v, %s, %q, true",
			name, got.bridge, got.vlan, got.antispoof, got.isolated, got.mac, got.allowed, p.Runtime,
			want.bridge, want.vlan, want.antispoof, want.isolated, want.mac, want.allowed)
	}
}

// noPort checks that name is not a port (waiting a little: a port whose
// interface went is detached as the daemon hears of it).
func (x *xenDom0) noPort(name string) {
	x.t.Helper()
	x.eventually(2*time.Second, name+" detached", func() error {
		if _, ok := x.ctlPorts()[name]; ok {
			return fmt.Errorf("%s is still a port", name)
		}
		return nil
	})
}

// ip runs ip in the dom0, as netback and QEMU change its links.
func (x *xenDom0) ip(args ...string) {
	x.t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", x.host.Name()}, args...)...).CombinedOutput(); err != nil {
		x.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// guestDown adds a guest behind vif with MAC topo.MAC(n) and address addr
// (none if ""), the vif down, as netback and QEMU make it.
func (x *xenDom0) guestDown(vif string, n int, addr string) *topo.Guest {
	x.t.Helper()
	var p netip.Prefix
	if addr != "" {
		p = netip.MustParsePrefix(addr)
	}
	g, err := x.host.AddGuest(vif, topo.MAC(n), p)
	if err != nil {
		x.t.Fatal(err)
	}
	x.ip("link", "set", vif, "down")
	return g
}

// noPing checks that g cannot reach to.
func noPing(t *testing.T, g *topo.Guest, to netip.Addr, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args = append(args, to.String())
	out, err := g.Command(ctx, "ping", append([]string{"-c", "3", "-i", "0.2", "-W", "1"}, args...)...).CombinedOutput()
	if err == nil {
		t.Errorf("ping %s from %s answered, want no answer:\n%s", strings.Join(args, " "), g.Name(), out)
	}
}

// TestVifScriptDomainLifecycle plays the life of three guests through
// vif-xswitch: a PV guest and an HVM guest (its emulated tap and its vif)
// start and reach each other, with their ip keys enforced; `xl
// network-attach` adds NICs on VLANs, in the bridge name's syntax and with
// the vlan key, and guests reach each other only within a VLAN;
// `network-detach` takes a NIC off; `xl destroy` runs the tap's remove
// after QEMU's tap is gone and offline after netback's vif is gone.
func TestVifScriptDomainLifecycle(t *testing.T) {
	x := newXenDom0(t, vifBridges)

	// dom1 starts: a PV guest with an MTU and its address in ip.
	dom1 := x.guestDown("vif1.0", 1, "10.61.0.1/24")
	x.nic(1, 0, dom1.MAC(), false, "ip=10.61.0.1", "mtu=1400")
	x.must("online", 1, 0)
	x.connected(1, 0)
	x.hasPort("vif1.0", port{bridge: "xenbr0", vlan: "transparent", antispoof: true, mac: dom1.MAC(), allowed: []string{"10.61.0.1"}})
	if a := x.hostLink("vif1.0"); a.Flags&net.FlagUp == 0 || a.MTU != 1400 {
		t.Errorf("vif1.0: flags %v, MTU %d; want up, 1400", a.Flags, a.MTU)
	}

	// dom2 starts: an HVM guest, whose NIC is QEMU's tap until its PV
	// drivers take over netback's vif (eth1 here, with the same MAC).
	dom2 := x.guestDown("vif2.0-emu", 2, "10.61.0.2/24")
	if _, err := dom2.AddNIC("vif2.0", "eth1", dom2.MAC(), netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	if err := dom2.SetSysctl("net/ipv4/conf/all/arp_ignore", "1"); err != nil {
		t.Fatal(err)
	}
	x.ip("link", "set", "vif2.0", "down")
	x.nic(2, 0, dom2.MAC(), true, "ip=10.61.0.2")
	x.must("online", 2, 0)
	x.must("add", 2, 0)
	x.connected(2, 0)
	for _, p := range []string{"vif2.0", "vif2.0-emu"} {
		x.hasPort(p, port{bridge: "xenbr0", vlan: "transparent", antispoof: true, mac: dom2.MAC(), allowed: []string{"10.61.0.2"}})
	}
	if err := ping(t, dom2, dom1.Addr(), 3); err != nil {
		t.Error(err)
	}
	// Started again (libxl retries), nothing changes.
	x.must("online", 1, 0)
	x.connected(1, 0)

	// dom1 sends from an address its ip key does not give it: dropped.
	if err := dom1.AddAddr("eth0", netip.MustParsePrefix("10.61.0.99/24")); err != nil {
		t.Fatal(err)
	}
	noPing(t, dom1, dom2.Addr(), "-I", "10.61.0.99")
	x.eventually(2*time.Second, "spoofed frames counted on vif1.0", func() error {
		if n := x.ctlPorts()["vif1.0"].Drops["spoofed"]; n == 0 {
			return errors.New("no drops with reason spoofed on vif1.0")
		}
		return nil
	})

	// xl network-attach: dom1's second NIC on VLAN 10 by its bridge name,
	// dom3 on VLAN 10 by the vlan key, dom4 on VLAN 20.
	if _, err := dom1.AddNIC("vif1.1", "eth1", topo.MAC(11), netip.MustParsePrefix("10.61.10.1/24")); err != nil {
		t.Fatal(err)
	}
	x.ip("link", "set", "vif1.1", "down")
	x.nic(1, 1, topo.MAC(11), false, "bridge=xenbr0.10", "ip=10.61.10.1")
	x.must("online", 1, 1)
	x.connected(1, 1)
	x.hasPort("vif1.1", port{bridge: "xenbr0", vlan: "access 10", antispoof: true, mac: topo.MAC(11), allowed: []string{"10.61.10.1"}})
	dom3 := x.guestDown("vif3.0", 3, "10.61.10.3/24")
	x.nic(3, 0, dom3.MAC(), false, "vlan=10", "ip=10.61.10.3")
	x.must("online", 3, 0)
	x.hasPort("vif3.0", port{bridge: "xenbr0", vlan: "access 10", antispoof: true, mac: dom3.MAC(), allowed: []string{"10.61.10.3"}})
	dom4 := x.guestDown("vif4.0", 4, "10.61.10.4/24")
	x.nic(4, 0, dom4.MAC(), false, "bridge=xenbr0.20", "ip=10.61.10.4")
	x.must("online", 4, 0)
	x.hasPort("vif4.0", port{bridge: "xenbr0", vlan: "access 20", antispoof: true, mac: dom4.MAC(), allowed: []string{"10.61.10.4"}})
	if err := ping(t, dom3, netip.MustParseAddr("10.61.10.1"), 3); err != nil {
		t.Error(err)
	}
	noPing(t, dom4, dom3.Addr())

	// Trunks on xenbr1, in both syntaxes; dom5's NICs have no ip key, so
	// only their MAC is enforced.
	dom5 := x.guestDown("vif5.0", 5, "")
	trunks := []struct{ keys, vlan string }{
		{"bridge=xenbr1.10:20:30", "trunk 20,30 native 10"},
		{"bridge=xenbr1:20:30", "trunk 20,30"},
		{"bridge=xenbr1 vlan=10p/20", "trunk 20 native 10"},
		{"bridge=xenbr1 vlan=10p/100+10x4", "trunk 100,110,120,130,140 native 10"},
	}
	for i, tr := range trunks {
		vif, mac := fmt.Sprintf("vif5.%d", i), topo.MAC(50+i)
		if i > 0 {
			if _, err := dom5.AddNIC(vif, fmt.Sprintf("eth%d", i), mac, netip.Prefix{}); err != nil {
				t.Fatal(err)
			}
		} else {
			mac = dom5.MAC()
		}
		x.nic(5, i, mac, false, strings.Fields(tr.keys)...)
		x.must("online", 5, i)
		x.connected(5, i)
		x.hasPort(vif, port{bridge: "xenbr1", vlan: tr.vlan, antispoof: true, mac: mac, allowed: []string{"0.0.0.0/0", "::/0"}})
	}

	// xl network-detach of dom1's VLAN NIC: offline while the vif is still
	// there; netback then deletes it and libxl its keys.
	x.must("offline", 1, 1)
	x.noPort("vif1.1")
	if st, ok := x.xs.read(backend(1, 1) + "/hotplug-status"); ok {
		t.Errorf("hotplug-status %q after offline, want none", st)
	}
	x.ip("link", "del", "vif1.1")
	x.xs.rm(backend(1, 1))

	// xl destroy of dom2: QEMU is killed before the tap's remove runs, and
	// netback's vif is gone before offline runs.
	x.ip("link", "del", "vif2.0-emu")
	x.must("remove", 2, 0)
	x.noPort("vif2.0-emu")
	if err := dom2.Remove(); err != nil {
		t.Fatal(err)
	}
	x.must("offline", 2, 0)
	x.noPort("vif2.0")
	x.xs.rm(backend(2, 0))

	x.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif3.0=xenbr0", "vif4.0=xenbr0",
		"vif5.0=xenbr1", "vif5.1=xenbr1", "vif5.2=xenbr1", "vif5.3=xenbr1")
}

// TestVifScriptSettingsAndFailures checks vif-xswitch.conf's settings, in
// the port and in what guests reach, and vifname, and that every failure is reported to libxl and netback and
// never hangs: an unknown bridge, a bad bridge or vlan, a vif that is not
// there, a daemon that does not answer, and xswitchd not running, when
// online fails at once while offline still succeeds.
func TestVifScriptSettingsAndFailures(t *testing.T) {
	x := newXenDom0(t, vifBridges)

	// Anti-spoofing off and isolation on, for every bridge.
	x.settings("XSWITCH_ANTISPOOF=no", "XSWITCH_ISOLATED=yes")
	dom6 := x.guestDown("vif6.0", 6, "10.62.0.6/24")
	x.nic(6, 0, dom6.MAC(), false)
	x.must("online", 6, 0)
	x.connected(6, 0)
	x.hasPort("vif6.0", port{bridge: "xenbr0", vlan: "transparent", isolated: true, mac: dom6.MAC()})
	// An isolated guest reaches a guest that is not, never another
	// isolated one.
	dom10 := x.guestDown("vif10.0", 10, "10.62.0.10/24")
	x.nic(10, 0, dom10.MAC(), false)
	x.must("online", 10, 0)
	x.settings("XSWITCH_ANTISPOOF=no", "XSWITCH_ISOLATED=no")
	dom11 := x.guestDown("vif11.0", 11, "10.62.0.11/24")
	x.nic(11, 0, dom11.MAC(), false)
	x.must("online", 11, 0)
	x.hasPort("vif11.0", port{bridge: "xenbr0", vlan: "transparent", mac: dom11.MAC()})
	if err := ping(t, dom6, dom11.Addr(), 2); err != nil {
		t.Error(err)
	}
	noPing(t, dom6, dom10.Addr())

	// Both for the bridges named only; vifname renames the vif.
	x.settings("XSWITCH_ANTISPOOF='xenbr7 xenbr1'", "XSWITCH_ISOLATED=xenbr0")
	dom8 := x.guestDown("vif8.0", 8, "10.62.1.8/24")
	x.nic(8, 0, dom8.MAC(), false, "bridge=xenbr1", "vifname=web8")
	x.must("online", 8, 0)
	x.connected(8, 0)
	x.hasPort("web8", port{bridge: "xenbr1", vlan: "transparent", antispoof: true, mac: dom8.MAC(), allowed: []string{"0.0.0.0/0", "::/0"}})
	x.must("offline", 8, 0)
	x.noPort("web8")
	x.settings()

	// Refused before xswitchd is asked, or by it: nothing is attached.
	dom9 := x.guestDown("vif9.0", 9, "10.62.0.9/24")
	for _, c := range []struct{ keys, want string }{
		{"bridge=xenbr9", "xenbr9"},
		{"bridge=xenbr0.x", `"xenbr0.x"`},
		{"bridge=xenbr0:10::20", `"xenbr0:10::20"`},
		{"bridge=xenbr0.10 vlan=20", "both set VLANs"},
		{"vlan=10u/20", "untagged"},
		{"vlan=10p/20p", "two PVIDs"},
		{"vlan=5000", `VLAN "5000"`},
	} {
		x.xs.rm(backend(9, 0))
		x.nic(9, 0, dom9.MAC(), false, strings.Fields(c.keys)...)
		x.fails("online", 9, 0, c.want)
		x.noPort("vif9.0")
	}
	x.xs.rm(backend(9, 0))
	x.nic(7, 0, topo.MAC(7), false)
	x.fails("online", 7, 0, "vif7.0")

	// A daemon that accepts and never answers: the script gives up after
	// XSWITCH_TIMEOUT.
	hung := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", hung)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	x.settings("XSWITCH_SOCKET="+hung, "XSWITCH_TIMEOUT=1")
	x.nic(9, 0, dom9.MAC(), false)
	// At least the second it waited for an answer, so it did ask.
	if took := x.fails("online", 9, 0, "did not answer"); took < time.Second || took > 5*time.Second {
		t.Errorf("online took %v against a daemon that never answers, with XSWITCH_TIMEOUT=1", took)
	}
	x.settings()

	// xswitchd stops: online fails at once, offline still succeeds.
	x.stop()
	x.xs.rm(backend(9, 0))
	x.nic(9, 0, dom9.MAC(), false)
	if took := x.fails("online", 9, 0, "xswitchd is not running"); took > 3*time.Second {
		t.Errorf("online took %v with xswitchd stopped", took)
	}
	x.must("offline", 6, 0)
}

// TestVifScriptAutoMode runs the script under xswitchd in auto mode, as
// with the xl.conf lines and no configuration file: a vif the naming rule
// put on xenbrN moves to the bridge and VLAN its bridge= names, and once
// offline the naming rule does not take it back before it goes.
func TestVifScriptAutoMode(t *testing.T) {
	x := newXenDom0(t, "")
	dom3 := x.guestDown("vif3.1", 3, "10.63.10.3/24")
	x.waitPorts(5*time.Second, "vif3.1=xenbr1")
	x.nic(3, 1, dom3.MAC(), false, "bridge=xenbr0.10", "ip=10.63.10.3")
	x.must("online", 3, 1)
	x.connected(3, 1)
	x.hasPort("vif3.1", port{bridge: "xenbr0", vlan: "access 10", antispoof: true, mac: dom3.MAC(), allowed: []string{"10.63.10.3"}})
	dom4 := x.guestDown("vif4.0", 4, "10.63.10.4/24")
	x.nic(4, 0, dom4.MAC(), false, "vlan=10", "ip=10.63.10.4")
	x.must("online", 4, 0)
	x.waitPorts(2*time.Second, "vif3.1=xenbr0", "vif4.0=xenbr0")
	if err := ping(t, dom3, dom4.Addr(), 3); err != nil {
		t.Error(err)
	}

	x.must("offline", 3, 1)
	time.Sleep(settle)
	x.waitPorts(0, "vif4.0=xenbr0")
}

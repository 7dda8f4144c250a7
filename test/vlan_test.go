package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// The tests of port policy (VLANs, anti-spoofing, isolation) run with the
// fast path off, where userspace enforces everything, and in the fast-path
// modes, where the kernel must enforce the same rules on learned unicast.
var policyPaths = []string{"off", "tc", "xdp"}

func eachPath(t *testing.T, paths []string, f func(t *testing.T, mode string)) {
	requireE2E(t)
	for _, m := range paths {
		t.Run(m, func(t *testing.T) { f(t, m) })
	}
}

// newPolicyDom0 is newDom0 whose daemon keeps the ports added at run time
// in the test's directory, not the machine's.
func newPolicyDom0(t *testing.T, mode string) *dom0 {
	d := newDom0(t, mode)
	d.args = append(d.args, "-port-state", filepath.Join(d.dir, "ports.json"))
	return d
}

// policyPort is a port as `xswitchctl -json ports` lists it, with the
// policy fields of the control API.
type policyPort struct {
	Name            string            `json:"port"`
	Bridge          string            `json:"bridge"`
	VLAN            string            `json:"vlan"`
	Isolated        bool              `json:"isolated"`
	AntiSpoof       bool              `json:"antispoof"`
	MAC             string            `json:"mac"`
	Allowed         []string          `json:"allowed"`
	Runtime         bool              `json:"runtime"`
	RxPackets       uint64            `json:"rx_packets"`
	FastPathPackets uint64            `json:"fastpath_packets"`
	Drops           map[string]uint64 `json:"drops"`
}

// xswitchctl runs xswitchctl -json with args against the dom0's daemon and
// decodes its answer into v, unless v is nil.
func (d *dom0) xswitchctl(v any, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "xswitchctl"), append([]string{"-socket", filepath.Join(d.dir, "ctl.sock"), "-json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("xswitchctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("xswitchctl -json %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// policyPorts lists the ports through xswitchctl, by name.
func (d *dom0) policyPorts() map[string]policyPort {
	d.t.Helper()
	var v []policyPort
	if err := d.xswitchctl(&v, "ports"); err != nil {
		d.t.Fatal(err)
	}
	m := map[string]policyPort{}
	for _, p := range v {
		m[p.Name] = p
	}
	return m
}

// dropCounts are a port's drops of one reason, as the control API and
// /metrics report them.
type dropCounts struct{ api, metric uint64 }

func (d *dom0) drops(port, reason string) dropCounts {
	d.t.Helper()
	p, ok := d.policyPorts()[port]
	if !ok {
		d.t.Fatalf("no port %s", port)
	}
	m := value(d.t, d.scrape(), "xswitch_port_drops_total", map[string]string{"port": port, "reason": reason})
	return dropCounts{api: p.Drops[reason], metric: uint64(m)}
}

// dropsGrew checks that port's drops of reason grew by exactly want since
// before, in the control API and in /metrics: it waits for them to get
// there, then a little longer for any extra.
func (d *dom0) dropsGrew(port, reason string, before dropCounts, want uint64) {
	d.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	var now dropCounts
	for {
		now = d.drops(port, reason)
		if now.api-before.api >= want && now.metric-before.metric >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(settle)
	now = d.drops(port, reason)
	if got := now.api - before.api; got != want {
		d.t.Errorf("%s: drops{reason=%q} in xswitchctl -json ports grew by %d, want exactly %d", port, reason, got, want)
	}
	if got := now.metric - before.metric; got != want {
		d.t.Errorf("%s: xswitch_port_drops_total{reason=%q} grew by %d, want exactly %d", port, reason, got, want)
	}
}

// nsRun runs a command in a namespace and fails the test with its output
// if it fails.
func nsRun(t *testing.T, ns *topo.Netns, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := ns.Command(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), ns.Name(), err, out)
	}
}

// quiet keeps the guests' kernels from probing their neighbours (a
// unicast ARP request or neighbour solicitation 5 s after an entry was
// last used) while a test counts frames exactly.
func quiet(t *testing.T, gs ...*topo.Guest) {
	t.Helper()
	for _, g := range gs {
		for _, family := range []string{"ipv4", "ipv6"} {
			if err := g.SetSysctl("net/"+family+"/neigh/eth0/delay_first_probe_time", "300"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// vid returns the VLAN id of an 802.1Q-tagged frame, and whether it is one.
func vid(f []byte) (uint16, bool) {
	if len(f) < 18 || binary.BigEndian.Uint16(f[12:14]) != 0x8100 {
		return 0, false
	}
	return binary.BigEndian.Uint16(f[14:16]) & 0xfff, true
}

// from matches frames whose source MAC is mac.
func from(mac net.HardwareAddr) func([]byte) bool {
	return func(f []byte) bool { return len(f) >= 12 && bytes.Equal(f[6:12], mac) }
}

// inVLAN matches m's frames tagged with VLAN id v.
func inVLAN(v uint16, m func([]byte) bool) func([]byte) bool {
	return func(f []byte) bool {
		got, ok := vid(f)
		return ok && got == v && m(f)
	}
}

// untagged matches m's frames without a VLAN tag.
func untagged(m func([]byte) bool) func([]byte) bool {
	return func(f []byte) bool {
		_, ok := vid(f)
		return !ok && m(f)
	}
}

// vlanLAN is the LAN behind the uplink peth0: a VLAN-aware switch that
// nothing of xswitch is part of, whose port eth0 trunks the VLANs of the
// hosts to the switch (tagged) and whose other ports are access ports, each
// leading untagged to one host of one VLAN. It is the kernel bridge with
// VLAN filtering where the kernel has it, else Open vSwitch's userspace
// datapath (a kernel built without 802.1Q support has neither VLAN
// devices nor VLAN filtering in its bridge).
type vlanLAN struct {
	*topo.Guest                        // the LAN switch's namespace; eth0 is peth0's peer
	hosts       map[uint16]*topo.Guest // the host on each VLAN
	peer        string                 // which switch it is, for messages
}

// newVLANLAN builds the LAN with one host per VLAN at the given address,
// with MAC topo.MAC(200+VLAN). Call it before xswitchd starts: the hosts'
// veths pass through the dom0 on their way to the LAN.
func newVLANLAN(t *testing.T, d *dom0, hosts map[uint16]string) *vlanLAN {
	t.Helper()
	lan, err := d.host.AddUplink("peth0", topo.MAC(200), netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	l := &vlanLAN{Guest: lan, hosts: map[uint16]*topo.Guest{}}
	vids := slices.Sorted(maps.Keys(hosts))
	for _, v := range vids {
		port := fmt.Sprintf("lan%d", v)
		h, err := d.host.AddGuest(port, topo.MAC(200+int(v)), netip.MustParsePrefix(hosts[v]))
		if err != nil {
			t.Fatal(err)
		}
		nsRun(t, d.host.Netns, "ip", "link", "set", port, "netns", lan.Name())
		nsRun(t, lan.Netns, "ip", "link", "set", port, "up")
		l.hosts[v] = h
	}
	// No default VLAN: a port is in the VLANs it is given and no other.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lan.Command(ctx, "ip", "link", "add", "br0", "type", "bridge", "vlan_filtering", "1", "vlan_default_pvid", "0").CombinedOutput()
	switch {
	case err == nil:
		l.peer = "the kernel bridge with VLAN filtering"
		nsRun(t, lan.Netns, "ip", "link", "set", "eth0", "master", "br0")
		for _, v := range vids {
			port := fmt.Sprintf("lan%d", v)
			nsRun(t, lan.Netns, "bridge", "vlan", "add", "dev", "eth0", "vid", fmt.Sprint(v))
			nsRun(t, lan.Netns, "ip", "link", "set", port, "master", "br0")
			nsRun(t, lan.Netns, "bridge", "vlan", "add", "dev", port, "vid", fmt.Sprint(v), "pvid", "untagged")
		}
		nsRun(t, lan.Netns, "ip", "link", "set", "br0", "up")
	case bytes.Contains(out, []byte("not supported")):
		l.peer = "Open vSwitch (userspace datapath)"
		startOVS(t, lan, vids)
	default:
		t.Fatalf("ip link add br0 type bridge vlan_filtering 1 in %s: %v\n%s", lan.Name(), err, out)
	}
	t.Logf("the LAN's VLANs are switched by %s", l.peer)
	if d.mode == "xdp" {
		// XDP frames redirected to peth0 need GRO on its peer.
		nsRun(t, lan.Netns, "ethtool", "-K", "eth0", "gro", "on")
	}
	return l
}

// startOVS runs an Open vSwitch of its own in the LAN's namespace, with
// its database, sockets and logs in a directory of the test: bridge br0 of
// the userspace datapath, eth0 a trunk of vids, port lanV an access port of
// VLAN V. It stops when the test ends.
func startOVS(t *testing.T, lan *topo.Guest, vids []uint16) {
	t.Helper()
	for _, tool := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("this kernel's bridge has no VLAN filtering, and %s is missing for the other VLAN-aware peer (apt-get install openvswitch-switch)", tool)
		}
	}
	// Unix socket paths are short; t.TempDir's may not be.
	dir, err := os.MkdirTemp("", "xs-ovs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	env := append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir, "OVS_SYSCONFDIR="+dir, "OVS_PKGDATADIR=/usr/share/openvswitch")
	db := "unix:" + filepath.Join(dir, "db.sock")
	if out, err := exec.Command("ovsdb-tool", "create", filepath.Join(dir, "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v\n%s", err, out)
	}
	daemon := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		log := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s:\n%s", name, log.String())
			}
		})
	}
	daemon("ovsdb-server", filepath.Join(dir, "conf.db"), "--remote=p"+db, "--unixctl="+filepath.Join(dir, "ovsdb.ctl"), "-vconsole:warn")
	vsctl := func(args ...string) {
		t.Helper()
		var out []byte
		var err error
		for range 50 { // until ovsdb-server listens
			cmd := exec.Command("ovs-vsctl", append([]string{"--db=" + db, "--timeout=10"}, args...)...)
			cmd.Env = env
			if out, err = cmd.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("database connection failed")) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("ovs-vsctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	vsctl("--no-wait", "init")
	daemon("nsenter", "--net="+lan.NSPath(), "ovs-vswitchd", db, "--unixctl="+filepath.Join(dir, "vswitchd.ctl"), "-vconsole:warn")
	// Super-frames (TSO, GRO) cross it whole, as they cross a kernel bridge.
	vsctl("set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true")
	vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
	var trunks []string
	for _, v := range vids {
		trunks = append(trunks, fmt.Sprint(v))
		vsctl("add-port", "br0", fmt.Sprintf("lan%d", v), fmt.Sprintf("tag=%d", v))
	}
	vsctl("add-port", "br0", "eth0", "trunks="+strings.Join(trunks, ","))
}

// udpExchange sends five datagrams from one namespace to an echo server in
// another and checks that each comes back.
func udpExchange(from, to *topo.Guest, port int) error {
	addr := netip.AddrPortFrom(to.Addr(), uint16(port)).String()
	srv, err := to.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, peer, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], peer)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := from.Dial(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for i := range 5 {
		msg := fmt.Sprintf("udp-%d from %s", i, from.Addr())
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			return fmt.Errorf("UDP %s → %s: %w", from.Addr(), addr, err)
		}
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("UDP %s → %s: datagram %d: %w", from.Addr(), addr, i, err)
		}
		if string(buf[:n]) != msg {
			return fmt.Errorf("UDP %s → %s: echo %q, want %q", from.Addr(), addr, buf[:n], msg)
		}
	}
	return nil
}

// tcpExchange moves size bytes over TCP from one namespace to another and
// checks what arrived.
func tcpExchange(from, to *topo.Guest, port, size int) error {
	addr := netip.AddrPortFrom(to.Addr(), uint16(port)).String()
	l, err := to.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	got := receiveSum(l)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := from.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	w, err := sendRandom(conn, [32]byte{'v', 'l', 'a', 'n'}, size)
	if err != nil {
		return fmt.Errorf("TCP %s → %s: %w", from.Addr(), addr, err)
	}
	select {
	case g := <-got:
		if g != w {
			return fmt.Errorf("TCP %s → %s: received %s, sent %s", from.Addr(), addr, g, w)
		}
	case <-ctx.Done():
		return fmt.Errorf("TCP %s → %s: not finished within 30s", from.Addr(), addr)
	}
	return nil
}

// fdbVLANs returns the MAC table as "vlan mac" → port.
func (d *dom0) fdbVLANs() map[string]string {
	d.t.Helper()
	return d.fdbBy(func(e control.FDBEntry) string { return fmt.Sprintf("%d %s", e.VLAN, e.MAC) })
}

// onFastPath waits until the probes src sends, made by frame from a
// marker tag, go through port's fast path to the capture at: the switch has
// learned both ends and mirrored them into the kernel.
func (d *dom0) onFastPath(port string, src *topo.Guest, at *topo.Capture, frame func(tag string) []byte) {
	d.t.Helper()
	i := 0
	d.eventually(3*time.Second, port+"'s flow on the fast path", func() error {
		before := d.ports()[port].FastPathPackets
		tag := fmt.Sprintf("probe-%s-%d", port, i)
		i++
		inject(d.t, src, frame(tag))
		if err := at.WaitFor(tagged(tag), 1, time.Second); err != nil {
			return err
		}
		if d.ports()[port].FastPathPackets == before {
			return fmt.Errorf("the probe went through userspace")
		}
		return nil
	})
}

// TestVLANAccessTrunk runs guests on access VLANs against a LAN of VLANs
// behind a trunk uplink, where a VLAN-aware kernel bridge tags and untags:
// a guest reaches its VLAN's host and guests and nothing of the other
// VLAN, the uplink carries its frames tagged, learned unicast crosses the
// fast path with the tag pushed and popped, and a tagged frame from an
// access guest is dropped and counted.
func TestVLANAccessTrunk(t *testing.T) { eachPath(t, policyPaths, testVLANAccessTrunk) }

func testVLANAccessTrunk(t *testing.T, mode string) {
	d := newPolicyDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.30.0.1/24")
	b := d.guest("vif2.0", 2, "10.30.0.2/24")
	c := d.guest("vif3.0", 3, "10.30.0.3/24")
	lan := newVLANLAN(t, d, map[uint16]string{10: "10.30.0.10/24", 20: "10.30.0.20/24"})
	h10, h20 := lan.hosts[10], lan.hosts[20]
	quiet(t, a, b, c, h10, h20)
	d.start(`
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*"]
    port-settings:
      peth0: {vlan: "trunk 10,20"}
      vif1.0: {vlan: "access 10"}
      vif2.0: {vlan: "access 20"}
      vif3.0: {vlan: "access 10"}
`)
	d.waitPorts(2*time.Second, "peth0=xenbr0", "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	ports := d.policyPorts()
	for name, want := range map[string]string{"peth0": "trunk 10,20", "vif1.0": "access 10", "vif2.0": "access 20", "vif3.0": "access 10"} {
		if got := ports[name].VLAN; got != want {
			t.Errorf("xswitchctl -json ports: %s has vlan %q, want %q", name, got, want)
		}
	}
	atUp, atA, atB, atC := capture(t, lan.Guest), capture(t, a), capture(t, b), capture(t, c)
	atH10, atH20 := capture(t, h10), capture(t, h20)

	// Within a VLAN: the host behind the trunk and the other guest.
	for _, to := range []*topo.Guest{h10, c} {
		if err := ping(t, a, to.Addr(), 3); err != nil {
			t.Error(err)
		}
	}
	if err := ping(t, b, h20.Addr(), 3); err != nil {
		t.Error(err)
	}
	if err := udpExchange(a, h10, 7007); err != nil {
		t.Error(err)
	}
	if err := tcpExchange(a, h10, 7008, 4<<20); err != nil {
		t.Error(err)
	}
	// Across VLANs, on one subnet: only the VLANs keep them apart.
	for _, to := range []*topo.Guest{h20, b} {
		if err := ping(t, a, to.Addr(), 2); err == nil {
			t.Errorf("the guest of VLAN 10 reached %s of VLAN 20", to.Addr())
		}
	}
	time.Sleep(settle)
	exactly(t, atH20, "the host of VLAN 20", from(a.MAC()), 0)
	exactly(t, atB, "the guest of VLAN 20", from(a.MAC()), 0)
	exactly(t, atH10, "the host of VLAN 10", from(b.MAC()), 0)
	exactly(t, atC, "the other guest of VLAN 10", from(b.MAC()), 0)
	// On the wire to the LAN every frame is tagged, with its guest's VLAN.
	if n := atUp.Count(inVLAN(10, from(a.MAC()))); n == 0 {
		t.Errorf("the uplink carried no frame of vif1.0 tagged 10")
	}
	if n := atUp.Count(inVLAN(20, from(b.MAC()))); n == 0 {
		t.Errorf("the uplink carried no frame of vif2.0 tagged 20")
	}
	for _, f := range atUp.Frames() {
		v, ok := vid(f)
		src := net.HardwareAddr(f[6:12])
		switch {
		case !ok:
			t.Errorf("the trunk without native VLAN carried an untagged frame from %s: %x", src, f)
		case bytes.Equal(src, a.MAC()) && v != 10, bytes.Equal(src, b.MAC()) && v != 20, v != 10 && v != 20:
			t.Errorf("the uplink carried a frame from %s tagged %d: %x", src, v, f)
		}
	}
	fdb := d.fdbVLANs()
	for key, port := range map[string]string{
		"10 " + a.MAC().String(): "vif1.0", "10 " + c.MAC().String(): "vif3.0", "10 " + h10.MAC().String(): "peth0",
		"20 " + b.MAC().String(): "vif2.0", "20 " + h20.MAC().String(): "peth0",
	} {
		if fdb[key] != port {
			t.Errorf("fdb: VLAN/MAC %s learned on %q, want %s", key, fdb[key], port)
		}
	}
	for _, key := range []string{"0 " + a.MAC().String(), "20 " + a.MAC().String(), "10 " + b.MAC().String()} {
		if p, ok := fdb[key]; ok {
			t.Errorf("fdb: VLAN/MAC %s learned on %s", key, p)
		}
	}

	// Learned unicast both ways between the access guest and the host
	// behind the trunk: tagged 10 on the uplink only, untagged at either
	// end, and with a fast path every frame stays in the kernel.
	fast := fastPath(mode) != "off"
	if fast {
		d.onFastPath("vif1.0", a, atH10, func(tag string) []byte { return marker(h10.MAC(), a.MAC(), tag) })
		d.onFastPath("peth0", h10, atA, func(tag string) []byte { return marker(a.MAC(), h10.MAC(), tag) })
	}
	before := d.ports()
	const n = 100
	for i := range n {
		inject(t, a, marker(h10.MAC(), a.MAC(), fmt.Sprint("up-", i)))
		inject(t, h10, marker(a.MAC(), h10.MAC(), fmt.Sprint("down-", i)))
	}
	exactly(t, atH10, "the host of VLAN 10", untagged(taggedPrefix("up-")), n)
	exactly(t, atUp, "the uplink", inVLAN(10, taggedPrefix("up-")), n)
	exactly(t, atA, "vif1.0's guest", untagged(taggedPrefix("down-")), n)
	for _, w := range []struct {
		who string
		at  *topo.Capture
	}{{"vif3.0's guest", atC}, {"vif2.0's guest", atB}, {"the host of VLAN 20", atH20}} {
		exactly(t, w.at, w.who, taggedPrefix("up-"), 0)
		exactly(t, w.at, w.who, taggedPrefix("down-"), 0)
	}
	after := d.ports()
	if fast {
		for _, p := range []string{"vif1.0", "peth0"} {
			if got := after[p].FastPathPackets - before[p].FastPathPackets; got != n {
				t.Errorf("%s: the fast path forwarded %d of %d learned frames", p, got, n)
			}
			if got := after[p].RxPackets - before[p].RxPackets; got != 0 {
				t.Errorf("%s: userspace saw %d of %d learned frames", p, got, n)
			}
		}
	}

	// A guest of an access port that sends tagged frames: broadcast and
	// learned unicast, in its own VLAN and another: all dropped, counted.
	vlanBefore := d.drops("vif1.0", "vlan")
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	const k = 20
	for i := range k {
		inject(t, a,
			topo.Tag(marker(bcast, a.MAC(), fmt.Sprint("inband-bc10-", i)), 0x8100, 10),
			topo.Tag(marker(c.MAC(), a.MAC(), fmt.Sprint("inband-uc10-", i)), 0x8100, 10),
			topo.Tag(marker(h20.MAC(), a.MAC(), fmt.Sprint("inband-uc20-", i)), 0x8100, 20))
	}
	for _, w := range []struct {
		who string
		at  *topo.Capture
	}{{"the uplink", atUp}, {"vif3.0's guest", atC}, {"vif2.0's guest", atB}, {"the host of VLAN 10", atH10}, {"the host of VLAN 20", atH20}} {
		exactly(t, w.at, w.who, taggedPrefix("inband-"), 0)
	}
	d.dropsGrew("vif1.0", "vlan", vlanBefore, 3*k)
}

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// The EVPN tests join hosts by an underlay veth (ul0, MTU 9000, so guests
// keep an MTU of 1500 inside VXLAN) and carry VNI 100 between them.
const (
	evpnVNI  = 100
	evpnASN  = 65000
	frrDir   = "/usr/lib/frr"
	evpnPort = "vxlan100"
)

// requireFRR skips without FRR's daemons, or fails under CI, which
// installs them (scripts/deps.sh).
func requireFRR(t *testing.T) {
	t.Helper()
	requireE2E(t)
	for _, p := range []string{filepath.Join(frrDir, "zebra"), filepath.Join(frrDir, "bgpd")} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s: %v (apt-get install frr; scripts/deps.sh e2e does)", p, err)
			}
			t.Skipf("%s not found: apt-get install frr", p)
		}
	}
	if _, err := exec.LookPath("vtysh"); err != nil {
		t.Fatalf("vtysh: %v", err)
	}
}

// ip runs ip(8) with args.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// underlay wires host a to host b with a veth ul0 in each, addressed
// 10.99.0.<ia>/24 and 10.99.0.<ib>/24, and returns both addresses.
func underlay(t *testing.T, a, b *topo.Host, ia, ib int) (netip.Addr, netip.Addr) {
	t.Helper()
	ip(t, "link", "add", "ul0", "netns", a.Name(), "mtu", "9000", "type", "veth", "peer", "name", "ul0", "netns", b.Name(), "mtu", "9000")
	addrs := [2]netip.Addr{}
	for i, h := range []*topo.Host{a, b} {
		n := []int{ia, ib}[i]
		addrs[i] = netip.MustParseAddr(fmt.Sprintf("10.99.0.%d", n))
		ip(t, "-n", h.Name(), "addr", "add", addrs[i].String()+"/24", "dev", "ul0")
		ip(t, "-n", h.Name(), "link", "set", "ul0", "up")
		ip(t, "-n", h.Name(), "link", "set", "lo", "up")
	}
	return addrs[0], addrs[1]
}

// vxlanDevice makes the VXLAN device of VNI 100 in h, without learning:
// what it knows of remote MACs comes from EVPN.
func vxlanDevice(t *testing.T, h *topo.Host, local netip.Addr) {
	t.Helper()
	ip(t, "-n", h.Name(), "link", "add", evpnPort, "type", "vxlan", "id", strconv.Itoa(evpnVNI), "local", local.String(),
		"dstport", "4789", "nolearning", "dev", "ul0")
	ip(t, "-n", h.Name(), "link", "set", evpnPort, "up")
}

// evpnYAML configures an xswitch host: bridge br0 of the vifs and the
// VXLAN device, and EVPN with neighbor peer.
func evpnYAML(local, peer netip.Addr) string {
	return fmt.Sprintf(`bridges:
  - name: br0
    ports: [vif*, %s]
evpn:
  asn: %d
  router-id: %s
  grace-period: 3s
  neighbors: [{address: %s}]
`, evpnPort, evpnASN, local, peer)
}

// frrHost is a host whose switch is a kernel bridge with a VXLAN port and
// whose EVPN control plane is FRR's zebra and bgpd.
type frrHost struct {
	t    *testing.T
	host *topo.Host
	dir  string // configuration, pid files; readable by FRR's user
	log  *lockedBuffer
}

func newFRRHost(t *testing.T) *frrHost {
	t.Helper()
	h, err := topo.NewHost("frr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	dir, err := os.MkdirTemp("", "xswitch-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// FRR's daemons drop root for its user, which must read the
	// configuration and write the pid files.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return &frrHost{t: t, host: h, dir: dir, log: &lockedBuffer{}}
}

// start makes bridge br100 with the VXLAN device and runs zebra and bgpd,
// with their sockets under /var/run/frr/<namespace> (pathspace), so they
// leave any FRR of the machine alone.
func (f *frrHost) start(local, peer netip.Addr) {
	t := f.t
	t.Helper()
	vxlanDevice(t, f.host, local)
	ip(t, "-n", f.host.Name(), "link", "add", "br100", "type", "bridge")
	ip(t, "-n", f.host.Name(), "link", "set", evpnPort, "master", "br100")
	ip(t, "-n", f.host.Name(), "link", "set", "br100", "up")
	if out, err := exec.Command("bridge", "-n", f.host.Name(), "link", "set", "dev", evpnPort, "learning", "off").CombinedOutput(); err != nil {
		t.Fatalf("bridge link set: %v\n%s", err, out)
	}
	conf := filepath.Join(f.dir, "frr.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`frr defaults datacenter
hostname %s
router bgp %d
 bgp router-id %s
 no bgp default ipv4-unicast
 neighbor %s remote-as %d
 neighbor %s timers 3 9
 neighbor %s timers connect 2
 address-family l2vpn evpn
  neighbor %s activate
  advertise-all-vni
 exit-address-family
`, f.host.Name(), evpnASN, local, peer, evpnASN, peer, peer, peer)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join("/var/run/frr", f.host.Name())
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if u, err := user.Lookup("frr"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown("/var/run/frr", uid, gid)
		os.Chown(run, uid, gid)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	for _, daemon := range []string{"zebra", "bgpd"} {
		cmd := exec.Command("nsenter", "--net="+f.host.NSPath(), filepath.Join(frrDir, daemon),
			"-N", f.host.Name(), "-f", conf, "-i", filepath.Join(f.dir, daemon+".pid"), "--log", "stdout")
		cmd.Stdout, cmd.Stderr = f.log, f.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
		if daemon == "zebra" {
			// bgpd connects to zebra's socket once, at start.
			f.eventually(5*time.Second, "zebra's socket", func() error {
				_, err := os.Stat(filepath.Join(run, "zserv.api"))
				return err
			})
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FRR log:\n%s", f.log.String())
		}
	})
}

func (f *frrHost) eventually(timeout time.Duration, what string, fn func() error) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vtysh runs an FRR show command and returns its output.
func (f *frrHost) vtysh(command string) string {
	f.t.Helper()
	out, err := exec.Command("vtysh", "-N", f.host.Name(), "-c", command).CombinedOutput()
	if err != nil {
		f.t.Fatalf("vtysh -c %q: %v\n%s", command, err, out)
	}
	return string(out)
}

// guest adds a guest on bridge br100.
func (f *frrHost) guest(vif string, n int, addr string) *topo.Guest {
	f.t.Helper()
	g, err := f.host.AddGuest(vif, topo.MAC(n), netip.MustParsePrefix(addr))
	if err != nil {
		f.t.Fatal(err)
	}
	ip(f.t, "-n", f.host.Name(), "link", "set", vif, "master", "br100")
	return g
}

// announce makes g send a gratuitous ARP, as a guest does when it boots
// or arrives after a migration, so that its switch learns its MAC.
func announce(t *testing.T, g *topo.Guest) {
	t.Helper()
	inject(t, g, topo.ARPRequest(g.MAC(), g.Addr(), g.Addr()))
}

// speak makes a migrated guest send its first frames from its new host:
// an ARP request for to, then a ping (whose answer is not checked).
func speak(t *testing.T, g *topo.Guest, to netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	g.Command(ctx, "ping", "-c", "1", "-W", "1", to.String()).Run()
}

// migrate moves guest g to host to: its vif on the old host goes (the
// domain stopped there) and a new vif newVif on to links to its eth0, with
// the same MAC and address; master, if set, is the kernel bridge of to.
func migrate(t *testing.T, g *topo.Guest, to *topo.Host, newVif, master string) {
	t.Helper()
	ip(t, "-n", g.Name(), "link", "del", "eth0")
	ip(t, "link", "add", newVif, "netns", to.Name(), "type", "veth", "peer", "name", "eth0", "netns", g.Name())
	ip(t, "-n", g.Name(), "link", "set", "eth0", "address", g.MAC().String())
	ip(t, "-n", g.Name(), "addr", "add", g.Prefix().String(), "dev", "eth0")
	ip(t, "-n", g.Name(), "link", "set", "eth0", "up")
	if master != "" {
		ip(t, "-n", to.Name(), "link", "set", newVif, "master", master)
	}
	ip(t, "-n", to.Name(), "link", "set", newVif, "up")
}

// reachWithin pings to from g until one echo comes back, and fails the
// test if none does within limit; it returns how long it took.
func reachWithin(t *testing.T, g *topo.Guest, to netip.Addr, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := g.Command(ctx, "ping", "-c", "1", "-W", "0.2", to.String()).Run()
		cancel()
		took := time.Since(start)
		if err == nil {
			return took
		}
		if took > limit {
			t.Fatalf("%s does not reach %s within %v", g.Name(), to, limit)
		}
	}
}

// evpnTransfer moves 8 MiB from a to b over TCP and checks them by sha256.
func evpnTransfer(t *testing.T, a, b *topo.Guest) {
	t.Helper()
	l, err := b.Listen("tcp", b.Addr().String()+":5010")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := receiveSum(l)
	conn, err := a.Dial(t.Context(), "tcp", b.Addr().String()+":5010")
	if err != nil {
		t.Fatal(err)
	}
	want, err := sendRandom(conn, [32]byte{'e', 'v', 'p', 'n'}, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g != want {
			t.Fatalf("%s received %s, want %s", b.Name(), g, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("transfer did not finish within 30s")
	}
}

// evpnMACs returns the EVPN MACs of an xswitch host.
func (d *dom0) evpnMACs() []control.EVPNMAC {
	d.t.Helper()
	var v []control.EVPNMAC
	if err := d.xswitchctl(&v, "evpn", "macs"); err != nil {
		d.t.Fatal(err)
	}
	return v
}

// hasEVPNMAC checks that mac is in d's EVPN table with origin (local or
// remote) and VTEP vtep, installed if remote.
func (d *dom0) hasEVPNMAC(mac, origin string, vtep netip.Addr) error {
	for _, m := range d.evpnMACs() {
		if m.MAC == mac && m.Origin == origin && m.VTEP == vtep.String() && (origin == "local" || m.Installed) {
			return nil
		}
	}
	return fmt.Errorf("no %s MAC %s behind %s in %+v", origin, mac, vtep, d.evpnMACs())
}

// sessionUp waits for d's BGP session.
func (d *dom0) sessionUp(timeout time.Duration) {
	d.t.Helper()
	d.eventually(timeout, "BGP session established", func() error {
		var v []control.EVPNSession
		if err := d.xswitchctl(&v, "evpn", "sessions"); err != nil {
			return err
		}
		if len(v) != 1 || !v[0].Established {
			return fmt.Errorf("sessions %+v", v)
		}
		return nil
	})
}

// show logs what xswitchctl says, for the record of a run.
func (d *dom0) show(args ...string) {
	d.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "xswitchctl"), append([]string{"-socket", filepath.Join(d.dir, "ctl.sock")}, args...)...)
	out, err := cmd.CombinedOutput()
	d.t.Logf("%s: xswitchctl %s (%v):\n%s", d.host.Name(), strings.Join(args, " "), err, out)
}

// TestEVPNWithFRR: an xswitch host and a host whose kernel bridge FRR
// drives exchange their guests' MACs over BGP EVPN, carry their traffic
// over VXLAN, and follow a guest that migrates there and back. The
// xswitch host forwards in userspace, or with the tc fast path.
func TestEVPNWithFRR(t *testing.T) {
	requireFRR(t)
	for _, mode := range []string{"off", "tc"} {
		t.Run(mode, func(t *testing.T) { testEVPNWithFRR(t, mode) })
	}
}

func testEVPNWithFRR(t *testing.T, mode string) {
	xs := newDom0(t, mode)
	frr := newFRRHost(t)
	xsVTEP, frrVTEP := underlay(t, xs.host, frr.host, 1, 2)
	vxlanDevice(t, xs.host, xsVTEP)
	g1 := xs.guest("vif1.0", 1, "10.100.0.1/24")
	g3 := xs.guest("vif3.0", 3, "10.100.0.3/24")
	frr.start(frrVTEP, xsVTEP)
	g2 := frr.guest("vif2.0", 2, "10.100.0.2/24")
	xs.start(evpnYAML(xsVTEP, frrVTEP))
	xs.waitPorts(5*time.Second, "vif1.0=br0", "vif3.0=br0", evpnPort+"=br0")
	xs.sessionUp(20 * time.Second)

	// Each guest says hello once; then each side knows the other's MACs
	// from BGP before any unicast: the VXLAN devices learn nothing.
	for _, g := range []*topo.Guest{g1, g2, g3} {
		announce(t, g)
	}
	mac1, mac2, mac3 := g1.MAC().String(), g2.MAC().String(), g3.MAC().String()
	xs.eventually(5*time.Second, "FRR's guest in xswitch's EVPN table", func() error { return xs.hasEVPNMAC(mac2, "remote", frrVTEP) })
	frr.eventually(5*time.Second, "xswitch's guests in FRR's EVPN table", func() error {
		out := frr.vtysh("show evpn mac vni 100")
		for _, m := range []string{mac1, mac3} {
			if !regexpLine(out, m, "remote", xsVTEP.String()) {
				return fmt.Errorf("%s not remote behind %s:\n%s", m, xsVTEP, out)
			}
		}
		return nil
	})
	t.Logf("FRR:\n%s", frr.vtysh("show bgp l2vpn evpn"))
	xs.show("evpn", "macs")
	xs.show("evpn", "vnis")

	for _, g := range []*topo.Guest{g1, g3} {
		if err := ping(t, g, g2.Addr(), 3); err != nil {
			t.Fatal(err)
		}
	}
	evpnTransfer(t, g1, g2)
	evpnTransfer(t, g2, g3)

	// g3 migrates to the FRR host: its vif on xswitch goes, it announces
	// itself there, and g1 reaches it there within a second.
	migrate(t, g3, frr.host, "vif3.1", "br100")
	speak(t, g3, g2.Addr())
	took := reachWithin(t, g1, g3.Addr(), time.Second)
	t.Logf("g1 reached g3 on the FRR host %v after it spoke", took)
	xs.eventually(5*time.Second, "g3 remote at FRR", func() error { return xs.hasEVPNMAC(mac3, "remote", frrVTEP) })

	// And back: FRR's route for it has a sequence number below ours.
	migrate(t, g3, xs.host, "vif3.2", "")
	xs.waitPorts(5*time.Second, "vif1.0=br0", "vif3.2=br0", evpnPort+"=br0")
	speak(t, g3, g1.Addr())
	took = reachWithin(t, g2, g3.Addr(), time.Second)
	t.Logf("g2 reached g3 back on the xswitch host %v after it spoke", took)
	xs.eventually(5*time.Second, "g3 local again", func() error { return xs.hasEVPNMAC(mac3, "local", xsVTEP) })
	frr.eventually(5*time.Second, "g3 behind xswitch at FRR", func() error {
		out := frr.vtysh("show evpn mac vni 100")
		if !regexpLine(out, mac3, "remote", xsVTEP.String()) {
			return fmt.Errorf("%s not remote behind %s:\n%s", mac3, xsVTEP, out)
		}
		return nil
	})
	evpnTransfer(t, g3, g2)
	t.Logf("FRR after the migrations:\n%s\n%s", frr.vtysh("show bgp l2vpn evpn route type macip"), frr.vtysh("show evpn mac vni 100"))
	xs.show("evpn", "macs")
}

// TestEVPNTwoXswitch: two xswitch hosts exchange their guests' MACs over
// BGP EVPN, follow a guest that migrates, and keep the other's MACs for
// the grace period when the session drops, then withdraw them.
func TestEVPNTwoXswitch(t *testing.T) {
	requireE2E(t)
	a := newDom0(t, "off")
	b := newDom0(t, "tc")
	va, vb := underlay(t, a.host, b.host, 1, 2)
	vxlanDevice(t, a.host, va)
	vxlanDevice(t, b.host, vb)
	g1 := a.guest("vif1.0", 1, "10.100.0.1/24")
	g3 := a.guest("vif3.0", 3, "10.100.0.3/24")
	g2 := b.guest("vif2.0", 2, "10.100.0.2/24")
	a.start(evpnYAML(va, vb))
	b.start(evpnYAML(vb, va))
	a.waitPorts(5*time.Second, "vif1.0=br0", "vif3.0=br0", evpnPort+"=br0")
	b.waitPorts(5*time.Second, "vif2.0=br0", evpnPort+"=br0")
	a.sessionUp(20 * time.Second)
	b.sessionUp(5 * time.Second)

	for _, g := range []*topo.Guest{g1, g2, g3} {
		announce(t, g)
	}
	mac1, mac2, mac3 := g1.MAC().String(), g2.MAC().String(), g3.MAC().String()
	a.eventually(5*time.Second, "b's guest at a", func() error { return a.hasEVPNMAC(mac2, "remote", vb) })
	b.eventually(5*time.Second, "a's guests at b", func() error {
		if err := b.hasEVPNMAC(mac1, "remote", va); err != nil {
			return err
		}
		return b.hasEVPNMAC(mac3, "remote", va)
	})
	a.show("evpn", "macs")
	b.show("evpn", "macs")
	mf := a.scrape()
	if up := value(t, mf, "xswitch_evpn_session_up", map[string]string{"neighbor": vb.String()}); up != 1 {
		t.Errorf("xswitch_evpn_session_up %v, want 1", up)
	}
	if n := value(t, mf, "xswitch_evpn_macs", map[string]string{"origin": "remote"}); n != 1 {
		t.Errorf("remote xswitch_evpn_macs %v, want 1", n)
	}
	if n := value(t, mf, "xswitch_evpn_routes_advertised_total", nil); n < 3 {
		t.Errorf("xswitch_evpn_routes_advertised_total %v, want at least 3 (a VNI and 2 MACs)", n)
	}
	if err := ping(t, g1, g2.Addr(), 3); err != nil {
		t.Fatal(err)
	}
	evpnTransfer(t, g1, g2)

	migrate(t, g3, b.host, "vif3.1", "")
	b.waitPorts(5*time.Second, "vif2.0=br0", "vif3.1=br0", evpnPort+"=br0")
	speak(t, g3, g2.Addr())
	took := reachWithin(t, g1, g3.Addr(), time.Second)
	t.Logf("g1 reached g3 on host b %v after it spoke", took)
	a.eventually(5*time.Second, "g3 remote at a", func() error { return a.hasEVPNMAC(mac3, "remote", vb) })
	b.eventually(5*time.Second, "g3 local at b", func() error { return b.hasEVPNMAC(mac3, "local", vb) })
	evpnTransfer(t, g3, g1)
	a.show("evpn", "macs")
	b.show("evpn", "macs")

	// b stops: a keeps b's MACs, stale, for the grace period (3s), then
	// withdraws them.
	b.stop()
	a.eventually(5*time.Second, "b's MACs stale at a", func() error {
		for _, m := range a.evpnMACs() {
			if m.MAC == mac2 && m.Stale && m.Installed {
				return nil
			}
		}
		return fmt.Errorf("%s not stale: %+v", mac2, a.evpnMACs())
	})
	a.show("evpn", "macs")
	a.eventually(10*time.Second, "b's MACs withdrawn at a", func() error {
		for _, m := range a.evpnMACs() {
			if m.Origin == "remote" {
				return fmt.Errorf("still there: %+v", m)
			}
		}
		return nil
	})
}

// regexpLine reports whether a line of out has all of words.
func regexpLine(out string, words ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			if !strings.Contains(l, w) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/netstate"
	"github.com/xswitch/xswitch/internal/topo"
)

// The takeover tests play a dom0 whose network xswitchd takes over: a NIC
// eth0 wired to a LAN namespace, or a Debian-style kernel bridge xenbr0
// holding the NIC and a guest's vif. The LAN host pings dom0 every 10 ms and
// keeps a TCP connection with it busy through the takeover and the release.

// maxLost is the budget of pings lost during a takeover or a release: one
// second of pings every 10 ms.
const maxLost = 100

// takeoverDom0 is a dom0 with IPv6 on (no DAD, so no address is ever
// tentative for long) and its LAN.
type takeoverDom0 struct {
	*dom0
	lan *topo.Guest
	nl  *netlink.Handle // in the dom0
	// noMAC names links whose MAC state leaves out: a host port's switch
	// end made again has a new random one.
	noMAC []string
}

func newTakeoverDom0(t *testing.T) *takeoverDom0 {
	d := newDom0(t, "tc")
	d.args = append(d.args, "-takeover-state", filepath.Join(d.dir, "takeover.json"))
	for _, k := range []string{"net/ipv6/conf/default/disable_ipv6=0", "net/ipv6/conf/all/accept_dad=0", "net/ipv6/conf/default/accept_dad=0"} {
		key, v, _ := strings.Cut(k, "=")
		if err := d.host.SetSysctl(key, v); err != nil {
			t.Fatal(err)
		}
	}
	lan, err := d.host.AddUplink("eth0", topo.MAC(0x60), netip.MustParsePrefix("192.0.2.2/24"))
	if err != nil {
		t.Fatal(err)
	}
	var nl *netlink.Handle
	if err := d.host.Do(func() error {
		ns, err := vnetns.Get()
		if err != nil {
			return err
		}
		defer ns.Close()
		nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	return &takeoverDom0{dom0: d, lan: lan, nl: nl}
}

// ip runs ip in the dom0.
func (d *takeoverDom0) ip(args ...string) string {
	d.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", d.host.Name()}, args...)...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dom0Addresses gives link the dom0's addresses and routes: two IPv4 (one
// secondary, labelled), two IPv6, a default route with a source hint, and
// routes in table 100.
func (d *takeoverDom0) dom0Addresses(link string) {
	d.ip("addr", "add", "192.0.2.1/24", "dev", link)
	d.ip("addr", "add", "192.0.2.9/24", "dev", link, "label", link+":9")
	d.ip("-6", "addr", "add", "2001:db8::1/64", "dev", link)
	d.ip("-6", "addr", "add", "2001:db8::9/64", "dev", link, "nodad")
	d.ip("route", "add", "default", "via", "192.0.2.254", "dev", link, "src", "192.0.2.9")
	d.ip("route", "add", "198.51.100.0/24", "via", "192.0.2.253", "dev", link, "table", "100")
	d.ip("-6", "route", "add", "default", "via", "2001:db8::fe", "dev", link, "table", "100")
}

// state is what the comparison of before and after looks at.
type state struct {
	snap   *netstate.Snapshot
	addrs  []string // ip -j addr, one object per link, masked
	routes []string // ip -j route show table all, masked
	links  []string // link names
}

func (d *takeoverDom0) state() state {
	d.t.Helper()
	s, err := netstate.Take(d.nl)
	if err != nil {
		d.t.Fatal(err)
	}
	st := state{snap: s, addrs: ipJSON(d.t, d.ip("-j", "addr"), d.noMAC...), routes: ipJSON(d.t, d.ip("-j", "route", "show", "table", "all"))}
	for i, l := range s.Links {
		st.links = append(st.links, l.Name)
		if slices.Contains(d.noMAC, l.Name) {
			s.Links[i].MAC = "(masked)"
		}
	}
	sort.Strings(st.links)
	return st
}

// ipJSON masks what legitimately differs in ip's JSON between two moments
// of one dom0, and returns its objects sorted:
//   - ifindex: a kernel bridge or host port made again has a new one (links
//     are compared by name; routes name their device);
//   - valid_life_time and preferred_life_time: they count down;
//   - the order of the links and routes, which follows ifindex and the
//     order of insertion of equal routes on different links (the order of
//     a link's addresses is kept and compared);
//   - the MAC of the links named noMAC.
func ipJSON(t *testing.T, out string, noMAC ...string) []string {
	t.Helper()
	var objs []map[string]any
	if err := json.Unmarshal([]byte(out), &objs); err != nil {
		t.Fatalf("ip -j: %v\n%s", err, out)
	}
	var lines []string
	for _, o := range objs {
		delete(o, "ifindex")
		if name, _ := o["ifname"].(string); slices.Contains(noMAC, name) {
			delete(o, "address")
		}
		if ai, ok := o["addr_info"].([]any); ok {
			for _, a := range ai {
				if m, ok := a.(map[string]any); ok {
					delete(m, "valid_life_time")
					delete(m, "preferred_life_time")
				}
			}
		}
		b, _ := json.Marshal(o)
		lines = append(lines, string(b))
	}
	sort.Strings(lines)
	return lines
}

// same fails the test when the dom0 differs from want. Carrier (running,
// LOWER_UP) follows a bridge's ports through the kernel's linkwatch, which
// may take a second: the comparison waits that long for it.
func (d *takeoverDom0) same(what string, want state) {
	d.t.Helper()
	var diff []string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := d.state()
		diff = netstate.Diff(want.snap, got.snap, netstate.Mask{Lifetimes: true})
		diff = append(diff, lineDiff("ip -j addr", want.addrs, got.addrs)...)
		diff = append(diff, lineDiff("ip -j route show table all", want.routes, got.routes)...)
		diff = append(diff, lineDiff("link names", want.links, got.links)...)
		if len(diff) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	d.t.Fatalf("%s: the dom0 differs from before:\n%s", what, strings.Join(diff, "\n"))
}

func lineDiff(what string, want, got []string) []string {
	var out []string
	for _, l := range want {
		if !slices.Contains(got, l) {
			out = append(out, what+": - "+l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			out = append(out, what+": + "+l)
		}
	}
	return out
}

// ctl runs xswitchctl with args and decodes its -json answer of a takeover
// or release; err is its failure, with what it printed.
func (d *takeoverDom0) ctl(args ...string) (control.Takeover, error) {
	var v control.Takeover
	cmd := exec.Command(filepath.Join(binDir, "xswitchctl"), append([]string{"-socket", filepath.Join(d.dir, "ctl.sock"), "-json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return v, fmt.Errorf("xswitchctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return v, fmt.Errorf("xswitchctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v, nil
}

func (d *takeoverDom0) must(args ...string) control.Takeover {
	d.t.Helper()
	v, err := d.ctl(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return v
}

// pinger pings dom0 from the LAN every 10 ms.
type pinger struct {
	cmd   *exec.Cmd
	out   bytes.Buffer
	count int
}

func (d *takeoverDom0) startPing(to string, count int) *pinger {
	d.t.Helper()
	p := &pinger{cmd: d.lan.Command(d.t.Context(), "ping", "-D", "-n", "-i", "0.01", "-W", "1", "-c", strconv.Itoa(count), to), count: count}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	return p
}

var pingReply = regexp.MustCompile(`(?m)^\[(\d+\.\d+)\] .*icmp_seq=(\d+) `)

// loss is what the LAN host saw of dom0 while a takeover or release ran.
type loss struct {
	unanswered int           // echoes sent and never answered
	silence    time.Duration // the longest time between two answers
}

func (l loss) String() string {
	return fmt.Sprintf("%d echoes unanswered, longest silence between answers %.0f ms", l.unanswered, l.silence.Seconds()*1000)
}

// loss waits for ping to end and measures the loss. Unanswered echoes are
// not all: while its link has no carrier the LAN host cannot send, and ping
// waits instead of counting an echo lost, so the longest silence between
// answers is measured too.
func (p *pinger) loss(t *testing.T) loss {
	t.Helper()
	p.cmd.Wait()
	var (
		l        loss
		answered = map[string]bool{}
		last     float64
	)
	for _, m := range pingReply.FindAllStringSubmatch(p.out.String(), -1) {
		answered[m[2]] = true
		ts, _ := strconv.ParseFloat(m[1], 64)
		if last != 0 {
			gap := time.Duration((ts - last) * float64(time.Second))
			l.silence = max(l.silence, gap)
		}
		last = ts
	}
	if len(answered) == 0 {
		t.Fatalf("ping: no answer at all:\n%s", p.out.String())
	}
	l.unanswered = p.count - len(answered)
	return l
}

// within fails the test if l is over the budget: 100 echoes at 10 ms,
// and as long a silence.
func (l loss) within(t *testing.T, what string) {
	t.Helper()
	if l.unanswered > maxLost || l.silence > maxLost*10*time.Millisecond {
		t.Errorf("%s: %v: over the budget of %d echoes or %d ms", what, l, maxLost, maxLost*10)
	}
}

// during pings dom0 while f runs and returns the loss.
func (d *takeoverDom0) during(f func()) loss {
	p := d.startPing("192.0.2.1", 150)
	time.Sleep(300 * time.Millisecond)
	f()
	return p.loss(d.t)
}

// stream is a TCP connection between dom0 and the LAN host that carries a
// known byte pattern both ways until stopped.
type stream struct {
	conns       [2]net.Conn // dom0's end, the LAN's end
	wg          sync.WaitGroup
	stop        chan struct{}
	sent, recvd [2]int64
	errs        [2]error
}

func (d *takeoverDom0) openStream() *stream {
	d.t.Helper()
	l, err := d.lan.Listen("tcp", "192.0.2.2:5001")
	if err != nil {
		d.t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := d.host.Dial(d.t.Context(), "tcp", "192.0.2.2:5001")
	if err != nil {
		d.t.Fatal(err)
	}
	s := &stream{stop: make(chan struct{})}
	s.conns[0], s.conns[1] = c, <-accepted
	for i := range 2 {
		s.wg.Add(2)
		go s.write(i)
		go s.read(i)
	}
	d.t.Cleanup(func() { s.conns[0].Close(); s.conns[1].Close() })
	return s
}

// write sends 1 KiB every 5 ms from end i, then closes its sending half.
func (s *stream) write(i int) {
	defer s.wg.Done()
	buf := make([]byte, 1024)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			s.conns[i].(*net.TCPConn).CloseWrite()
			return
		case <-tick.C:
		}
		for j := range buf {
			buf[j] = byte((s.sent[i] + int64(j)) % 251)
		}
		n, err := s.conns[i].Write(buf)
		s.sent[i] += int64(n)
		if err != nil {
			s.errs[i] = err
			return
		}
	}
}

// read receives at end i what the other end sent, checking the pattern.
func (s *stream) read(i int) {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.conns[i].Read(buf)
		for j := range n {
			if buf[j] != byte((s.recvd[i]+int64(j))%251) {
				s.errs[i] = fmt.Errorf("byte %d differs", s.recvd[i]+int64(j))
				return
			}
		}
		s.recvd[i] += int64(n)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			s.errs[i] = err
			return
		}
	}
}

// check stops the stream and fails the test unless every byte sent each
// way arrived, in order.
func (s *stream) check(t *testing.T) {
	t.Helper()
	close(s.stop)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("TCP stream did not drain within 10 s: sent %v, received %v", s.sent, s.recvd)
	}
	for i, who := range []string{"dom0", "LAN host"} {
		if s.errs[i] != nil {
			t.Errorf("TCP connection at %s: %v", who, s.errs[i])
		}
	}
	if s.sent[0] != s.recvd[1] || s.sent[1] != s.recvd[0] || s.sent[0] == 0 || s.sent[1] == 0 {
		t.Errorf("TCP connection: dom0 sent %d, the LAN host received %d; the LAN host sent %d, dom0 received %d", s.sent[0], s.recvd[1], s.sent[1], s.recvd[0])
	}
	t.Logf("TCP connection survived: %d bytes dom0 → LAN and %d bytes LAN → dom0, checked on both sides", s.sent[0], s.sent[1])
}

// TestTakeoverNIC takes NIC eth0 over and releases it under pings and a
// busy TCP connection, then checks the dom0 is as before.
func TestTakeoverNIC(t *testing.T) {
	d := newTakeoverDom0(t)
	d.dom0Addresses("eth0")
	d.start("")
	before := d.state()
	s := d.openStream()

	var res control.Takeover
	lost := d.during(func() { res = d.must("takeover", "eth0") })
	t.Logf("takeover: %s; LAN host pinging every 10 ms: %v; dom0's addresses off for %.1f ms by the daemon's clock", res.Message, lost, res.OutageMS)
	lost.within(t, "takeover")
	if !res.Changed || len(res.Addresses) != 5 || len(res.Routes) != 3 {
		t.Errorf("takeover moved addresses %v and routes %v, want 4 and the link-local, and 3", res.Addresses, res.Routes)
	}
	d.waitPorts(time.Second, "peth0=xenbr0", "xhp-eth0=xenbr0")
	// What an operator sees: a second takeover changes nothing and says
	// so, exiting 0; one of an interface that is not there exits 1.
	sock := filepath.Join(d.dir, "ctl.sock")
	out, err := exec.Command(filepath.Join(binDir, "xswitchctl"), "-socket", sock, "takeover", "eth0").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "eth0 already taken over, nothing changed") {
		t.Errorf("second takeover: %v\n%s", err, out)
	}
	out, err = exec.Command(filepath.Join(binDir, "xswitchctl"), "-socket", sock, "takeover", "eth7").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "takeover of eth7") {
		t.Errorf("takeover of a missing interface: exit %d\n%s", code, out)
	}

	lost = d.during(func() { res = d.must("release", "eth0") })
	t.Logf("release: %s; LAN host pinging every 10 ms: %v; dom0's addresses off for %.1f ms by the daemon's clock", res.Message, lost, res.OutageMS)
	lost.within(t, "release")
	s.check(t)
	d.same("after takeover and release", before)
	if again := d.must("release", "eth0"); again.Changed || !strings.Contains(again.Message, "not taken over, nothing changed") {
		t.Errorf("second release: %+v", again)
	}
	d.same("after a second release", before)
	if p := d.ports(); len(p) != 0 {
		t.Errorf("after release the switch still has ports %v", p)
	}
}

// TestTakeoverAfterReboot: a takeover in force comes back when xswitchd
// starts, its host port deleted meanwhile, or after a reboot that gave the
// NIC its name and dom0's addresses back; a release then restores the dom0
// of before the takeover.
func TestTakeoverAfterReboot(t *testing.T) {
	d := newTakeoverDom0(t)
	// Auto mode would make host port eth0 for peth0 by itself: without,
	// only the record makes it.
	d.args = append(d.args, "-host-ports=false")
	d.dom0Addresses("eth0")
	d.start("")
	before := d.state()
	d.must("takeover", "eth0")
	d.waitPorts(time.Second, "peth0=xenbr0", "xhp-eth0=xenbr0")
	d.noMAC = []string{"xhp-eth0"}
	taken := d.state()
	hp := d.hostLink("eth0")
	dom0Addr := netip.MustParseAddr("192.0.2.1")

	// The host port deleted while xswitchd was down: made again at start,
	// with its MAC and MTU; the operator's files give it the addresses.
	d.stop()
	d.ip("link", "del", "eth0")
	d.start("")
	d.waitPorts(2*time.Second, "peth0=xenbr0", "xhp-eth0=xenbr0")
	if got := d.hostLink("eth0"); got.HardwareAddr.String() != hp.HardwareAddr.String() || got.MTU != hp.MTU {
		t.Errorf("host port made again with MAC %s and MTU %d, want %s and %d", got.HardwareAddr, got.MTU, hp.HardwareAddr, hp.MTU)
	}
	if line := d.logLine("host port eth0 was missing and is made again"); line == "" {
		t.Error("xswitchd did not say it made the host port again")
	} else {
		t.Log(line)
	}
	d.dom0Addresses("eth0")
	d.same("host port made again, with dom0's addresses", taken)
	if err := ping(t, d.lan, dom0Addr, 1); err != nil {
		t.Errorf("the LAN host does not reach dom0 through the host port made again: %v", err)
	}

	// A reboot: the fast path's pins and the host port are gone, udev
	// names the NIC eth0 and ifupdown gives it dom0's addresses.
	d.stop()
	if out, err := d.cleanup(); err != nil {
		t.Fatalf("xswitchd -cleanup: %v\n%s", err, out)
	}
	d.ip("link", "del", "eth0")
	d.ip("link", "set", "peth0", "down")
	d.ip("link", "set", "peth0", "name", "eth0")
	d.ip("link", "set", "eth0", "up")
	d.dom0Addresses("eth0")
	d.same("after a reboot", before)
	d.start("")
	d.waitPorts(2*time.Second, "peth0=xenbr0", "xhp-eth0=xenbr0")
	d.same("taken over again at start", taken)
	if line := d.logLine("eth0 was back as before its takeover, as after a reboot, and is taken over again"); line == "" {
		t.Error("xswitchd did not say it took eth0 over again")
	} else {
		t.Log(line)
	}
	if err := ping(t, d.lan, dom0Addr, 1); err != nil {
		t.Errorf("the LAN host does not reach dom0 after the takeover at start: %v", err)
	}
	res := d.must("release", "eth0")
	t.Log(res.Message)
	d.same("after release", before)
	if p := d.ports(); len(p) != 0 {
		t.Errorf("after release the switch still has ports %v", p)
	}
}

// logLine returns the first line of xswitchd's log that contains s, or "" when
// none comes within 2 s.
func (d *takeoverDom0) logLine(s string) string {
	// xswitchd may log a step just after the ports it attached are seen,
	// and its log comes through a pipe: give the line a moment.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(d.log.String(), "\n") {
			if strings.Contains(l, s) {
				return l
			}
		}
		if time.Now().After(deadline) {
			return ""
		}
	}
}

// kernelBridge makes the Debian setup: kernel bridge xenbr0 with the NIC
// eth0 and guest vif1.0 as ports, and dom0's addresses on the bridge.
func (d *takeoverDom0) kernelBridge() *topo.Guest {
	g := d.guest("vif1.0", 0x61, "192.0.2.3/24")
	d.ip("link", "add", "xenbr0", "address", "02:00:00:00:0b:01", "type", "bridge", "stp_state", "0", "forward_delay", "0", "ageing_time", "30000")
	d.ip("link", "set", "eth0", "master", "xenbr0")
	d.ip("link", "set", "vif1.0", "master", "xenbr0")
	d.ip("link", "set", "xenbr0", "up")
	d.dom0Addresses("xenbr0")
	return g
}

// TestTakeoverBridge migrates kernel bridge xenbr0 to xswitch and back,
// under pings and a busy TCP connection; the guest reaches the LAN through
// xswitch in between, also after xswitchd restarted.
func TestTakeoverBridge(t *testing.T) {
	d := newTakeoverDom0(t)
	g := d.kernelBridge()
	d.start("")
	if err := ping(t, g, d.lan.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	before := d.state()
	if p := d.ports(); len(p) != 0 {
		t.Errorf("ports of the kernel bridge attached to the switch too: %v", p)
	}
	s := d.openStream()

	var res control.Takeover
	lost := d.during(func() { res = d.must("takeover", "xenbr0") })
	t.Logf("migration: %s; LAN host pinging every 10 ms: %v; dom0's addresses off for %.1f ms by the daemon's clock", res.Message, lost, res.OutageMS)
	lost.within(t, "migration")
	d.waitPorts(time.Second, "eth0=xenbr0", "vif1.0=xenbr0", "xhp-xenbr0=xenbr0")
	if !d.ports()["eth0"].Uplink {
		t.Error("eth0 is not the uplink of xswitch's xenbr0")
	}
	if err := ping(t, g, d.lan.Addr(), 3); err != nil {
		t.Errorf("the guest does not reach the LAN through xswitch: %v", err)
	}
	if again := d.must("takeover", "xenbr0"); again.Changed {
		t.Errorf("second takeover: %+v", again)
	}
	// A restarted xswitchd keeps the bridge, which neither the naming
	// rule nor a file names, from the takeover's state file.
	d.stop()
	d.start("")
	d.waitPorts(2*time.Second, "eth0=xenbr0", "vif1.0=xenbr0", "xhp-xenbr0=xenbr0")
	if err := ping(t, g, d.lan.Addr(), 1); err != nil {
		t.Errorf("after a restart of xswitchd the guest does not reach the LAN: %v", err)
	}

	lost = d.during(func() { res = d.must("release", "xenbr0") })
	t.Logf("release of the bridge: %s; LAN host pinging every 10 ms: %v; dom0's addresses off for %.1f ms by the daemon's clock", res.Message, lost, res.OutageMS)
	lost.within(t, "release of the bridge")
	s.check(t)
	d.same("after migration and release", before)
	if err := ping(t, g, d.lan.Addr(), 1); err != nil {
		t.Errorf("the guest does not reach the LAN through the kernel bridge again: %v", err)
	}
	if p := d.ports(); len(p) != 0 {
		t.Errorf("after release the switch still has ports %v", p)
	}
}

// TestTakeoverRollback makes each step of each takeover and release fail
// in turn through xswitchctl -fail-at: each exits 1 and leaves the dom0 as
// it was.
func TestTakeoverRollback(t *testing.T) {
	requireE2E(t)
	for _, tt := range []struct {
		name, iface string
		setup       func(d *takeoverDom0)
	}{
		{"nic", "eth0", func(d *takeoverDom0) { d.dom0Addresses("eth0") }},
		{"bridge", "xenbr0", func(d *takeoverDom0) { d.kernelBridge() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newTakeoverDom0(t)
			tt.setup(d)
			d.start("")
			n := d.drill("takeover", tt.iface)
			d.must("takeover", tt.iface)
			m := d.drill("release", tt.iface)
			d.must("release", tt.iface)
			t.Logf("each of %d takeover and %d release steps failed in turn; each rolled back", n, m)
		})
	}
}

// drill fails step 1, 2, ... of xswitchctl's cmd on iface until the last,
// and compares the dom0 after each with the dom0 before; it returns the
// number of steps.
func (d *takeoverDom0) drill(cmd, iface string) int {
	d.t.Helper()
	want := d.state()
	wantPorts := d.ports()
	for k := 1; ; k++ {
		_, err := d.ctl("-fail-at", strconv.Itoa(k), cmd, iface)
		if err == nil || !strings.Contains(err.Error(), "rolled back, nothing changed") {
			d.t.Fatalf("%s %s failing at step %d: %v; want a failure, rolled back", cmd, iface, k, err)
		}
		d.same(fmt.Sprintf("%s failing at step %d", cmd, k), want)
		if got := d.ports(); len(got) != len(wantPorts) {
			d.t.Fatalf("%s failing at step %d: switch ports %v, want %v", cmd, k, got, wantPorts)
		}
		if strings.Contains(err.Error(), fmt.Sprintf("step %d of %d,", k, k)) {
			return k
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

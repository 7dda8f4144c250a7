package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// churnCycles is how many vifs come and go in a mode: 200 in the modes
// most dom0s run (tc; AF_XDP ports with XDP, which has every map, socket and
// UMEM there is), 50 in the others to keep the suite's time in bounds.
// XSWITCH_CHURN_CYCLES sets every mode's.
func churnCycles(t *testing.T, mode string) int {
	if s := os.Getenv("XSWITCH_CHURN_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			t.Fatalf("XSWITCH_CHURN_CYCLES=%q: want a number of cycles, at least 2", s)
		}
		return n
	}
	if mode == "tc" || mode == "afxdp-xdp" {
		return 200
	}
	return 50
}

// goroutineSlack is how far the daemon's goroutine count may be from its
// baseline: the runtime and net/http start and end a few on their own
// (a connection's reader, a timer's), whatever the switch does.
const goroutineSlack = 2

// churnConfig is the file of the churn test's daemon; churnReloaded is the
// one it is reloaded with every so often, and back: a bridge comes and
// goes, and a static MAC on vif2.0, which the flow goes to, is pinned and
// unpinned in place.
const churnConfig = `
bridges:
  - name: xenbr0
    ports: ["vif*.0"]
`

var churnReloaded = churnConfig + `    static:
      - {mac: "02:00:00:00:00:33", port: vif2.0}
  - name: xenbr1
    ports: ["vif*.1"]
`

// TestChurn attaches and detaches vifs again and again while two guests
// that stay exchange a steady flow, with xswitchctl calls and reloads in
// between: every frame of the flow arrives once, each new vif forwards,
// and what the daemon holds (file descriptors, goroutines, the fast path's
// map entries and pins, AF_XDP frames) comes back to what it was.
func TestChurn(t *testing.T) { forEachMode(t, testChurn) }

func testChurn(t *testing.T, mode string) {
	cycles := churnCycles(t, mode)
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.23.0.1/24")
	b := d.guest("vif2.0", 2, "10.23.0.2/24")
	c3 := d.guest("vif3.0", 3, "10.23.0.3/24")
	d.start(churnConfig)
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	if err := ping(t, a, b.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	atA, atB := capture(t, a), capture(t, b)
	fl := startFlow(t, a, b)
	c := newChurner(d, a, atA)

	// A warm-up: what is made once, on first use (a bridge's UMEM and
	// workers, xenbr1 of the first reload, the control server's
	// connections), is no leak.
	for i := range 2 {
		c.cycle(-1 - i)
	}
	c.reload(churnReloaded)
	c.reload(churnConfig)
	wake := func() { c.wake(map[*topo.Guest]*topo.Capture{a: atB, b: atA, c3: atA}) }
	wake()
	before := d.settledResources()
	t.Logf("baseline: %v", before)

	start := time.Now()
	for i := range cycles {
		c.cycle(i)
		if i%10 == 9 {
			c.reload(map[bool]string{false: churnReloaded, true: churnConfig}[c.reloads%2 == 1])
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if c.reloads%2 == 1 {
		c.reload(churnConfig)
	}
	took := time.Since(start)
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")

	sent := fl.end()
	if err := atB.WaitFor(taggedPrefix("flow-"), sent, 5*time.Second); err != nil {
		t.Error(err)
	}
	time.Sleep(settle)
	if lost, dup := seqLoss(atB, "flow-", sent); lost != 0 || dup != 0 {
		t.Errorf("the a→b flow lost %d and duplicated %d of %d frames", lost, dup, sent)
	}

	for _, msg := range []string{"cannot attach interface", "refused to share the bridge's UMEM"} {
		if n := strings.Count(d.log.String(), msg); n != 0 {
			t.Errorf("%q logged %d times", msg, n)
		}
	}
	if n := strings.Count(d.log.String(), `msg="port attached" bridge=xenbr0 port=vif2.0 `); n != 1 {
		t.Errorf("vif2.0 attached %d times, want once: reloads pin its static MAC in place", n)
	}

	wake()
	after := d.sameResources(before, 10*time.Second)
	t.Logf("%d cycles (%d through the naming rule, %d through xswitchctl port add/del) in %v, %d reloads, %d xswitchctl calls; "+
		"the a→b flow: %d frames, each once; after: %v",
		cycles, (cycles+1)/2, cycles/2, took.Round(time.Millisecond), c.reloads, c.ctlCalls, sent, after)
}

// churner adds and removes vifs one cycle at a time.
type churner struct {
	d        *dom0
	a        *topo.Guest // a guest that stays, which each new vif talks to
	atA      *topo.Capture
	reloads  int
	ctlCalls int
	wakes    int
}

func newChurner(d *dom0, a *topo.Guest, atA *topo.Capture) *churner {
	return &churner{d: d, a: a, atA: atA}
}

// wake has each guest that stays send a broadcast, which another one
// sees: each of their ports has received since it was attached. An AF_XDP
// port's fill rings hold a few frames until it first receives, then what
// their share of the UMEM gives: the frames in use are known only when
// every port has received.
func (c *churner) wake(seenAt map[*topo.Guest]*topo.Capture) {
	t := c.d.t
	t.Helper()
	c.wakes++
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for g, at := range seenAt {
		tag := fmt.Sprintf("wake-%s-%d", g.Vif(), c.wakes)
		inject(t, g, marker(bcast, g.MAC(), tag))
		if err := at.WaitFor(tagged(tag), 1, 5*time.Second); err != nil {
			t.Fatalf("broadcast from %s: %v", g.Vif(), err)
		}
	}
}

// cycle i brings a guest up, attaches its vif, has it talk to a both ways,
// detaches it and deletes it. Even cycles attach through the naming rule
// (vifN.0 appears and goes, as a domU starts and stops); odd ones through
// xswitchctl port add and del, on a name the rule does not match. An
// xswitchctl query runs in between.
func (c *churner) cycle(i int) {
	d, t := c.d, c.d.t
	t.Helper()
	n := 1000 + i + 1
	name := fmt.Sprintf("vif%d.0", n)
	byCtl := i%2 != 0
	if byCtl {
		name = fmt.Sprintf("ch%d", n)
	}
	g := d.guest(name, n, fmt.Sprintf("10.23.%d.%d/16", n>>8&0xff, n&0xff))
	if byCtl {
		c.ctl("port", "add", "xenbr0", name)
	}
	d.eventually(5*time.Second, name+" attached", func() error { return c.hasPort(name, true) })

	atG := capture(t, g)
	tag := fmt.Sprint("churn-", n)
	inject(t, g, marker(c.a.MAC(), g.MAC(), tag))
	if err := c.atA.WaitFor(tagged(tag), 1, 5*time.Second); err != nil {
		t.Fatalf("cycle %d: %s → a: %v", i, name, err)
	}
	inject(t, c.a, marker(g.MAC(), c.a.MAC(), tag+"-back"))
	if err := atG.WaitFor(tagged(tag+"-back"), 1, 5*time.Second); err != nil {
		t.Fatalf("cycle %d: a → %s: %v", i, name, err)
	}
	switch i % 4 {
	case 0, 1:
		c.ctl("port", "list")
	case 2:
		c.ctl("fdb", "xenbr0")
	case 3:
		c.ctl("top", "-n", "1", "-d", "10ms")
	}

	if byCtl {
		c.ctl("port", "del", name)
		d.eventually(5*time.Second, name+" detached", func() error { return c.hasPort(name, false) })
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	d.eventually(5*time.Second, name+" detached", func() error { return c.hasPort(name, false) })
}

func (c *churner) hasPort(name string, want bool) error {
	var v []control.Port
	if err := c.d.ctl.Get(context.Background(), "/v1/ports", nil, &v); err != nil {
		return err
	}
	if got := slices.ContainsFunc(v, func(p control.Port) bool { return p.Name == name }); got != want {
		return fmt.Errorf("port %s listed: %v", name, got)
	}
	return nil
}

// ctl runs xswitchctl and fails the test if it fails.
func (c *churner) ctl(args ...string) {
	c.d.t.Helper()
	c.ctlCalls++
	if err := c.d.xswitchctl(nil, args...); err != nil {
		c.d.t.Fatal(err)
	}
}

// reload writes yaml as the daemon's file and sends SIGHUP, and waits for
// the reload to succeed and for the ports it detached to be back.
func (c *churner) reload(yaml string) {
	d := c.d
	d.t.Helper()
	var ports []string
	for name, p := range d.ports() {
		ports = append(ports, name+"="+p.Bridge)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "xswitch.yaml"), []byte(yaml), 0o644); err != nil {
		d.t.Fatal(err)
	}
	const done = `msg="configuration reloaded"`
	before := strings.Count(d.log.String(), done)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		d.t.Fatal(err)
	}
	c.reloads++
	d.eventually(5*time.Second, "reload", func() error {
		if strings.Count(d.log.String(), done) == before {
			return errors.New("no reload logged")
		}
		return nil
	})
	d.waitPorts(5*time.Second, ports...)
}

// seqLoss counts the frames of a numbered flow (tags prefix0 to
// prefix<sent-1>) that c did not see, and those it saw more than once.
func seqLoss(c *topo.Capture, prefix string, sent int) (lost, dup int) {
	for _, k := range seqSeen(c, prefix, sent) {
		switch {
		case k == 0:
			lost++
		case k > 1:
			dup++
		}
	}
	return lost, dup
}

// seqSeen returns how many times c saw each frame of a numbered flow.
func seqSeen(c *topo.Capture, prefix string, sent int) []int {
	seen := make([]int, sent)
	for _, f := range c.Frames() {
		if n, ok := seqOf(f, prefix); ok && n < sent {
			seen[n]++
		}
	}
	return seen
}

// seqOf returns the number of the marker frame f tagged prefix<n>.
func seqOf(f []byte, prefix string) (int, bool) {
	want := []byte("xswitch-e2e:" + prefix)
	i := bytes.Index(f, want)
	if i < 0 {
		return 0, false
	}
	rest := f[i+len(want):]
	end := bytes.IndexByte(rest, 0)
	if end < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(rest[:end]))
	return n, err == nil && n >= 0
}

// resources are what a daemon holds that a leak would grow.
type resources struct {
	fds        map[string]int // open file descriptors by kind: socket, anon_inode:bpf-map, a path...
	goroutines int
	entries    map[string]int // entries of the fast path's pinned maps, by map
	pins       []string       // files under the pin directory
	umemInUse  int            // AF_XDP frames out of the UMEMs' pools; -1 without AF_XDP ports
	// sharing is the number of AF_XDP ports on their bridge's UMEM,
	// afxdp the number of AF_XDP ports: a port the kernel refuses the
	// UMEM to has one of its own, which the series of the bridge's UMEM
	// do not count.
	sharing, afxdp int
}

func (r resources) nfds() (n int) {
	for _, k := range r.fds {
		n += k
	}
	return n
}

func (r resources) String() string {
	umem := "no UMEM"
	if r.umemInUse >= 0 {
		umem = fmt.Sprintf("%d UMEM frames in use by %d ports", r.umemInUse, r.sharing)
	}
	return fmt.Sprintf("%d fds %v, %d goroutines, map entries %v, %d pins, %s", r.nfds(), r.fds, r.goroutines, r.entries, len(r.pins), umem)
}

// leaks lists how r has grown (or shrunk) from base, beyond the
// goroutines' slack. UMEM frames in use may drop below the baseline: the
// ports that stay shrink their fill rings when idle.
func (r resources) leaks(base resources) []string {
	var out []string
	if r.nfds() != base.nfds() {
		out = append(out, fmt.Sprintf("%d open files, were %d: %v, were %v", r.nfds(), base.nfds(), r.fds, base.fds))
	}
	if r.goroutines > base.goroutines+goroutineSlack || r.goroutines < base.goroutines-goroutineSlack {
		out = append(out, fmt.Sprintf("%d goroutines, were %d (±%d)", r.goroutines, base.goroutines, goroutineSlack))
	}
	for _, m := range slices.Sorted(mapKeys(r.entries, base.entries)) {
		if r.entries[m] != base.entries[m] {
			out = append(out, fmt.Sprintf("map %s: %d entries, were %d", m, r.entries[m], base.entries[m]))
		}
	}
	if !slices.Equal(r.pins, base.pins) {
		out = append(out, fmt.Sprintf("pins %v, were %v", r.pins, base.pins))
	}
	// Per port on the UMEM: each port's fill rings hold their share
	// once it has received (see churner.wake).
	if r.sharing != r.afxdp {
		out = append(out, fmt.Sprintf("%d of %d AF_XDP ports on their bridge's UMEM", r.sharing, r.afxdp))
	}
	if r.umemInUse*max(base.sharing, 1) > base.umemInUse*max(r.sharing, 1) {
		out = append(out, fmt.Sprintf("%d UMEM frames in use by %d ports, were %d by %d", r.umemInUse, r.sharing, base.umemInUse, base.sharing))
	}
	return out
}

func mapKeys(ms ...map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range ms {
			for k := range m {
				if !seen[k] && !yield(k) {
					return
				}
				seen[k] = true
			}
		}
	}
}

// sameResources waits until the daemon holds what it held at base, and
// fails the test when it does not within timeout; it returns the last
// count.
func (d *dom0) sameResources(base resources, timeout time.Duration) resources {
	d.t.Helper()
	var r resources
	var leaks []string
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		r = d.settledResources()
		if leaks = r.leaks(base); len(leaks) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, l := range leaks {
		d.t.Errorf("leak: %s", l)
	}
	return r
}

// settledResources counts what the daemon holds once its AF_XDP ports
// have topped their fill rings up after what they last received: the
// frames in use have not changed for 300 ms (or 5 s have passed).
func (d *dom0) settledResources() resources {
	d.t.Helper()
	r := d.resources()
	for same, deadline := 0, time.Now().Add(5*time.Second); same < 3 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		next := d.resources()
		if next.umemInUse == r.umemInUse {
			same++
		} else {
			same = 0
		}
		r = next
	}
	return r
}

// resources counts what the daemon holds now.
func (d *dom0) resources() resources {
	d.t.Helper()
	pid := d.cmd.Process.Pid
	r := resources{fds: map[string]int{}, entries: map[string]int{}, umemInUse: -1}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		d.t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if i := strings.Index(target, ":["); i > 0 {
			target = target[:i] // socket:[inode], pipe:[inode]
		}
		if target == "anon_inode:bpf_link" {
			info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
			for _, l := range strings.Split(string(info), "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok && (k == "link_type" || k == "ifindex" || k == "attach_type") {
					target += " " + k + "=" + strings.TrimSpace(v)
				}
			}
		}
		r.fds[target]++
	}

	mf := d.scrapeOnce()
	if f := mf["go_goroutines"]; f != nil && len(f.Metric) == 1 {
		r.goroutines = int(f.Metric[0].GetGauge().GetValue())
	} else {
		d.t.Fatal("no go_goroutines in /metrics")
	}
	if f := mf["xswitch_afxdp_umem_frames_in_use"]; f != nil {
		r.umemInUse = 0
		for _, m := range f.Metric {
			r.umemInUse += int(m.GetGauge().GetValue())
		}
		for _, p := range d.ports() {
			if p.AFXDP != nil {
				r.afxdp++
				if p.AFXDP.SharesUMEM {
					r.sharing++
				}
			}
		}
	}

	err = filepath.WalkDir(d.pinDir, func(path string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(d.pinDir, path)
		r.pins = append(r.pins, rel)
		return nil
	})
	if err != nil {
		d.t.Fatal(err)
	}
	for _, name := range []string{"xs_fdb", "xs_ports", "xs_tx_ports", "xs_stats", "xs_vlans", "xs_allowed"} {
		n, err := mapEntries(filepath.Join(d.pinDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no fast path
		}
		if err != nil {
			d.t.Fatalf("%s: %v", name, err)
		}
		r.entries[name] = n
	}
	return r
}

// mapEntries counts the entries of the map pinned at path.
func mapEntries(path string) (int, error) {
	m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer m.Close()
	var key any
	for n := 0; ; n++ {
		next, err := m.NextKeyBytes(key)
		if err != nil {
			return 0, err
		}
		if next == nil {
			return n, nil
		}
		key = next
	}
}

// scrapeOnce fetches /metrics on a connection of its own, closed after:
// one a client keeps would be an open file of the daemon's.
func (d *dom0) scrapeOnce() map[string]*dto.MetricFamily {
	d.t.Helper()
	cl := d.host.HTTPClient()
	cl.Transport.(*http.Transport).DisableKeepAlives = true
	resp, err := cl.Get("http://127.0.0.1:9417/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		d.t.Fatalf("/metrics: %v", err)
	}
	return mf
}

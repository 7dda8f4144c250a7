package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// settle is how long a test waits to be sure that no more frames arrive.
const settle = 300 * time.Millisecond

// dom0 is a host namespace with xswitchd running in it.
type dom0 struct {
	t    *testing.T
	host *topo.Host
	dir  string // config, socket and log of the daemon
	ctl  *control.Client
	cmd  *exec.Cmd
	log  *lockedBuffer
	// mode is the fast-path mode of every port: off, tc or xdp.
	mode string
	// afxdp says every port is an AF_XDP port.
	afxdp bool
	// pinDir is where the daemon pins its fast path; unique per test.
	pinDir string
	// args are more flags for xswitchd.
	args []string
	// wrap is a command line xswitchd runs under, e.g. setpriv's.
	wrap []string
	// startTimeout is how long start waits for the control socket; 15s
	// when 0 (a loaded machine's netlink can hold a start for seconds).
	startTimeout time.Duration
}

// modes are the modes the suite runs in: the fast-path mode of every port,
// with AF_PACKET ports, or after "afxdp-" with AF_XDP ports.
var modes = []string{"off", "tc", "xdp", "afxdp-off", "afxdp-xdp"}

// forEachMode runs a scenario once per mode.
func forEachMode(t *testing.T, f func(t *testing.T, mode string)) {
	requireE2E(t)
	for _, m := range modes {
		t.Run(m, func(t *testing.T) { f(t, m) })
	}
}

// fastModes runs a scenario in the modes that have a fast path.
func fastModes(t *testing.T, f func(t *testing.T, mode string)) {
	requireE2E(t)
	for _, m := range modes {
		if fastPath(m) != "off" {
			t.Run(m, func(t *testing.T) { f(t, m) })
		}
	}
}

// fastPath returns the fast-path mode of a suite mode: off, tc or xdp.
func fastPath(mode string) string { return strings.TrimPrefix(mode, "afxdp-") }

// isAFXDP says whether a suite mode has AF_XDP ports.
func isAFXDP(mode string) bool { return strings.HasPrefix(mode, "afxdp-") }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newDom0 makes a host namespace. The daemon is started by start, so that
// tests can create interfaces before or after it.
func newDom0(t *testing.T, mode string) *dom0 {
	t.Helper()
	requireE2E(t)
	h, err := topo.NewHost("e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	d := &dom0{t: t, host: h, dir: t.TempDir(), log: &lockedBuffer{}, mode: fastPath(mode), afxdp: isAFXDP(mode), pinDir: "/sys/fs/bpf/" + h.Name()}
	if d.afxdp {
		d.args = append(d.args, "-port-type", "afxdp")
	}
	// Runs after the daemon stopped (cleanups run last first): the clean
	// stop that removes the fast path.
	t.Cleanup(func() {
		if out, err := d.cleanup(); err != nil {
			t.Errorf("xswitchd -cleanup: %v\n%s", err, out)
		}
	})
	return d
}

// cleanup runs xswitchd -cleanup on the dom0's pin directory.
func (d *dom0) cleanup() ([]byte, error) {
	return exec.Command("nsenter", "--net="+d.host.NSPath(), filepath.Join(binDir, "xswitchd"), "-cleanup", "-bpf-pin-dir", d.pinDir).CombinedOutput()
}

// start runs xswitchd in the host namespace with the given YAML
// configuration, or in auto mode when it is "".
func (d *dom0) start(yaml string) {
	d.t.Helper()
	sock := filepath.Join(d.dir, "ctl.sock")
	args := append([]string{"--net=" + d.host.NSPath()}, d.wrap...)
	args = append(args, filepath.Join(binDir, "xswitchd"), "-control", sock, "-metrics", "127.0.0.1:9417", "-log-level", "debug",
		"-fastpath", d.mode, "-bpf-pin-dir", d.pinDir, "-port-state", filepath.Join(d.dir, "ports.json"))
	args = append(args, d.args...) // a flag given again here wins
	if yaml != "" {
		f := filepath.Join(d.dir, "xswitch.yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			d.t.Fatal(err)
		}
		args = append(args, "-config", f)
	}
	d.cmd = exec.Command("nsenter", args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.ctl = control.NewClient(sock)
	d.t.Cleanup(func() { d.stop() })
	d.t.Cleanup(func() {
		if d.t.Failed() {
			d.t.Logf("xswitchd log:\n%s", d.log.String())
		}
	})
	d.eventually(cmp.Or(d.startTimeout, 15*time.Second), "control socket answers", func() error {
		var v []control.Bridge
		return d.ctl.Get(context.Background(), "/v1/bridges", nil, &v)
	})
}

// stop sends SIGTERM and waits; the log is shown when the test failed.
func (d *dom0) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			d.t.Errorf("xswitchd exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
		d.t.Errorf("xswitchd did not stop within 10s of SIGTERM")
	}
	d.cmd = nil
}

// eventually retries f until it succeeds or the timeout passes.
func (d *dom0) eventually(timeout time.Duration, what string, f func() error) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ports returns the daemon's ports by name.
func (d *dom0) ports() map[string]control.Port {
	d.t.Helper()
	var v []control.Port
	if err := d.ctl.Get(context.Background(), "/v1/ports", nil, &v); err != nil {
		d.t.Fatal(err)
	}
	m := map[string]control.Port{}
	for _, p := range v {
		m[p.Name] = p
	}
	return m
}

// waitPorts waits until exactly the named ports are attached, on the given
// bridges ("port=bridge").
func (d *dom0) waitPorts(timeout time.Duration, want ...string) {
	d.t.Helper()
	d.eventually(timeout, "ports "+strings.Join(want, " "), func() error {
		var v []control.Port
		if err := d.ctl.Get(context.Background(), "/v1/ports", nil, &v); err != nil {
			return err
		}
		var got []string
		for _, p := range v {
			got = append(got, p.Name+"="+p.Bridge)
		}
		slices.Sort(got)
		if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			return fmt.Errorf("attached: %v", got)
		}
		return nil
	})
}

// fdb returns the MAC table as "bridge mac" → port.
func (d *dom0) fdb() map[string]string {
	d.t.Helper()
	return d.fdbBy(func(e control.FDBEntry) string { return e.Bridge + " " + e.MAC })
}

// fdbBy returns the MAC table as key(entry) → port.
func (d *dom0) fdbBy(key func(control.FDBEntry) string) map[string]string {
	d.t.Helper()
	var v []control.FDBEntry
	if err := d.ctl.Get(context.Background(), "/v1/fdb", nil, &v); err != nil {
		d.t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range v {
		m[key(e)] = e.Port
	}
	return m
}

// guest adds a guest behind vif with MAC topo.MAC(n) and the given address.
// In xdp mode the guest turns GRO on, as a guest that wants XDP frames
// redirected to it does: a veth then accepts them. (With AF_XDP ports the
// frames the switch sends are skbs: no GRO needed.)
func (d *dom0) guest(vif string, n int, addr string) *topo.Guest {
	d.t.Helper()
	g, err := d.host.AddGuest(vif, topo.MAC(n), netip.MustParsePrefix(addr))
	if err != nil {
		d.t.Fatal(err)
	}
	if d.mode == "xdp" {
		if out, err := g.Command(d.t.Context(), "ethtool", "-K", "eth0", "gro", "on").CombinedOutput(); err != nil {
			d.t.Fatalf("ethtool -K eth0 gro on in %s: %v\n%s", g.Name(), err, out)
		}
	}
	return g
}

// ping runs ping from g and reports whether every echo was answered.
func ping(t *testing.T, g *topo.Guest, to netip.Addr, count int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := g.Command(ctx, "ping", "-c", fmt.Sprint(count), "-i", "0.1", "-W", "1", to.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %v\n%s", to, g.Name(), err, out)
	}
	return nil
}

// marker builds a test frame from src to dst whose payload names it, so
// captures can tell it apart from anything else on the wire.
func marker(dst, src net.HardwareAddr, tag string) []byte {
	f := make([]byte, 0, 64)
	f = append(f, dst...)
	f = append(f, src...)
	f = append(f, 0x88, 0xb5) // local experimental ethertype
	f = append(f, "xswitch-e2e:"+tag...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

// tagged matches frames carrying the given marker tag.
func tagged(tag string) func([]byte) bool {
	want := []byte("xswitch-e2e:" + tag + "\x00")
	return func(f []byte) bool { return bytes.Contains(f, want) }
}

// taggedPrefix matches frames whose marker tag starts with prefix.
func taggedPrefix(prefix string) func([]byte) bool {
	want := []byte("xswitch-e2e:" + prefix)
	return func(f []byte) bool { return bytes.Contains(f, want) }
}

func capture(t *testing.T, g *topo.Guest) *topo.Capture {
	t.Helper()
	c, err := g.Capture()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func inject(t *testing.T, g *topo.Guest, frames ...[]byte) {
	t.Helper()
	if err := g.Inject(frames...); err != nil {
		t.Fatal(err)
	}
}

// exactly checks that c saw exactly n frames matching m, waiting for them
// and then a little longer for any extra.
func exactly(t *testing.T, c *topo.Capture, who string, m func([]byte) bool, n int) {
	t.Helper()
	if n > 0 {
		if err := c.WaitFor(m, n, 5*time.Second); err != nil {
			t.Errorf("%s: %v", who, err)
			return
		}
	}
	time.Sleep(settle)
	if got := c.Count(m); got != n {
		t.Errorf("%s: got %d frames, want exactly %d", who, got, n)
	}
}

// sumOverLinks adds up count over the named interfaces of the dom0.
func (d *dom0) sumOverLinks(count func(netlink.Link) (int, error), names ...string) (n int) {
	d.t.Helper()
	err := d.host.Do(func() error {
		for _, name := range names {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			k, err := count(l)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			n += k
		}
		return nil
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return n
}

// fastPathPrograms counts the XDP and TC ingress programs attached to the
// named interfaces of the dom0.
func (d *dom0) fastPathPrograms(names ...string) int {
	d.t.Helper()
	return d.sumOverLinks(func(l netlink.Link) (int, error) {
		n := 0
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			n++
		}
		res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return 0, fmt.Errorf("query TC ingress: %w", err)
		}
		return n + len(res.Programs), nil
	}, names...)
}

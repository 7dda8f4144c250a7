package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// unitCaps returns the capabilities the systemd unit leaves xswitchd, as
// setpriv's --bounding-set wants them: -all,+net_admin,...
func unitCaps(t *testing.T) string {
	t.Helper()
	unit, err := os.ReadFile("../dist/systemd/xswitchd.service.in")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapabilityBoundingSet=(.+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("the unit has no CapabilityBoundingSet")
	}
	caps := "-all"
	for _, c := range strings.Fields(string(m[1])) {
		caps += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return caps
}

// notifySocket is what systemd listens on for a Type=notify service.
type notifySocket struct {
	t    *testing.T
	msgs chan string
}

// listenNotify opens a notify socket and points NOTIFY_SOCKET, which
// xswitchd inherits, at it.
func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	n := &notifySocket{t: t, msgs: make(chan string, 16)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// expect waits for the next message and checks that its first line is want.
func (n *notifySocket) expect(want string) {
	n.t.Helper()
	select {
	case m := <-n.msgs:
		if first, _, _ := strings.Cut(m, "\n"); first != want {
			n.t.Fatalf("service manager told %q, want %s", m, want)
		}
	case <-time.After(10 * time.Second):
		n.t.Fatalf("no %s within 10s", want)
	}
}

// TestServiceNotify runs xswitchd as its systemd unit does, with the unit's
// capabilities only: it says READY=1 when, and only when, every configured
// interface present is attached; RELOADING=1 and READY=1 around a reload;
// STOPPING=1 on SIGTERM.
func TestServiceNotify(t *testing.T) {
	requireE2E(t)
	for _, mode := range []string{"tc", "afxdp-xdp"} {
		t.Run(mode, func(t *testing.T) { testServiceNotify(t, mode) })
	}
}

func testServiceNotify(t *testing.T, mode string) {
	d := newDom0(t, mode)
	d.wrap = []string{"setpriv", "--bounding-set=" + unitCaps(t), "--no-new-privs"}
	if _, err := d.host.AddUplink("peth0", topo.MAC(100), netip.MustParsePrefix("10.41.0.100/24")); err != nil {
		t.Fatal(err)
	}
	want := []string{"peth0=xenbr0"}
	for i := 1; i <= 6; i++ {
		vif := fmt.Sprintf("vif%d.%d", i, i%2)
		d.guest(vif, i, fmt.Sprintf("10.41.%d.%d/24", i%2, i))
		want = append(want, fmt.Sprintf("%s=xenbr%d", vif, i%2))
	}
	n := listenNotify(t)
	d.start(`
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*.0"]
  - name: xenbr1
    ports: ["vif*.1"]
`)
	n.expect("READY=1")
	// No waiting: every port must be there the moment READY=1 is sent.
	d.waitPorts(0, want...)
	// Vifs that appear later attach with the same capabilities: the
	// daemon keeps what attaching takes for its whole life.
	for i := 7; i <= 8; i++ {
		vif := fmt.Sprintf("vif%d.%d", i, i%2)
		d.guest(vif, i, fmt.Sprintf("10.41.%d.%d/24", i%2, i))
		want = append(want, fmt.Sprintf("%s=xenbr%d", vif, i%2))
	}
	d.waitPorts(5*time.Second, want...)

	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n.expect("RELOADING=1")
	n.expect("READY=1")
	d.waitPorts(0, want...)

	d.stop()
	n.expect("STOPPING=1")
	if strings.Contains(d.log.String(), "level=ERROR") {
		t.Errorf("errors logged under the unit's capabilities:\n%s", d.log.String())
	}
}

// TestReloadKeepsUnchangedPorts reloads the configuration while one guest
// sends to another at a steady rate: a bridge is added and removed, a port
// gets a static MAC and loses it, a bad file is refused. The two guests'
// ports are never re-attached and the flow loses nothing.
func TestReloadKeepsUnchangedPorts(t *testing.T) {
	requireE2E(t)
	for _, mode := range []string{"off", "tc"} {
		t.Run(mode, func(t *testing.T) { testReloadKeepsUnchangedPorts(t, mode) })
	}
}

func testReloadKeepsUnchangedPorts(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif1.0", 1, "10.42.0.1/24")
	b := d.guest("vif2.0", 2, "10.42.0.2/24")
	d.guest("vif3.0", 3, "10.42.0.3/24")
	e := d.guest("vif4.1", 4, "10.42.1.4/24")
	f := d.guest("vif5.1", 5, "10.42.1.5/24")
	const base = `
bridges:
  - name: xenbr0
    ports: ["vif*.0"]
`
	d.start(base)
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	if err := ping(t, a, b.Addr(), 1); err != nil {
		t.Fatal(err)
	}
	atB := capture(t, b)

	fl := startFlow(t, a, b)

	reloads := 0
	reload := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(d.dir, "xswitch.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		reloads++
		d.eventually(5*time.Second, "reload", func() error {
			if n := strings.Count(d.log.String(), "SIGHUP: reloading"); n != reloads {
				return fmt.Errorf("%d reloads logged, want %d", n, reloads)
			}
			return nil
		})
	}
	reloaded := func(want float64) {
		t.Helper()
		d.eventually(5*time.Second, "reload outcome", func() error {
			if got := value(t, d.scrape(), "xswitch_config_last_reload_successful", nil); got != want {
				return fmt.Errorf("xswitch_config_last_reload_successful %v, want %v", got, want)
			}
			return nil
		})
	}

	// A bridge appears; vif3.0 gets a static MAC.
	reload(base + `    static:
      - {mac: "02:00:00:00:00:33", port: vif3.0}
  - name: xenbr1
    ports: ["vif*.1"]
`)
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0", "vif4.1=xenbr1", "vif5.1=xenbr1")
	reloaded(1)
	if err := ping(t, e, f.Addr(), 1); err != nil {
		t.Error(err)
	}
	if got := d.fdb()["xenbr0 02:00:00:00:00:33"]; got != "vif3.0" {
		t.Errorf("static MAC on %q, want vif3.0", got)
	}

	// A bad file changes nothing and says where it is wrong.
	reload(base + "    aging-time: 5x\n")
	reloaded(0)
	d.eventually(2*time.Second, "the refusal logged", func() error {
		if !strings.Contains(d.log.String(), "xswitch.yaml:5: ") {
			return fmt.Errorf("no xswitch.yaml:5 in the log")
		}
		return nil
	})
	d.waitPorts(0, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0", "vif4.1=xenbr1", "vif5.1=xenbr1")

	// Back to the start: xenbr1 goes, and the static MAC.
	reload(base)
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	reloaded(1)
	if got, ok := d.fdb()["xenbr0 02:00:00:00:00:33"]; ok {
		t.Errorf("static MAC still on %s", got)
	}

	sent := fl.end()
	exactly(t, atB, "b", taggedPrefix("flow-"), sent)
	log := d.log.String()
	for port, want := range map[string]int{"vif1.0": 1, "vif2.0": 1, "vif3.0": 1, "vif4.1": 1} {
		re := regexp.MustCompile(`msg="port attached" bridge=\S+ port=` + regexp.QuoteMeta(port) + ` `)
		if got := len(re.FindAllString(log, -1)); got != want {
			t.Errorf("%s attached %d times, want %d", port, got, want)
		}
	}
	t.Logf("%d frames of the a→b flow, none lost, through 3 reloads", sent)
}

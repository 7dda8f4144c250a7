package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOneDaemonAtATime starts a second xswitchd on the fast path of a
// running one, with its control socket and with one of its own: each
// refuses, naming the running daemon's pid, and so does -cleanup, while
// the first keeps switching. After the first dies by SIGKILL, its lock is
// taken over by the next xswitchd.
func TestOneDaemonAtATime(t *testing.T) {
	d := newDom0(t, "tc")
	a := d.guest("vif1.0", 1, "10.18.0.1/24")
	b := d.guest("vif2.0", 2, "10.18.0.2/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	if err := ping(t, a, b.Addr(), 2); err != nil {
		t.Fatal(err)
	}
	first := d.cmd.Process.Pid
	programs := d.fastPathPrograms("vif1.0", "vif2.0")
	if programs != 2 {
		t.Fatalf("%d fast-path programs on the vifs, want 2", programs)
	}
	running := fmt.Sprintf("xswitchd pid %d is running", first)

	for _, c := range []struct{ what, control, metrics string }{
		{"same control socket", filepath.Join(d.dir, "ctl.sock"), "127.0.0.1:9417"},
		{"own control socket, no metrics", filepath.Join(d.dir, "second.sock"), "off"},
	} {
		out, code := d.runSecond("-control", c.control, "-metrics", c.metrics, "-fastpath", d.mode)
		if code == 0 || !strings.Contains(out, running) {
			t.Errorf("second xswitchd, %s: exit code %d, output:\n%s\nwant non-zero and %q", c.what, code, out, running)
		}
	}
	out, err := d.cleanup()
	if err == nil || !strings.Contains(string(out), running) {
		t.Errorf("xswitchd -cleanup while one runs: %v, output:\n%s\nwant a refusal with %q", err, out, running)
	}

	if got := d.fastPathPrograms("vif1.0", "vif2.0"); got != programs {
		t.Errorf("%d fast-path programs on the vifs after the refusals, want %d", got, programs)
	}
	d.waitPorts(time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	// The first daemon still attaches new vifs and floods their first
	// frames.
	c := d.guest("vif3.0", 3, "10.18.0.3/24")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	if err := ping(t, a, b.Addr(), 2); err != nil {
		t.Error(err)
	}
	if err := ping(t, c, a.Addr(), 2); err != nil {
		t.Error(err)
	}

	d.kill()
	d.start("")
	d.waitPorts(5*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	if err := ping(t, c, b.Addr(), 2); err != nil {
		t.Error(err)
	}
	third, code := d.runSecond("-control", filepath.Join(d.dir, "third.sock"), "-metrics", "off", "-fastpath", d.mode)
	if want := fmt.Sprintf("xswitchd pid %d is running", d.cmd.Process.Pid); code == 0 || !strings.Contains(third, want) {
		t.Errorf("xswitchd after the takeover of a dead one's lock: exit code %d, output:\n%s\nwant non-zero and %q", code, third, want)
	}
}

// runSecond runs another xswitchd in the dom0 on its pin directory, with
// the given flags, and returns its output and exit code; it fails the test
// when that xswitchd is still running after 10 s.
func (d *dom0) runSecond(flags ...string) (string, int) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := append([]string{"--net=" + d.host.NSPath(), filepath.Join(binDir, "xswitchd"), "-log-level", "debug", "-bpf-pin-dir", d.pinDir}, flags...)
	out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
	if ctx.Err() != nil {
		d.t.Fatalf("second xswitchd %v still running after 10s:\n%s", flags, out)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		d.t.Fatal(err)
	}
	return string(out), 0
}

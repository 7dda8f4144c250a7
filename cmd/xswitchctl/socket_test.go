package main

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotRunning: with no daemon on the socket, xswitchctl says so at once
// and exits 1, whether the socket is missing or refuses.
func TestNotRunning(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "ctl.sock")
	stale := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	for _, c := range []struct{ sock, cause string }{
		{missing, "connect: no such file or directory"},
		{stale, "connect: connection refused"},
	} {
		for _, args := range [][]string{{"ports"}, {"top", "-n", "1"}, {"port", "add", "xenbr0", "vif3.0"}, {"port", "set", "vif3.0", "-isolated"}, {"port", "del", "vif3.0"}} {
			start := time.Now()
			out, errOut, code := xswitchctl(t, c.sock, append([]string{"-timeout", "1m"}, args...)...)
			want := "xswitchd is not running (control socket " + c.sock + ": " + c.cause + ")\n"
			if code != 1 || out != "" || !strings.HasSuffix(errOut, want) {
				t.Errorf("%q on %s: exit %d, %q %q; want exit 1 and %q", args, c.sock, code, out, errOut, want)
			}
			if args[0] == "port" && !strings.HasPrefix(errOut, "xswitchctl: port vif3.0: ") {
				t.Errorf("%q: %q does not name the port", args, errOut)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%q: took %v", args, d)
			}
		}
	}
}

// TestTimeout: a daemon that does not answer is given up on after
// -timeout, given before or after the command.
func TestTimeout(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	defer close(hang)
	sock := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	for _, args := range [][]string{{"-timeout", "300ms", "ports"}, {"port", "add", "xenbr0", "vif3.0", "-timeout", "300ms"}, {"port", "set", "-timeout", "300ms", "vif3.0", "-isolated"}} {
		start := time.Now()
		out, errOut, code := xswitchctl(t, sock, args...)
		d := time.Since(start)
		want := "xswitchd did not answer within 300ms (control socket " + sock + ")\n"
		if code != 1 || out != "" || !strings.HasSuffix(errOut, want) {
			t.Errorf("%q: exit %d, %q %q; want exit 1 and %q", args, code, out, errOut, want)
		}
		if d < 300*time.Millisecond || d > 5*time.Second {
			t.Errorf("%q: gave up after %v", args, d)
		}
	}
}

// TestHelp: -h shows a command's synopsis and flags and exits 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "Usage: xswitchctl [flags] command [arguments]"},
		{[]string{"port", "-h"}, "Usage: xswitchctl port [flags] VERB [arguments]"},
		{[]string{"port", "add", "-h"}, "Usage: xswitchctl port add [flags] BRIDGE IFACE"},
		{[]string{"port", "set", "vif3.0", "-h"}, "-bridge NAME"},
		{[]string{"static", "del", "-h"}, "-vlan N"},
		{[]string{"takeover", "-h"}, "-fail-at K"},
		{[]string{"ports", "-h"}, "-timeout duration"},
	} {
		out, errOut, code := xswitchctl(t, "/nonexistent", c.args...)
		if code != 0 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, %q, want it to say %q:\n%s", c.args, code, out, c.want, errOut)
		}
	}
}

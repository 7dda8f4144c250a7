package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// asUser runs xswitchctl ports against the dom0's daemon as uid:gid with no
// supplementary groups, and returns its exit code and standard error.
func (d *dom0) asUser(t *testing.T, id string) (int, string) {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid="+id, "--regid="+id, "--clear-groups", "--",
		filepath.Join(binDir, "xswitchctl"), "-socket", filepath.Join(d.dir, "ctl.sock"), "-timeout", "10s", "ports")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// openToAll lets every user reach files in dir (and its parent, the test's
// temporary directory), as /run/xswitch is: the socket's own mode decides.
func openToAll(t *testing.T, dir string) {
	t.Helper()
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestControlSocketPrivilege: the control socket is root's alone, and
// xswitchctl run by another user is refused with a reason; with
// -control-group, that group's members are let in and others still not.
// Nothing the daemon creates (the socket, the lock, the pins, the port
// state) is writable by every user.
func TestControlSocketPrivilege(t *testing.T) {
	requireE2E(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not found (util-linux)")
	}
	const denied = "permission denied to the control socket"
	for _, tt := range []struct {
		name, group string
		mode        fs.FileMode
		// member is a uid (and gid) let in besides root; "" for none.
		member string
	}{
		{"root only", "", 0o600, ""},
		{"control group", "65534", 0o660, "65534"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newPolicyDom0(t, "tc")
			openToAll(t, d.dir)
			if _, err := d.host.AddUplink("peth0", topo.MAC(254), netip.MustParsePrefix("10.33.0.254/24")); err != nil {
				t.Fatal(err)
			}
			d.args = append(d.args, "-host-ports=false")
			if tt.group != "" {
				d.args = append(d.args, "-control-group", tt.group)
			}
			d.start("")
			d.waitPorts(5*time.Second, "peth0=xenbr0")

			sock := filepath.Join(d.dir, "ctl.sock")
			fi, err := os.Stat(sock)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			wantGID := uint32(0)
			if tt.group != "" {
				wantGID = 65534
			}
			if fi.Mode().Perm() != tt.mode || st.Uid != 0 || st.Gid != wantGID {
				t.Errorf("socket mode %v owner %d:%d, want %v 0:%d", fi.Mode().Perm(), st.Uid, st.Gid, tt.mode, wantGID)
			}
			if code, errOut := d.asUser(t, "0"); code != 0 {
				t.Errorf("root: exit %d: %s", code, errOut)
			}
			if code, errOut := d.asUser(t, "65533"); code != 1 || !strings.Contains(errOut, denied) {
				t.Errorf("uid 65533: exit %d, %q; want exit 1 and %q", code, errOut, denied)
			}
			if tt.member != "" {
				if code, errOut := d.asUser(t, tt.member); code != 0 {
					t.Errorf("member of the control group: exit %d: %s", code, errOut)
				}
			}

			if err := d.xswitchctl(nil, "static", "add", "xenbr0", "02:00:00:00:00:09", "peth0"); err != nil {
				t.Fatal(err)
			}
			made := []string{sock, filepath.Join(d.dir, "ports.json"), d.pinDir}
			if lock := lockFile(t, d.cmd.Process.Pid); lock != "" {
				made = append(made, lock)
			}
			for _, root := range made {
				filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
					if err != nil {
						t.Error(err)
						return nil
					}
					fi, err := e.Info()
					if err != nil {
						t.Error(err)
					} else if fi.Mode().Perm()&0o002 != 0 {
						t.Errorf("%s is writable by every user: %v", p, fi.Mode())
					}
					return nil
				})
			}
		})
	}
}

// lockFile is the lock the daemon pid holds open, found among its
// descriptors.
func lockFile(t *testing.T, pid int) string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if p, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasSuffix(p, ".lock") {
			return p
		}
	}
	t.Errorf("xswitchd (pid %d) holds no lock file open", pid)
	return ""
}

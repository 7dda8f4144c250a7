package server

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestListenMode: the control socket is its owner's alone unless a group
// is given, which it is then also open to, and nobody else's.
func TestListenMode(t *testing.T) {
	t.Parallel()
	group := strconv.Itoa(os.Getgid())
	if os.Geteuid() == 0 {
		group = "65534" // not root's: giving it takes CAP_CHOWN, as a root daemon has
	}
	gid, _ := strconv.Atoi(group)
	for _, tt := range []struct {
		group   string
		mode    os.FileMode
		wantGID int
	}{
		{"", 0o600, os.Getegid()},
		{group, 0o660, gid},
	} {
		sock := filepath.Join(t.TempDir(), "ctl.sock")
		l, err := Listen(sock, tt.group)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(sock)
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != tt.mode || int(st.Uid) != os.Geteuid() || int(st.Gid) != tt.wantGID {
			t.Errorf("group %q: socket %v owned by %d:%d, want %v %d:%d", tt.group, fi.Mode().Perm(), st.Uid, st.Gid, tt.mode, os.Geteuid(), tt.wantGID)
		}
	}
	if _, err := Listen(filepath.Join(t.TempDir(), "ctl.sock"), "no-such-group-xswitch"); err == nil {
		t.Error("an unknown group was accepted")
	}
}

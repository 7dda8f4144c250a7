package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/xswitch/xswitch/internal/lockfile"
)

// lockDir holds the lock files of the fast paths: bpffs, where the pins
// are, takes no regular files, and /run is where a daemon keeps what dies
// with the boot (the unit's RuntimeDirectory, also the control socket's).
const lockDir = "/run/xswitch"

// lockPath is the lock file of the fast path pinned under pinDir. The pin
// directory is the key, not the control socket: two daemons on one fast
// path conflict whatever their sockets, and the socket may be off.
func lockPath(pinDir string) string {
	if abs, err := filepath.Abs(pinDir); err == nil {
		pinDir = abs
	}
	return filepath.Join(lockDir, escapePath(pinDir)+".lock")
}

// escapePath makes a path one file name, as systemd-escape --path does:
// '/' becomes '-', and '-' and anything but letters, digits, ':', '_' and
// '.' become \xNN, so that two paths never give the same name.
func escapePath(p string) string {
	p = strings.Trim(filepath.Clean(p), "/")
	if p == "" {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// lock takes the fast path's lock for xswitchd's whole life (or for a
// -cleanup). A live holder is named by its pid; the lock of a dead one is
// taken over.
func lock(pinDir string) (*lockfile.Lock, error) {
	l, err := lockfile.Acquire(lockPath(pinDir))
	var held *lockfile.HeldError
	if errors.As(err, &held) {
		who := "another xswitchd"
		if held.Pid != 0 {
			who = fmt.Sprintf("xswitchd pid %d", held.Pid)
		}
		return nil, fmt.Errorf("%s is running on the fast path under %s (lock %s)", who, pinDir, held.Path)
	}
	return l, err
}

package topo

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo/netns"
)

// Namespace names are "xs<pid>-<prefix>-<n>" for a host and
// "<host>-<kind><n>" for the namespaces hanging off it. The marker and the
// pid let a later run find and delete what a crashed run left behind.
const marker = "xs"

// seq numbers every namespace this process creates, so names never repeat.
var seq atomic.Uint64

func hostName(prefix string) (string, error) {
	if len(prefix) > 16 || strings.IndexFunc(prefix, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) >= 0 {
		return "", fmt.Errorf("topo: namespace prefix %q: want at most 16 letters, digits or '_'", prefix)
	}
	if prefix != "" {
		prefix += "-"
	}
	return fmt.Sprintf("%s%d-%s%d", marker, os.Getpid(), prefix, seq.Add(1)), nil
}

func childName(host, kind string) string {
	return fmt.Sprintf("%s-%s%d", host, kind, seq.Add(1))
}

// namePID returns the pid in a name made by hostName or childName.
func namePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, marker)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok || digits == "" {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != digits {
		return 0, false
	}
	return pid, true
}

// removeStaleOnce runs removeStale the first time this process makes a host.
var removeStaleOnce sync.Once

// removeStale deletes the namespaces that runs of this package left behind
// when they died before Close: those named with a pid that no longer exists.
// Their veths go with them. A pid reused by an unrelated process keeps its
// namespaces alive until a later run.
func removeStale() error {
	entries, err := os.ReadDir(netns.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("topo: list %s: %w", netns.Dir, err)
	}
	var errs []error
	for _, e := range entries {
		pid, ok := namePID(e.Name())
		if !ok || !errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			continue
		}
		errs = append(errs, netns.Delete(e.Name()))
	}
	return errors.Join(errs...)
}

// Package e2e runs xswitchd against real namespaces, veths and sockets.
// Each test builds a dom0 in a network namespace (internal/topo), starts the
// built xswitchd inside it, and checks what a user would check: which frames
// arrive where, how many times, and what the counters say.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binDir holds the binaries built for the run.
var binDir string

// skipReason, when set, is why no test of the suite can run here; every
// test skips with it (requireE2E), so that `go test` shows the suite was
// skipped rather than passed.
var skipReason string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// requireE2E skips the test when the suite cannot run here (see skipReason).
func requireE2E(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		skipReason = "e2e: skipped in -short mode"
		return m.Run()
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "e2e: CI is set but the tests are not running as root: they need root for network namespaces")
			return 1
		}
		skipReason = "e2e: needs root (network namespaces, AF_PACKET); run `sudo make test`"
		return m.Run()
	}
	for _, tool := range []string{"nsenter", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s not found (apt-get install util-linux iputils-ping)\n", tool)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "xswitch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Users other than root run xswitchctl from here too.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../cmd/xswitchd", "../cmd/xswitchctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

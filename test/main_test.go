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

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "e2e: skipped in -short mode")
		return 0
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "e2e: CI is set but the tests are not running as root: they need root for network namespaces")
			return 1
		}
		fmt.Fprintln(os.Stderr, "e2e: skipped: needs root (network namespaces, AF_PACKET); run `sudo make test`")
		return 0
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
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../cmd/xswitchd", "../cmd/xswitchctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

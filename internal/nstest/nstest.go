// Package nstest builds throwaway network namespaces and veth pairs for
// tests that need real interfaces, and gives them a raw socket on the far
// end of a veth as an independent view of the wire.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo/netns"
)

// RequireRoot skips a test that needs root, or fails it in CI, where
// privileged tests must run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root, and CI runs as root: refusing to skip")
	}
	t.Skip("needs root (network namespaces, veth pairs, raw sockets)")
}

var seq atomic.Int32

// Netns creates a network namespace with a unique name starting with
// prefix, with lo up, and deletes it when the test ends.
func Netns(t testing.TB, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(name) })
	return name
}

// Veth creates a veth pair from ifA in nsA to ifB in nsB and brings both
// ends up without IPv6 addresses, so the kernel sends nothing on its own.
func Veth(t testing.TB, nsA, ifA, nsB, ifB string) {
	t.Helper()
	Run(t, "ip", "-n", nsA, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	Run(t, "ip", "-n", nsA, "link", "set", ifA, "addrgenmode", "none", "up")
	Run(t, "ip", "-n", nsB, "link", "set", ifB, "addrgenmode", "none", "up")
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// In runs fn on a fresh OS thread that has entered network namespace ns
// (see netns.Do); sockets fn creates stay in ns. fn must not call t.FailNow:
// it returns its error, and In fails the test with it.
func In(t testing.TB, ns string, fn func() error) {
	t.Helper()
	fd, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := netns.Do(fd, fn); err != nil {
		t.Fatal(err)
	}
}

// Enter moves the test's goroutine, locked to its OS thread, into network
// namespace ns until the test ends, for code that must run there on the
// test's own goroutine (BPF_PROG_TEST_RUN looks ingress devices up in the
// caller's namespace).
func Enter(t testing.TB, ns string) {
	t.Helper()
	fd, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	leave, err := netns.Enter(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := leave(); err != nil {
			t.Error(err)
		}
	})
}

// Raw is a plain AF_PACKET socket bound to one interface (see
// netns.OpenPacket). Its own transmissions are not received.
type Raw struct {
	fd int
}

// OpenRaw opens a raw socket on ifname in ns, closed when the test ends.
func OpenRaw(t testing.TB, ns, ifname string) *Raw {
	t.Helper()
	s := &Raw{fd: -1}
	In(t, ns, func() (err error) {
		s.fd, err = netns.OpenPacket(ifname, true)
		return err
	})
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// Send transmits one frame.
func (s *Raw) Send(t testing.TB, frame []byte) {
	t.Helper()
	for {
		_, err := unix.Write(s.fd, frame)
		if err == unix.ENOBUFS || err == unix.EAGAIN {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if err != nil {
			t.Fatalf("raw send: %v", err)
		}
		return
	}
}

// Recv returns the next frame received within timeout; ok is false on
// timeout.
func (s *Raw) Recv(t testing.TB, timeout time.Duration) (frame []byte, ok bool) {
	t.Helper()
	buf := make([]byte, 1<<17)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, false
		}
		pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			t.Fatalf("raw recv: poll: %v", err)
		}
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("raw recv: %v", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // a kernel without PACKET_IGNORE_OUTGOING
		}
		return append([]byte(nil), buf[:n]...), true
	}
}

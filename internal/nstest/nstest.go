// Package nstest builds throwaway network namespaces and veth pairs for
// tests that need real interfaces, and gives them a raw socket on the far
// end of a veth as an independent view of the wire.
package nstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
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

// In runs fn on a fresh OS thread that has entered network namespace ns;
// sockets fn creates stay in ns. The thread is never unlocked, so the Go
// runtime discards it instead of reusing it in the wrong namespace.
func In(t testing.TB, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Raw is a plain AF_PACKET socket bound to one interface. Its own
// transmissions are not received.
type Raw struct {
	fd int
}

// OpenRaw opens a raw socket on ifname in ns, closed when the test ends.
func OpenRaw(t testing.TB, ns, ifname string) *Raw {
	t.Helper()
	s := &Raw{fd: -1}
	In(t, ns, func() error {
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		s.fd = fd
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
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
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("raw recv: %v", err)
		}
		return append([]byte(nil), buf[:n]...), true
	}
	return nil, false
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

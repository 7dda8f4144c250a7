package netns_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/nstest"
	"github.com/xswitch/xswitch/internal/topo/netns"
)

// threadNetns identifies the network namespace of the calling thread.
func threadNetns(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func create(t *testing.T) (name string, fd int) {
	t.Helper()
	nstest.RequireRoot(t)
	name = fmt.Sprintf("xsw-netns-%d-%s", os.Getpid(), t.Name())
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(name) })
	fd, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return name, fd
}

func TestCreateEnterDelete(t *testing.T) {
	name, fd := create(t)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	if err := netns.Create(name); err == nil {
		t.Error("a second Create of the same name succeeded")
	}

	var inside uint64
	if err := netns.Do(fd, func() error { inside = threadNetns(t); return nil }); err != nil {
		t.Fatal(err)
	}
	if inside != st.Ino {
		t.Errorf("Do ran in namespace %d, want %d", inside, st.Ino)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNetns(t)
	leave, err := netns.Enter(fd)
	if err != nil {
		t.Fatal(err)
	}
	if got := threadNetns(t); got != st.Ino {
		t.Errorf("Enter: in namespace %d, want %d", got, st.Ino)
	}
	if err := leave(); err != nil {
		t.Fatal(err)
	}
	if got := threadNetns(t); got != before {
		t.Errorf("after leave: in namespace %d, want %d", got, before)
	}

	if err := netns.Delete(name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(netns.Path(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Delete: %v", err)
	}
	if err := netns.Delete(name); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestDoReportsGoexit(t *testing.T) {
	_, fd := create(t)
	if err := netns.Do(fd, func() error { runtime.Goexit(); return nil }); err == nil {
		t.Error("Do of a function that exits its goroutine returned no error")
	}
}

// readFrame reads a frame from a non-blocking socket within timeout.
func readFrame(fd int, timeout time.Duration) ([]byte, error) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(pfd, int(timeout.Milliseconds())); err != nil {
		return nil, err
	}
	buf := make([]byte, 2048)
	n, err := unix.Read(fd, buf)
	if errors.Is(err, unix.EAGAIN) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// TestOpenPacket sends a frame on lo with one socket and receives it, once,
// on another.
func TestOpenPacket(t *testing.T) {
	_, fd := create(t)
	frame := make([]byte, 60)
	copy(frame, []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5})
	copy(frame[14:], "xswitch netns test")
	var first, second []byte
	err := netns.Do(fd, func() error {
		rx, err := netns.OpenPacket("lo", true)
		if err != nil {
			return err
		}
		defer unix.Close(rx)
		tx, err := netns.OpenPacket("lo", false)
		if err != nil {
			return err
		}
		defer unix.Close(tx)
		if _, err := unix.Write(tx, frame); err != nil {
			return err
		}
		if first, err = readFrame(rx, time.Second); err != nil {
			return err
		}
		second, err = readFrame(rx, 50*time.Millisecond)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, frame) {
		t.Errorf("received %x, want the frame sent", first)
	}
	if second != nil {
		t.Errorf("received a second frame: %x", second)
	}
}

// mainThread takes functions for TestMain's goroutine to run on the
// process's main thread (see onMainThread).
var mainThread = make(chan func())

// The main goroutine, which TestMain runs on, keeps the main thread.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	code := make(chan int)
	go func() { code <- m.Run() }()
	for {
		select {
		case f := <-mainThread:
			f()
		case c := <-code:
			os.Exit(c)
		}
	}
}

// onMainThread runs f on the main thread, unlocked from it, and says
// whether it could: a goroutine that f starts and then waits for is run
// next by the same thread, the main one. That holds once per process: the
// main goroutine may leave the thread when f blocks.
func onMainThread(f func()) bool {
	var ran bool
	done := make(chan struct{})
	mainThread <- func() {
		defer close(done)
		if unix.Gettid() != unix.Getpid() {
			return
		}
		runtime.UnlockOSThread()
		defer runtime.LockOSThread()
		ran = true
		f()
	}
	<-done
	return ran
}

// TestDoFromMainThread calls Do on the main thread, so that the goroutine
// Do starts lands there: fn must still run on another thread, and the
// main thread, which the runtime keeps rather than ends when its
// goroutine exits locked, must stay in its namespace.
func TestDoFromMainThread(t *testing.T) {
	_, fd := create(t)
	before := threadNetnsOf(t, "/proc/self/ns/net")
	var tid int
	var err error
	if !onMainThread(func() {
		err = netns.Do(fd, func() error { tid = unix.Gettid(); return nil })
	}) {
		t.Skip("TestMain's goroutine left the main thread in an earlier run of this test (-count)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if tid == unix.Getpid() {
		t.Error("fn ran on the main thread")
	}
	if after := threadNetnsOf(t, "/proc/self/ns/net"); after != before {
		t.Errorf("the main thread moved to namespace %d, was in %d", after, before)
	}
}

// threadNetnsOf identifies the network namespace of path.
func threadNetnsOf(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// Package netns makes named network namespaces the way `ip netns add` does,
// runs code inside them, and opens packet sockets on their links. topo builds
// the test topologies of the end-to-end tests, the benchmarks and the demo
// on it, and nstest the throwaway namespaces of unit tests.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Dir is where iproute2 keeps named namespaces; a namespace mounted there
// works with `ip netns exec NAME`, `ip -n NAME` and `nsenter --net=PATH`.
const Dir = "/run/netns"

// Path is the bind-mount of the namespace name.
func Path(name string) string { return filepath.Join(Dir, name) }

// prepareDir makes Dir a shared mount point the way `ip netns add` does, so
// that unmounting a namespace also unmounts the copies held by processes in
// other mount namespaces (ip netns exec) and the namespace can die.
var prepareDir = sync.OnceValue(func() error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return fmt.Errorf("netns: create %s: %w", Dir, err)
	}
	err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		// Not a mount point yet: make it one, then share it.
		if err := unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("netns: bind-mount %s onto itself: %w", Dir, err)
		}
		err = unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("netns: make %s a shared mount: %w", Dir, err)
	}
	return nil
})

// Create creates the network namespace name, mounts it at Path(name) and
// brings its lo up. A name in use is an error.
func Create(name string) error {
	if err := prepareDir(); err != nil {
		return err
	}
	path := Path(name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("netns: create %s: %w", name, err)
	}
	f.Close()
	errc := make(chan error, 1)
	runLocked(func() {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mount: %w", err)
			return
		}
		errc <- linkUp("lo")
	})
	if err := <-errc; err != nil {
		Delete(name)
		return fmt.Errorf("netns: create %s: %w", name, err)
	}
	return nil
}

// linkUp brings up a link of the calling thread's namespace.
func linkUp(ifname string) error {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", ifname, err)
	}
	return nil
}

// Delete unmounts and removes the namespace's bind-mount; one already gone
// is not an error. The kernel destroys the namespace, and the links in it,
// once no process, socket or descriptor holds it any more.
func Delete(name string) error {
	path := Path(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns: delete %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns: delete %s: %w", name, err)
	}
	return nil
}

// Open returns a descriptor of the namespace name, which holds it alive
// until closed.
func Open(name string) (int, error) {
	fd, err := unix.Open(Path(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("netns: open %s: %w", name, err)
	}
	return fd, nil
}

// runLocked runs fn on a goroutine locked to an OS thread and never
// unlocked: the thread exits with the goroutine, so no other goroutine ever
// runs in the namespace fn leaves it in. It is never the process's main
// thread, which the runtime cannot end and would keep, in that namespace,
// as the thread /proc/self shows.
func runLocked(fn func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			fn()
			return
		}
		// Hold the main thread while another one does the work: a thread
		// locked to this goroutine runs no other.
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			fn()
		}()
		<-done
		runtime.UnlockOSThread()
	}()
}

// Do runs fn on a fresh OS thread that has entered the namespace of the
// descriptor fd, and returns fn's error. The thread is never handed back to
// the Go scheduler (see runLocked), so no other goroutine ever runs in the
// wrong namespace. Goroutines that fn starts do not
// inherit the namespace; sockets fn creates keep it for their whole life.
// fn must return: one that exits its goroutine (runtime.Goexit, as
// t.FailNow does) is reported as an error.
func Do(fd int, fn func() error) error {
	errc := make(chan error, 1)
	runLocked(func() {
		returned := false
		defer func() {
			if !returned {
				errc <- errors.New("netns: function exited without returning (runtime.Goexit, t.FailNow?)")
			}
		}()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			returned = true
			errc <- fmt.Errorf("netns: enter: %w", err)
			return
		}
		err := fn()
		returned = true
		errc <- err
	})
	return <-errc
}

// Enter moves the calling goroutine, locked to its OS thread, into the
// namespace of the descriptor fd, for code that must run there on the
// caller's own goroutine. leave moves it back and unlocks it; if it cannot,
// the thread stays locked and dies with the goroutine.
func Enter(fd int) (leave func() error, err error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("netns: open the thread's namespace: %w", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		unix.Close(orig)
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("netns: enter: %w", err)
	}
	return func() error {
		defer unix.Close(orig)
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netns: leave: %w", err)
		}
		runtime.UnlockOSThread()
		return nil
	}, nil
}

package afxdp

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// waiter is how Receive sleeps: an epoll instance that holds the port's
// sockets (readable when their RX rings have frames) and the port's eventfd
// (written by Close, and by the pool when it has frames for a port whose
// fill rings ran dry). The epoll instance sits in Go's netpoller, so a
// waiting Receive holds no thread and wakes on the thread that polls,
// without the hand-off of a blocking system call. Only EPOLLIN is asked of
// the sockets: their TX completions do not wake anyone.
type waiter struct {
	file *os.File        // the epoll descriptor, registered with the netpoller; closed by close
	raw  syscall.RawConn // file's
	// ready reports whether Receive has something to do; made once, so
	// that a wait allocates nothing.
	ready func(uintptr) bool
}

// open makes the epoll instance of fds; ready is called, on the goroutine
// that waits, before it sleeps and on every wake-up.
func (w *waiter) open(fds []int, ready func() bool) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(ep)
			return err
		}
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return err
	}
	w.file = os.NewFile(uintptr(ep), "afxdp-epoll") // non-blocking: the netpoller takes it
	if w.raw, err = w.file.SyscallConn(); err != nil {
		w.close()
		return err
	}
	w.ready = func(uintptr) bool { return ready() }
	return nil
}

// wait returns once ready does.
func (w *waiter) wait() error {
	if w.raw == nil {
		return os.ErrInvalid
	}
	return w.raw.Read(w.ready)
}

func (w *waiter) close() {
	if w.file != nil {
		w.file.Close()
		w.file, w.raw = nil, nil
	}
}

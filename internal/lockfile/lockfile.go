// Package lockfile keeps a resource to one process at a time: the owner
// holds an flock(2) on a file that names its pid. The kernel drops the
// lock when the owner dies, even by SIGKILL, so a lock left by a dead
// process is free to take, whatever pid its file still names.
package lockfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Lock is a lock file held by this process.
type Lock struct {
	// f is the open lock file; its flock is held for as long as f is open.
	f    *os.File
	path string
}

// HeldError says that a live process holds the lock.
type HeldError struct {
	Path string
	// Pid is the holder's pid; 0 when it has not written it yet.
	Pid int
}

func (e *HeldError) Error() string {
	if e.Pid == 0 {
		return fmt.Sprintf("%s is locked by another process", e.Path)
	}
	return fmt.Sprintf("%s is locked by pid %d", e.Path, e.Pid)
}

// Acquire takes the lock at path, creating the file and its directory
// when missing, and writes this process's pid into it. It does not wait:
// when a live process holds the lock it returns a *HeldError.
func Acquire(path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := flock(f); err != nil {
			defer f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &HeldError{Path: path, Pid: holder(f)}
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// A releasing owner unlinks the file before it unlocks: the lock
		// just taken may be on a file no longer at path. Only a lock on
		// the file that path names counts.
		if same, err := isAt(f, path); err != nil || !same {
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			continue
		}
		if err := writePid(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return &Lock{f: f, path: path}, nil
	}
}

// Release removes the lock file and drops the lock; a process waiting to
// take it then makes a new one.
func (l *Lock) Release() error {
	err := os.Remove(l.path)
	return errors.Join(err, l.f.Close())
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.path }

func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}

// isAt says whether f is the file that path names now.
func isAt(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

func writePid(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// holder reads the pid in a lock file held by another process. The holder
// writes it just after taking the lock, so an empty file is read again for
// a short while.
func holder(f *os.File) int {
	for range 50 {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 {
			return pid
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0
}

// Package ethtool issues the legacy ethtool ioctl (SIOCETHTOOL), for the
// few driver settings netlink does not report.
package ethtool

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ioctl runs the ethtool command whose struct data points at (it starts
// with the 32-bit command number, as every ethtool struct does) on ifname,
// in the calling thread's network namespace. The kernel fills in the rest.
func Ioctl(ifname string, data unsafe.Pointer) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte
	}
	copy(ifr.name[:], ifname)
	ifr.data = uintptr(data)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(data)
	if errno != 0 {
		return fmt.Errorf("%s: ethtool command %#x: %w", ifname, *(*uint32)(data), errno)
	}
	return nil
}

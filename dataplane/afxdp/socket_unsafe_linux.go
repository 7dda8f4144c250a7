package afxdp

// The socket's unsafe code: the SOL_XDP options that take a struct, and the
// ethtool query for the queue count.

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/ethtool"
)

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	l := uint32(n)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// registerUMEM registers mem, cut in frames of frameSize bytes, as the UMEM
// of socket fd (XDP_UMEM_REG). The caller keeps mem alive across the call.
func registerUMEM(fd int, mem []byte, frameSize uint32) error {
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))), Len: uint64(len(mem)), Size: frameSize}
	return setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
}

// xdpOptions returns the flags of a bound socket (XDP_OPTIONS).
func xdpOptions(fd int) (uint32, error) {
	var opts struct{ flags uint32 }
	err := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&opts), unsafe.Sizeof(opts))
	return opts.flags, err
}

// mmapOffsets returns where the indices and entries of the socket's rings
// lie in their mappings (XDP_MMAP_OFFSETS).
func mmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off))
	return off, err
}

// xdpStatistics reads the kernel's counters of the socket (XDP_STATISTICS).
func xdpStatistics(fd int) (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	err := getsockopt(fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st))
	return st, err
}

// ethtoolChannels is struct ethtool_channels.
type ethtoolChannels struct {
	cmd                                     uint32
	maxRx, maxTx, maxOther, maxCombined     uint32
	rxCount, txCount, otherCount, combCount uint32
}

// channels returns the ethtool channels of ifname (ETHTOOL_GCHANNELS).
func channels(ifname string) (ethtoolChannels, error) {
	ch := ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	err := ethtool.Ioctl(ifname, unsafe.Pointer(&ch))
	return ch, err
}

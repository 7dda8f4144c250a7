package afpacket

// The tests' unsafe code: an ethtool setting.

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/ethtool"
	"github.com/xswitch/xswitch/internal/nstest"
)

// setTxChecksum turns the transmit checksum offload of ifname in ns on or
// off (ETHTOOL_STXCSUM), so the kernel finishes partial checksums itself.
func setTxChecksum(t testing.TB, ns, ifname string, on bool) {
	t.Helper()
	val := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STXCSUM}
	if on {
		val.data = 1
	}
	nstest.In(t, ns, func() error { return ethtool.Ioctl(ifname, unsafe.Pointer(&val)) })
}

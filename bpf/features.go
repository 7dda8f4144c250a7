package bpf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/ethtool"
)

// The netdev generic netlink family (include/uapi/linux/netdev.h), which
// reports what a device can do with XDP.
const (
	netdevCmdDevGet       = 1
	netdevADevIfindex     = 1
	netdevADevXDPFeatures = 3

	xdpActBasic   = 1 << 0 // native XDP: the driver runs programs
	xdpActNDOXmit = 1 << 2 // accepts frames redirected by XDP
)

// xdpFeatures returns the NETDEV_XDP_ACT_* bits of an interface. A veth sets
// NDO_XMIT only while its peer can receive XDP frames (the peer has an XDP
// program or GRO on).
func xdpFeatures(ifindex int) (uint64, error) {
	fam, err := netlink.GenlFamilyGet("netdev")
	if err != nil {
		return 0, fmt.Errorf("netdev netlink family: %w", err)
	}
	req := nl.NewNetlinkRequest(int(fam.ID), 0)
	req.AddData(genlHeader{netdevCmdDevGet, 1})
	req.AddData(nl.NewRtAttr(netdevADevIfindex, nl.Uint32Attr(uint32(ifindex))))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return 0, fmt.Errorf("netdev dev-get %d: %w", ifindex, err)
	}
	for _, m := range msgs {
		if len(m) < nl.SizeofGenlmsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofGenlmsg:])
		if err != nil {
			return 0, err
		}
		for _, a := range attrs {
			if a.Attr.Type == netdevADevXDPFeatures && len(a.Value) == 8 {
				return binary.NativeEndian.Uint64(a.Value), nil
			}
		}
	}
	return 0, errors.New("netdev dev-get: no xdp-features")
}

// genlHeader is struct genlmsghdr: command, version and two reserved bytes
// that must be zero.
type genlHeader [4]byte

func (h genlHeader) Len() int          { return len(h) }
func (h genlHeader) Serialize() []byte { return h[:] }

// WatchXDPFeatures calls changed with a device's ifindex whenever the
// kernel announces that the device's XDP features changed (the netdev
// family's dev-change notifications), and with 0 when notifications were
// lost: a veth stops accepting XDP frames the moment its peer turns GRO off,
// and the ports map must follow. It returns when ctx ends, or at once if the
// kernel offers no such notifications.
func WatchXDPFeatures(ctx context.Context, changed func(ifindex int)) error {
	fam, err := netlink.GenlFamilyGet("netdev")
	if err != nil {
		return fmt.Errorf("netdev netlink family: %w", err)
	}
	var group uint32
	for _, g := range fam.Groups {
		if g.Name == "mgmt" {
			group = g.ID
		}
	}
	if group == 0 {
		return errors.New("netdev netlink family has no mgmt group")
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, int(group)); err != nil {
		return fmt.Errorf("join netdev mgmt group: %w", err)
	}
	// Wake up now and then to notice the end of ctx.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("netlink receive timeout: %w", err)
	}
	buf := make([]byte, 16<<10)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case n > 0:
			for _, idx := range notifiedIfindexes(buf[:n]) {
				changed(idx)
			}
		case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.ENOBUFS):
			changed(0) // notifications were lost: look at everything
		default:
			return fmt.Errorf("netdev notifications: %w", err)
		}
	}
	return nil
}

// notifiedIfindexes returns the devices a batch of netdev notifications is
// about; 0 stands for a message it cannot read.
func notifiedIfindexes(b []byte) []int {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return []int{0}
	}
	var out []int
	for _, m := range msgs {
		idx := 0
		if len(m.Data) >= nl.SizeofGenlmsg {
			if attrs, err := nl.ParseRouteAttr(m.Data[nl.SizeofGenlmsg:]); err == nil {
				for _, a := range attrs {
					if a.Attr.Type == netdevADevIfindex && len(a.Value) == 4 {
						idx = int(binary.NativeEndian.Uint32(a.Value))
					}
				}
			}
		}
		out = append(out, idx)
	}
	return out
}

// ethtool's legacy flags query (include/uapi/linux/ethtool.h).
const (
	ethtoolGFlags = 0x25
	ethFlagRxVLAN = 1 << 8 // the NIC strips 802.1Q tags into metadata
)

// rxVLANOffload reports whether the interface strips 802.1Q tags from the
// frames it receives before XDP sees them.
func rxVLANOffload(ifname string) (bool, error) {
	val := struct{ cmd, data uint32 }{cmd: ethtoolGFlags}
	if err := ethtool.Ioctl(ifname, unsafe.Pointer(&val)); err != nil {
		return false, err
	}
	return val.data&ethFlagRxVLAN != 0, nil
}

// NativeXDP reports whether the driver of the interface runs XDP programs
// itself (not the kernel's generic hook).
func NativeXDP(ifindex int) bool {
	feats, err := xdpFeatures(ifindex)
	return err == nil && feats&xdpActBasic != 0
}

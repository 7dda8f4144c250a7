package afpacket

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/packetsock"
)

// tapName names the receivers of OpenTap and OpenTaps in errors.
const tapName = "userspace"

// OpenTap opens a receiver of every frame that enters any interface of the
// network namespace of the calling thread and that the eBPF socket filter
// (BPF_PROG_TYPE_SOCKET_FILTER) whose descriptor is filter lets through:
// the receiver of the userspace ports, which have no ring of their own (their
// sockets are SendOnly). It does not see what interfaces transmit.
//
// The filter runs on every frame any interface of the namespace receives,
// before the kernel copies or queues it: what it refuses costs that run and
// nothing else. The filter is attached before the socket is bound, so no
// frame passes unfiltered.
func OpenTap(cfg SharedConfig, filter int) (*Shared, error) {
	if filter < 0 {
		return nil, opError(tapName, "config", unix.EBADF)
	}
	cfg.PuntEtherType = 0
	return openReceiver(tapName, cfg, binding{proto: unix.ETH_P_ALL, filter: filter, ignoreOutgoing: true})
}

// OpenTaps opens n receivers as OpenTap does, each with a ring of cfg,
// that share the frames: they form one PACKET_FANOUT group in which the
// eBPF program fanout chooses, for each frame, the one receiver (its index
// in the result) whose filter then decides. So a frame is received at most
// once, and the ring of one receiver filling up makes the kernel drop only
// the frames sent to it. The kernel runs fanout and one filter per frame,
// however large n.
//
// The receivers must be closed together: a group that loses a member
// renumbers the others.
func OpenTaps(cfg SharedConfig, n, filter, fanout int) ([]*Shared, error) {
	if filter < 0 || fanout < 0 {
		return nil, opError(tapName, "config", unix.EBADF)
	}
	if n < 1 || n > maxTaps {
		return nil, opError(tapName, "config", fmt.Errorf("%d taps: want 1 to %d", n, maxTaps))
	}
	cfg.PuntEtherType = 0
	taps := make([]*Shared, 0, n)
	join := &fanoutJoin{prog: fanout}
	for i := range n {
		s, err := openReceiver(fmt.Sprint(tapName, i), cfg, binding{proto: unix.ETH_P_ALL, filter: filter, fanout: join})
		if err != nil {
			for _, t := range taps {
				t.Close()
			}
			return nil, err
		}
		taps = append(taps, s)
	}
	return taps, nil
}

// maxTaps bounds the members of a fanout group (PACKET_FANOUT_MAX).
const maxTaps = 256

// fanoutJoin is the fanout group the sockets of OpenTaps join.
type fanoutJoin struct {
	prog    int    // the group's eBPF program, set by the first member
	id      uint16 // the group's id, which the kernel chose for the first member (0 is one)
	created bool   // the first member made the group: id is set
}

// dropAll is a classic BPF filter that takes nothing: what a member of a
// fanout group has before it joins, so that it receives no frame on its own.
var dropAll = []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}

// attachDropAll attaches dropAll to fd.
func attachDropAll(fd int) error {
	prog := unix.SockFprog{Len: uint16(len(dropAll)), Filter: &dropAll[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
}

// joinFanout binds the fresh socket fd as b says and makes it a member of
// b.fanout's group, the first one creating it with its program; the
// socket's own filter, filter, replaces dropAll only then.
func joinFanout(fd int, b binding) (string, error) {
	if err := attachDropAll(fd); err != nil {
		return "setsockopt SO_ATTACH_FILTER", err
	}
	sa := unix.SockaddrLinklayer{Protocol: packetsock.Htons(b.proto), Ifindex: b.ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return "bind", err
	}
	// The group, not its members, ignores what interfaces transmit.
	typ := unix.PACKET_FANOUT_EBPF | unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
	first := !b.fanout.created
	if first {
		typ |= unix.PACKET_FANOUT_FLAG_UNIQUEID
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(b.fanout.id)|typ<<16); err != nil {
		return "setsockopt PACKET_FANOUT", err
	}
	if first {
		v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return "getsockopt PACKET_FANOUT", err
		}
		b.fanout.id, b.fanout.created = uint16(v), true
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT_DATA, b.fanout.prog); err != nil {
			return "setsockopt PACKET_FANOUT_DATA", err
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, b.filter); err != nil {
		return "setsockopt SO_ATTACH_BPF", err
	}
	return "", nil
}

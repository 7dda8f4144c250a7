package afpacket

import "golang.org/x/sys/unix"

// tapName names the receiver of OpenTap in errors.
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

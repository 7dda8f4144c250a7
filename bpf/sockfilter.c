//go:build ignore

// The programs of the userspace AF_PACKET ports' receivers, the taps: a few
// AF_PACKET sockets in one fanout group, each bound to every protocol on
// every interface of the daemon's network namespace, which together must
// take only the frames that came in on a userspace port, each frame on the
// one tap its port is given to. The kernel runs the fanout program once on
// each frame any interface receives, to choose the tap, then the filter of
// that tap, before it queues or copies anything: a frame of another
// interface costs two hash lookups, however many taps there are.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// sf_ports maps the ifindex of each userspace port to its tap, an index in
// the fanout group. Entries are allocated as ports come, so an empty map
// costs no memory.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} sf_ports SEC(".maps");

// xswitch_sockfilter, every tap's socket filter, keeps the whole frame (its
// length) if it entered on a port, and nothing (0: dropped) otherwise.
SEC("socket")
int xswitch_sockfilter(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;

	if (!bpf_map_lookup_elem(&sf_ports, &ifindex))
		return 0;
	return skb->len;
}

// xswitch_tapfanout, the group's fanout program (PACKET_FANOUT_EBPF),
// returns the tap of the frame's port; a frame of no port goes to tap 0,
// whose filter drops it.
SEC("socket")
int xswitch_tapfanout(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	__u32 *tap = bpf_map_lookup_elem(&sf_ports, &ifindex);

	return tap ? *tap : 0;
}

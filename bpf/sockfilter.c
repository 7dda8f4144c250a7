//go:build ignore

// The socket filter of the userspace AF_PACKET ports' receiver: one
// AF_PACKET socket for every protocol on every interface of the daemon's
// network namespace, which must take only the frames that came in on a
// userspace port. The kernel runs the filter on each frame any interface
// receives, before it queues or copies anything, so a frame of another
// interface costs one hash lookup.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// sf_ports holds the ifindexes of the userspace ports; the value is unused.
// Entries are allocated as ports come, so an empty map costs no memory.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} sf_ports SEC(".maps");

// xswitch_sockfilter keeps the whole frame (its length) if it entered on a
// port, and nothing (0: dropped) otherwise.
SEC("socket")
int xswitch_sockfilter(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;

	if (!bpf_map_lookup_elem(&sf_ports, &ifindex))
		return 0;
	return skb->len;
}

//go:build ignore

// The fast path of xswitch: learned unicast is redirected in the kernel,
// everything else is punted to the userspace switch.
//
// Two programs share one decision and one set of maps:
//
//   xswitch_xdp   native XDP on a port's ingress. Redirects linear frames to
//                 ports that accept XDP frames (through the tx_ports devmap);
//                 passes everything else on, to the TC program.
//   xswitch_tc    TC ingress (tcx, or a clsact filter). Redirects learned
//                 unicast; punts the rest.
//
// On an AF_XDP port the XDP program is alone: what it does not redirect it
// hands to the port's AF_XDP socket for its receive queue (the xs_xsks
// map), and the userspace switch forwards it; there is no TC program and no
// punt header. Such a port can have its fast path off: then every frame goes
// to the socket, and no other port redirects to it.
//
// A punted frame gets a 4-byte punt header after its MAC addresses and goes
// through the port's receive path again (a redirect to the port's own
// ingress), where the port's AF_PACKET socket, bound to the punt ethertype,
// takes it; userspace removes the header. The socket is not bound to
// ETH_P_ALL because such a socket is a tap, which sees every frame before TC
// ingress runs: it would see the frames the fast path forwards as well.
// Every frame is therefore forwarded exactly once: by XDP, by TC, or by
// userspace.

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// Port flags (struct port.flags).
#define PORT_XDP_TX 1 // the device accepts frames redirected by XDP
#define PORT_PEER 2   // a veth whose peer is in another namespace: TC hands
		      // frames straight to the peer's ingress
#define PORT_XSK 4    // an AF_XDP port: XDP hands what it does not redirect
		      // to the port's sockets
#define PORT_NO_FAST 8 // the port's fast path is off (an AF_XDP port's
		       // program still feeds its sockets): no decisions on
		       // its ingress, no redirects to it

// The punt header: this ethertype, then the punt reason (16 bits), then the
// frame's own ethertype. The mark tells the TC program, which sees the
// punted frame again, that it has decided already.
#define PUNT_ETHERTYPE 0x88b6 // IEEE 802 local experimental ethertype 2
#define PUNT_HDR_LEN 4
#define PUNT_MARK 0x78737770 // "xswp"

// FDB entry flags (struct fdb_entry.flags).
#define FDB_STATIC 1 // never ages: its last-seen time is not refreshed

// Why a frame was punted to userspace.
enum punt_reason {
	PUNT_UNKNOWN_SOURCE,  // source MAC not learned yet
	PUNT_MOVED_SOURCE,    // source MAC learned on another port
	PUNT_FLOOD,           // broadcast or multicast destination
	PUNT_UNKNOWN_DEST,    // destination MAC not learned
	PUNT_LOCAL_DEST,      // destination learned on the ingress port
	PUNT_EGRESS,          // destination port has no fast path
	PUNT_MTU,             // larger than the egress port's MTU
	PUNT_UNPARSED,        // runt, multicast source, or a tag other than one 802.1Q
	PUNT_XDP_LIMIT,       // AF_XDP port: a frame XDP cannot redirect (checksum
			      // pending, multi-buffer, egress takes no XDP frames)
	PUNT_MAX,
};

// Verdicts of decide().
enum verdict {
	V_PUNT,     // userspace forwards it
	V_REDIRECT, // the kernel forwards it to *egress
	V_TO_TC,    // XDP only: the egress accepts no XDP frames; TC forwards it
};

struct fdb_key {
	__u32 bridge; // bridge id
	__u16 vid;    // VLAN id, 0 untagged
	__u8 mac[6];
};

struct fdb_entry {
	__u32 ifindex; // port the MAC was learned on
	__u32 flags;   // FDB_*
	__u64 seen;    // bpf_ktime_get_ns of the last frame from the MAC
};

struct port {
	__u32 bridge;   // bridge id
	__u32 flags;    // PORT_*
	__u32 max_len;  // MTU plus the Ethernet header
	__u32 xsk_base; // PORT_XSK: xs_xsks key of the socket of receive queue 0
	__u32 xsk_queues; // PORT_XSK: the port's keys, from xsk_base on
	__u32 pad;
};

struct port_stats {
	__u64 packets;         // forwarded by the fast path
	__u64 bytes;           // forwarded by the fast path
	__u64 xdp_packets;     // of packets, those XDP redirected
	__u64 redirect_errors; // XDP redirects the devmap refused (passed on)
	__u64 punt_errors;     // frames TC could not punt (too long to grow): dropped
	__u64 punts[PUNT_MAX];
};

struct meta {
	__u64 version; // layout and code version of the pinned maps
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, struct fdb_key);
	__type(value, struct fdb_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_fdb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32); // ifindex
	__type(value, struct port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);   // ifindex
	__type(value, __u32); // the same ifindex
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32); // ingress ifindex
	__type(value, struct port_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_stats SEC(".maps");

// The AF_XDP sockets of AF_XDP ports: key xsk_base + receive queue.
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_meta SEC(".maps");

// A frame as the decision sees it.
struct frame {
	__u32 ifindex; // ingress
	__u32 len;     // bytes, including the Ethernet header and an in-band tag
	__u32 tag_len; // 4 when an 802.1Q tag is in band, counted in len
	__u16 vid;
	__u8 gso;      // a GSO super-frame: the MTU check does not apply
	__u8 parsed;   // 0: punt as PUNT_UNPARSED
	__u8 addr[12]; // destination and source MAC
};

// Refresh a last-seen time at most this often, to keep writes to a shared
// entry rare.
#define SEEN_GRANULARITY_NS 1000000ULL

static __always_inline void copy_mac(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 6);
}

// decide looks a frame up. It does not count; the caller does, once the
// frame's fate is sealed.
// in is the ingress port's entry. On V_REDIRECT, *egress and *eflags are
// the egress port's ifindex and flags.
static __always_inline enum verdict decide(struct frame *f, struct port *in, bool xdp, __u32 *egress,
					   __u32 *eflags, __u32 *reason)
{
	if (!f->parsed || (f->addr[6] & 1)) {
		*reason = PUNT_UNPARSED;
		return V_PUNT;
	}
	struct fdb_key key = { .bridge = in->bridge, .vid = f->vid };
	copy_mac(key.mac, &f->addr[6]);
	struct fdb_entry *src = bpf_map_lookup_elem(&xs_fdb, &key);
	if (!src) {
		*reason = PUNT_UNKNOWN_SOURCE;
		return V_PUNT;
	}
	if (src->ifindex != f->ifindex) {
		*reason = PUNT_MOVED_SOURCE;
		return V_PUNT;
	}
	if (f->addr[0] & 1) {
		*reason = PUNT_FLOOD;
		return V_PUNT;
	}
	copy_mac(key.mac, &f->addr[0]);
	struct fdb_entry *dst = bpf_map_lookup_elem(&xs_fdb, &key);
	if (!dst) {
		*reason = PUNT_UNKNOWN_DEST;
		return V_PUNT;
	}
	__u32 out_ifindex = dst->ifindex;
	if (out_ifindex == f->ifindex) {
		*reason = PUNT_LOCAL_DEST;
		return V_PUNT;
	}
	struct port *out = bpf_map_lookup_elem(&xs_ports, &out_ifindex);
	if (!out || out->bridge != in->bridge || (out->flags & PORT_NO_FAST)) {
		*reason = PUNT_EGRESS;
		return V_PUNT;
	}
	if (!f->gso && f->len > out->max_len + f->tag_len) {
		*reason = PUNT_MTU;
		return V_PUNT;
	}
	if (xdp && !(out->flags & PORT_XDP_TX))
		return V_TO_TC;
	if (!(src->flags & FDB_STATIC)) {
		__u64 now = bpf_ktime_get_ns();
		if (now - src->seen > SEEN_GRANULARITY_NS)
			src->seen = now;
	}
	*egress = out_ifindex;
	*eflags = out->flags;
	return V_REDIRECT;
}

static __always_inline struct port_stats *stats_of(__u32 ifindex)
{
	return bpf_map_lookup_elem(&xs_stats, &ifindex);
}

static __always_inline void count_forward(__u32 ifindex, __u32 len, bool xdp)
{
	struct port_stats *s = stats_of(ifindex);
	if (s) {
		s->packets++;
		s->bytes += len;
		if (xdp)
			s->xdp_packets++;
	}
}

static __always_inline void count_punt_error(__u32 ifindex)
{
	struct port_stats *s = stats_of(ifindex);
	if (s)
		s->punt_errors++;
}

static __always_inline void count_punt(__u32 ifindex, __u32 reason)
{
	struct port_stats *s = stats_of(ifindex);
	if (s && reason < PUNT_MAX)
		s->punts[reason]++;
}

// parse_tag fills f->vid and f->parsed from an 802.1Q tag: out of band
// (the skb's metadata) or in band (ethertype at offset 12 of the frame).
static __always_inline void parse_tag(struct frame *f, bool oob, __u16 oob_proto, __u16 oob_tci,
				      __u16 ethertype, __u16 inband_tci)
{
	f->parsed = 1;
	if (oob) {
		if (oob_proto != bpf_htons(ETH_P_8021Q) || ethertype == bpf_htons(ETH_P_8021Q) ||
		    ethertype == bpf_htons(ETH_P_8021AD)) {
			f->parsed = 0; // QinQ or a second tag: userspace
			return;
		}
		f->vid = oob_tci & 0xfff;
		return;
	}
	if (ethertype == bpf_htons(ETH_P_8021Q)) {
		f->vid = bpf_ntohs(inband_tci) & 0xfff;
		f->tag_len = 4;
	} else if (ethertype == bpf_htons(ETH_P_8021AD)) {
		f->parsed = 0;
	}
}

// add_csum adds n bytes at p to a checksum, n a multiple of 4 and at most
// 512 (bpf_csum_diff's limit).
#define ADD_CSUM(n)                                                  \
	if (left >= (n)) {                                           \
		if (p + (n) > end)                                   \
			return false;                                \
		sum = bpf_csum_diff(NULL, 0, p, (n), sum);           \
		p += (n);                                            \
		left -= (n);                                         \
	}

// l4_sum_ok reports whether the len bytes at l4 (a TCP or UDP segment),
// with the pseudo-header sum seed, carry a correct checksum.
static __always_inline bool l4_sum_ok(void *l4, void *end, __u32 len, __u32 sum)
{
	void *p = l4;
	__u32 left = len;
	if (l4 + len > end || len > 9216)
		return false;
	for (int i = 0; i < 36; i++) {
		if (left < 256)
			break;
		if (p + 256 > end)
			return false;
		sum = bpf_csum_diff(NULL, 0, p, 256, sum);
		p += 256;
		left -= 256;
	}
	ADD_CSUM(128)
	ADD_CSUM(64)
	ADD_CSUM(32)
	ADD_CSUM(16)
	ADD_CSUM(8)
	ADD_CSUM(4)
	__u8 tail[4] = {};
	if (left >= 1) {
		if (p + 1 > end)
			return false;
		tail[0] = *(__u8 *)p;
	}
	if (left >= 2) {
		if (p + 2 > end)
			return false;
		tail[1] = *(__u8 *)(p + 1);
	}
	if (left >= 3) {
		if (p + 3 > end)
			return false;
		tail[2] = *(__u8 *)(p + 2);
	}
	sum = bpf_csum_diff(NULL, 0, (__be32 *)tail, 4, sum);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

// no_offload_pending reports whether a linear frame can be redirected as an
// XDP frame, which carries no offload metadata. A guest's stack leaves TCP
// and UDP checksums to be finished (CHECKSUM_PARTIAL), and XDP cannot see
// that; so a TCP or UDP segment qualifies only when its checksum verifies.
// ICMP is checksummed in software and non-IP frames carry no offload. The
// rest (SCTP's CRC offload, tunnels whose inner checksum may be pending,
// UDP without a checksum, IPv6 extension headers) is left to TC.
static __always_inline bool no_offload_pending(void *l3, void *end, __u16 ethertype)
{
	if (ethertype == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end)
			return false;
		if (ip->frag_off & bpf_htons(0x1fff))
			return true; // a later fragment: no L4 header to finish
		if (ip->protocol == IPPROTO_ICMP)
			return true; // checksummed in software
		if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
			return false; // SCTP, tunnels (their inner checksums): TC

		__u32 ihl = ip->ihl * 4;
		__u32 tot = bpf_ntohs(ip->tot_len);
		if (ihl < sizeof(*ip) || tot <= ihl)
			return false;
		void *l4 = l3 + ihl;
		if (ip->protocol == IPPROTO_UDP) {
			struct udphdr *udp = l4;
			if ((void *)(udp + 1) > end || udp->check == 0)
				return false; // no checksum: maybe a tunnel with an inner one pending
		}
		__u32 ph[3] = {ip->saddr, ip->daddr, bpf_htonl((__u32)ip->protocol << 16 | (tot - ihl))};
		__u32 seed = bpf_csum_diff(NULL, 0, (__be32 *)ph, sizeof(ph), 0);
		return l4_sum_ok(l4, end, tot - ihl, seed);
	}
	if (ethertype == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return false;
		__u8 nh = ip6->nexthdr;
		if (nh != IPPROTO_TCP && nh != IPPROTO_UDP)
			return nh == IPPROTO_ICMPV6;
		__u32 len = bpf_ntohs(ip6->payload_len);
		__u32 ph[2] = {bpf_htonl(len), bpf_htonl(nh)};
		__u32 seed = bpf_csum_diff(NULL, 0, (__be32 *)&ip6->saddr, 32, 0);
		seed = bpf_csum_diff(NULL, 0, (__be32 *)ph, sizeof(ph), seed);
		return l4_sum_ok(ip6 + 1, end, len, seed);
	}
	return true;
}

// to_user hands a frame XDP does not redirect on: to the kernel's receive
// path (TC decides and counts), or, on an AF_XDP port, to the port's socket
// for the receive queue, counting the reason.
static __always_inline int to_user(struct xdp_md *ctx, struct port *in, __u32 reason)
{
	if (!in || !(in->flags & PORT_XSK))
		return XDP_PASS;
	// A queue the port has no socket for (channels added since it was
	// opened): the kernel stack, not another port's socket.
	if (ctx->rx_queue_index >= in->xsk_queues)
		return XDP_PASS;
	if (!(in->flags & PORT_NO_FAST))
		count_punt(ctx->ingress_ifindex, reason);
	return bpf_redirect_map(&xs_xsks, in->xsk_base + ctx->rx_queue_index, XDP_PASS);
}

SEC("xdp.frags")
int xswitch_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct frame f = { .ifindex = ctx->ingress_ifindex };
	struct port *in = bpf_map_lookup_elem(&xs_ports, &f.ifindex);

	if (!in)
		return XDP_PASS;
	if (in->flags & PORT_NO_FAST)
		return to_user(ctx, in, 0);
	if (data + ETH_HLEN + 4 > end)
		return to_user(ctx, in, PUNT_UNPARSED); // short frames: TC and userspace decide
	// A multi-buffer frame is a GSO super-frame that veth turned into XDP
	// frags: redirected as XDP it would lose its offload metadata.
	if (bpf_xdp_get_buff_len(ctx) != (__u64)(end - data))
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	f.len = end - data;
	__builtin_memcpy(f.addr, data, 12);
	parse_tag(&f, false, 0, 0, *(__u16 *)(data + 12), *(__u16 *)(data + 14));
	if (!f.parsed)
		return to_user(ctx, in, PUNT_UNPARSED);
	if (f.tag_len && (*(__u16 *)(data + 16) == bpf_htons(ETH_P_8021Q) ||
			  *(__u16 *)(data + 16) == bpf_htons(ETH_P_8021AD)))
		return to_user(ctx, in, PUNT_UNPARSED); // a second tag: userspace

	__u32 egress = 0, eflags = 0, reason = 0;
	enum verdict v = decide(&f, in, true, &egress, &eflags, &reason);
	if (v == V_TO_TC)
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	if (v != V_REDIRECT)
		return to_user(ctx, in, reason); // punted: TC counts it, or the AF_XDP path
	void *l3 = data + ETH_HLEN;
	__u16 ethertype = *(__u16 *)(data + 12);
	if (f.tag_len) {
		l3 += 4;
		ethertype = *(__u16 *)(data + 16);
	}
	if (!no_offload_pending(l3, end, ethertype))
		return to_user(ctx, in, PUNT_XDP_LIMIT); // TC keeps the skb's offload metadata
	long rc = bpf_redirect_map(&xs_tx_ports, egress, XDP_PASS);
	if (rc != XDP_REDIRECT) {
		struct port_stats *s = stats_of(f.ifindex);
		if (s)
			s->redirect_errors++;
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	}
	count_forward(f.ifindex, f.len, true);
	return XDP_REDIRECT;
}

// frame_of_skb reads what decide needs from an skb whose data starts at the
// Ethernet header.
static __always_inline int frame_of_skb(struct __sk_buff *skb, struct frame *f)
{
	__u8 hdr[ETH_HLEN + 4];
	f->ifindex = skb->ifindex;
	f->len = skb->len;
	f->gso = skb->gso_size != 0;
	if (bpf_skb_load_bytes_relative(skb, 0, hdr, ETH_HLEN, BPF_HDR_START_MAC) < 0)
		return -1;
	__builtin_memcpy(f->addr, hdr, 12);
	__u16 ethertype = *(__u16 *)(hdr + 12);
	__u16 tci = 0;
	if (!skb->vlan_present && ethertype == bpf_htons(ETH_P_8021Q)) {
		if (bpf_skb_load_bytes_relative(skb, 0, hdr, ETH_HLEN + 4, BPF_HDR_START_MAC) < 0)
			return -1;
		tci = *(__u16 *)(hdr + 14);
	}
	parse_tag(f, skb->vlan_present, skb->vlan_proto, skb->vlan_tci, ethertype, tci);
	return 0;
}

// tc_redirect sends a frame out of port egress: for a veth whose peer
// lives in another namespace (a guest), straight into the peer's receive
// path, which skips the veth's transmit and a trip through the backlog.
static __always_inline long tc_redirect(__u32 egress, __u32 eflags)
{
	if (eflags & PORT_PEER)
		return bpf_redirect_peer(egress, 0);
	return bpf_redirect(egress, 0);
}

// punt hands a frame to userspace: it inserts the punt header after the
// MAC addresses and sends the frame through the port's receive path again.
//
// A tag the kernel holds out of band goes into the frame too, after the
// punt header: a socket bound to one ethertype gets frames with the
// out-of-band tag already cleared.
static __always_inline int punt(struct __sk_buff *skb, __u32 ifindex, __u32 reason)
{
	struct {
		__u8 macs[12];
		__be16 ethertype;
		__be16 reason;
		__be16 tpid; // only when the frame had an out-of-band tag
		__be16 tci;
	} hdr;
	__u32 grow = PUNT_HDR_LEN, len = 16;
	if (skb->vlan_present) {
		grow += 4;
		len += 4;
		hdr.tpid = skb->vlan_proto; // network order already
		hdr.tci = bpf_htons(skb->vlan_tci);
	}
	if (bpf_skb_load_bytes(skb, 0, hdr.macs, sizeof(hdr.macs)) < 0 ||
	    bpf_skb_change_head(skb, grow, 0) < 0) {
		count_punt_error(ifindex);
		return TC_ACT_SHOT;
	}
	hdr.ethertype = bpf_htons(PUNT_ETHERTYPE);
	hdr.reason = bpf_htons(reason);
	if (bpf_skb_store_bytes(skb, 0, &hdr, len, 0) < 0) {
		count_punt_error(ifindex);
		return TC_ACT_SHOT;
	}
	count_punt(ifindex, reason);
	skb->mark = PUNT_MARK;
	return bpf_redirect(ifindex, BPF_F_INGRESS);
}

SEC("tc")
int xswitch_tc(struct __sk_buff *skb)
{
	struct frame f = {};
	__u32 egress = 0, eflags = 0, reason = PUNT_UNPARSED, ifindex = skb->ifindex;

	if (skb->mark == PUNT_MARK) {
		void *data = (void *)(long)skb->data;
		void *end = (void *)(long)skb->data_end;
		if (data + 14 <= end && *(__be16 *)(data + 12) == bpf_htons(PUNT_ETHERTYPE)) {
			skb->mark = 0;
			return TC_ACT_OK; // punted a moment ago: on to the port's socket
		}
	}
	struct port *in = bpf_map_lookup_elem(&xs_ports, &ifindex);
	if (!in)
		return TC_ACT_OK;
	if (frame_of_skb(skb, &f) < 0)
		return punt(skb, ifindex, PUNT_UNPARSED);
	if (decide(&f, in, false, &egress, &eflags, &reason) == V_REDIRECT) {
		count_forward(f.ifindex, f.len, false);
		return tc_redirect(egress, eflags);
	}
	return punt(skb, ifindex, reason);
}

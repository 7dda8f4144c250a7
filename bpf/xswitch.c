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
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "csum.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// Where the ethertype is: after the destination and source MAC.
#define ETH_TYPE_OFF (2 * ETH_ALEN)
// An 802.1Q tag: its length, and the VLAN id's bits of its TCI.
#define VLAN_HLEN 4
#define VLAN_VID_MASK 0x0fff

// Verdicts of decide().
enum verdict {
	V_PUNT,     // userspace forwards it
	V_REDIRECT, // the kernel forwards it to *egress
	V_TO_TC,    // XDP only: the egress accepts no XDP frames; TC forwards it
};

// A frame as the decision sees it.
struct frame {
	__u32 ifindex; // ingress
	__u32 len;     // bytes, including the Ethernet header and an in-band tag
	__u32 tag_len; // VLAN_HLEN when an 802.1Q tag is in band, counted in len
	__u16 vid;
	__u8 gso;      // a GSO super-frame: the MTU check does not apply
	__u8 parsed;   // 0: punt as PUNT_UNPARSED
	__u8 addr[2 * ETH_ALEN]; // destination and source MAC
};

// Refresh a last-seen time at most this often, to keep writes to a shared
// entry rare.
#define SEEN_GRANULARITY_NS 1000000ULL

static __always_inline void copy_mac(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, ETH_ALEN);
}

// decide looks a frame up. It does not count; the caller does, once the
// frame's fate is sealed.
// in is the ingress port's entry. On V_REDIRECT, *egress and *eflags are
// the egress port's ifindex and flags.
static __always_inline enum verdict decide(struct frame *f, struct port *in, bool xdp, __u32 *egress,
					   __u32 *eflags, enum punt_reason *reason)
{
	if (!f->parsed || (f->addr[ETH_ALEN] & 1)) {
		*reason = PUNT_UNPARSED;
		return V_PUNT;
	}
	struct fdb_key key = { .bridge = in->bridge, .vid = f->vid };
	copy_mac(key.mac, &f->addr[ETH_ALEN]);
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

static __always_inline void count_punt(__u32 ifindex, enum punt_reason reason)
{
	struct port_stats *s = stats_of(ifindex);
	if (s && reason < PUNT_MAX)
		s->punts[reason]++;
}

// parse_tag fills f->vid and f->parsed from an 802.1Q tag: out of band
// (the skb's metadata) or in band (the ethertype at ETH_TYPE_OFF).
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
		f->vid = oob_tci & VLAN_VID_MASK;
		return;
	}
	if (ethertype == bpf_htons(ETH_P_8021Q)) {
		f->vid = bpf_ntohs(inband_tci) & VLAN_VID_MASK;
		f->tag_len = VLAN_HLEN;
	} else if (ethertype == bpf_htons(ETH_P_8021AD)) {
		f->parsed = 0;
	}
}

// has_socket reports whether an AF_XDP port has a socket for the frame's
// receive queue. A queue it has none for (channels added since it was
// opened) is the kernel stack's, not another port's socket's.
static __always_inline bool has_socket(struct xdp_md *ctx, struct port *in)
{
	return (in->flags & PORT_XSK) && ctx->rx_queue_index < in->xsk_queues;
}

// to_socket hands a frame to the port's AF_XDP socket for its receive
// queue, or to the kernel's receive path when it has none (TC decides).
static __always_inline int to_socket(struct xdp_md *ctx, struct port *in)
{
	if (!has_socket(ctx, in))
		return XDP_PASS;
	return bpf_redirect_map(&xs_xsks, in->xsk_base + ctx->rx_queue_index, XDP_PASS);
}

// to_user hands a frame XDP decided not to redirect on, as to_socket does.
// A frame for a socket is counted as punted for reason; TC counts the rest.
static __always_inline int to_user(struct xdp_md *ctx, struct port *in, enum punt_reason reason)
{
	if (has_socket(ctx, in))
		count_punt(ctx->ingress_ifindex, reason);
	return to_socket(ctx, in);
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
		return to_socket(ctx, in); // no decision, nothing to count
	if (data + ETH_HLEN + VLAN_HLEN > end)
		return to_user(ctx, in, PUNT_UNPARSED); // short frames: TC and userspace decide
	// A multi-buffer frame is a GSO super-frame that veth turned into XDP
	// frags: redirected as XDP it would lose its offload metadata.
	if (bpf_xdp_get_buff_len(ctx) != (__u64)(end - data))
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	f.len = end - data;
	__builtin_memcpy(f.addr, data, sizeof(f.addr));
	__u16 ethertype = *(__u16 *)(data + ETH_TYPE_OFF);
	parse_tag(&f, false, 0, 0, ethertype, *(__u16 *)(data + ETH_HLEN));
	if (!f.parsed)
		return to_user(ctx, in, PUNT_UNPARSED);
	void *l3 = data + ETH_HLEN;
	if (f.tag_len) {
		ethertype = *(__u16 *)(data + ETH_TYPE_OFF + VLAN_HLEN);
		l3 += VLAN_HLEN;
		if (ethertype == bpf_htons(ETH_P_8021Q) || ethertype == bpf_htons(ETH_P_8021AD))
			return to_user(ctx, in, PUNT_UNPARSED); // a second tag: userspace
	}

	__u32 egress = 0, eflags = 0;
	enum punt_reason reason = PUNT_UNPARSED;
	enum verdict v = decide(&f, in, true, &egress, &eflags, &reason);
	if (v == V_TO_TC)
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	if (v != V_REDIRECT)
		return to_user(ctx, in, reason); // punted: TC counts it, or the AF_XDP path
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
	__u8 hdr[ETH_HLEN + VLAN_HLEN];
	f->ifindex = skb->ifindex;
	f->len = skb->len;
	f->gso = skb->gso_size != 0;
	if (bpf_skb_load_bytes_relative(skb, 0, hdr, ETH_HLEN, BPF_HDR_START_MAC) < 0)
		return -1;
	__builtin_memcpy(f->addr, hdr, sizeof(f->addr));
	__u16 ethertype = *(__u16 *)(hdr + ETH_TYPE_OFF);
	__u16 tci = 0;
	if (!skb->vlan_present && ethertype == bpf_htons(ETH_P_8021Q)) {
		if (bpf_skb_load_bytes_relative(skb, 0, hdr, ETH_HLEN + VLAN_HLEN, BPF_HDR_START_MAC) < 0)
			return -1;
		tci = *(__u16 *)(hdr + ETH_HLEN);
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
static __always_inline int punt(struct __sk_buff *skb, __u32 ifindex, enum punt_reason reason)
{
	struct {
		__u8 macs[2 * ETH_ALEN];
		__be16 ethertype;
		__be16 reason;
		__be16 tpid; // only when the frame had an out-of-band tag
		__be16 tci;
	} hdr;
	__u32 grow = PUNT_HDR_LEN, len = sizeof(hdr.macs) + PUNT_HDR_LEN;
	if (skb->vlan_present) {
		grow += VLAN_HLEN;
		len += VLAN_HLEN;
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
	__u32 egress = 0, eflags = 0, ifindex = skb->ifindex;
	enum punt_reason reason = PUNT_UNPARSED;

	if (skb->mark == PUNT_MARK) {
		void *data = (void *)(long)skb->data;
		void *end = (void *)(long)skb->data_end;
		if (data + ETH_HLEN <= end && *(__be16 *)(data + ETH_TYPE_OFF) == bpf_htons(PUNT_ETHERTYPE)) {
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

//go:build ignore

// The fast path of xswitch: learned unicast is redirected in the kernel,
// everything else is punted to the userspace switch.
//
// Both learn the source MACs of the frames they decide on (learn()): the
// daemon hears of it through a ring buffer and keeps its table in step.
//
// Two programs share one decision and one set of maps:
//
//   xswitch_xdp   native XDP on a port's ingress. Redirects linear frames to
//                 ports that accept XDP frames (through the tx_ports devmap);
//                 passes everything else on, to the TC program.
//   xswitch_tc    TC ingress (tcx, or a clsact filter). Redirects learned
//                 unicast; floods broadcast and multicast itself on a bridge
//                 whose flood list says it may (xs_flood); punts the rest.
//
// Both apply the ports' policies (policy.h): the ingress port's VLANs and
// anti-spoofing before anything else, so that no frame they refuse reaches
// userspace or another port; the egress port's VLANs and isolation before a
// redirect, pushing or popping the frame's tag as the egress port needs.
// A punted frame is punted as it came: userspace applies the policies again.
//
// On an AF_XDP port the XDP program is alone: what it does not redirect it
// hands to the port's AF_XDP socket for its receive queue (the xs_xsks
// map), and the userspace switch forwards it; there is no TC program and no
// punt header. Such a port can have its fast path off: then every frame goes
// to the socket, and no other port redirects to it.
//
// A punted frame gets a 4-byte punt header after its MAC addresses and goes
// through the port's receive path again (a redirect to the port's own
// ingress), where an AF_PACKET socket bound to the punt ethertype takes it:
// the daemon's one punt socket, bound on every interface, which learns the
// ingress port from the frame's interface, or (when it could not be opened)
// the port's own; userspace removes the header. The socket is not bound to
// ETH_P_ALL because such a socket is a tap, which sees every frame before TC
// ingress runs: it would see the frames the fast path forwards as well.
// Every frame is therefore forwarded exactly once: by XDP, by TC, or by
// userspace. A frame TC floods is cloned to each other port and then
// dropped, never punted: userspace does not see it.

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

// The kinds of a frame's first tag (frame.tagged).
#define TAGGED_8021Q 1
#define TAGGED_8021AD 2

// Verdicts of decide().
enum verdict {
	V_PUNT,     // userspace forwards it
	V_REDIRECT, // the kernel forwards it to *egress
	V_TO_TC,    // XDP only: the egress accepts no XDP frames; TC forwards it
	V_DROP,     // the egress port's policy refuses it
};

// A frame as the decision sees it.
struct frame {
	__u32 ifindex; // ingress
	__u32 len;     // bytes, including the Ethernet header and an in-band tag
	__u32 tag_len; // VLAN_HLEN when the first tag is in band, counted in len
	__u16 vid;     // the tag's VLAN id, 0 untagged; admit() makes it the
		       // VLAN inside the bridge
	__be16 ethertype; // after the first tag
	__u8 addr[2 * ETH_ALEN]; // destination and source MAC
	__u8 tagged;   // the first tag, in band or not: 0 none, or TAGGED_*
	__u8 gso;      // a GSO super-frame: the MTU check does not apply
	__u8 parsed;   // 0: punt as PUNT_UNPARSED
	__u8 refused;  // decide did not learn the source: the port holds
		       // port.max_macs MACs
};

#include "policy.h"

// Refresh a last-seen time at most this often, to keep writes to a shared
// entry rare.
#define SEEN_GRANULARITY_NS 1000000ULL

static __always_inline void copy_mac(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, ETH_ALEN);
}

// How long after a MAC is learned the daemon's reader is woken. Woken at
// once, it would compete for the CPUs with the very conversation whose
// first frames it learned from (the answer to an ARP request, the first
// echo): it reads them a moment later, when the exchange is over. Under a
// millisecond, against minutes of ageing.
#define LEARN_WAKE_NS 500000ULL
// Room in xs_learned that events leave for the records that wake its
// reader.
#define LEARN_RING_SPARE 4096

// wake_now wakes the reader of xs_learned: a discarded record is the way a
// program has to do it.
static __always_inline void wake_now(void)
{
	void *w = bpf_ringbuf_reserve(&xs_learned, 8, 0);
	if (w)
		bpf_ringbuf_discard(w, BPF_RB_FORCE_WAKEUP);
}

static int learn_wake_fired(void *map, __u32 *key, struct learn_wake *w)
{
	w->armed = 0; // before the wake: an event submitted after it arms again
	wake_now();
	return 0;
}

// wake_later wakes the reader LEARN_WAKE_NS from now, unless a wake is
// already due; false if the timer cannot do it.
static __always_inline bool wake_later(void)
{
	__u32 zero = 0;
	struct learn_wake *w = bpf_map_lookup_elem(&xs_learn_wake, &zero);
	if (!w)
		return false;
	if (w->armed)
		return true;
	long err = bpf_timer_init(&w->timer, &xs_learn_wake, 1); // CLOCK_MONOTONIC
	if (err && err != -16) // -EBUSY: set up already
		return false;
	if (bpf_timer_set_callback(&w->timer, learn_wake_fired) ||
	    bpf_timer_start(&w->timer, LEARN_WAKE_NS, 0))
		return false;
	w->armed = 1;
	return true;
}

// count_macs adds d to the programs' count of the dynamic MACs on port
// ifindex.
static __always_inline void count_macs(__u32 ifindex, __s64 d)
{
	struct macs *m = bpf_map_lookup_elem(&xs_macs, &ifindex);
	if (m)
		__sync_fetch_and_add(&m->n, d);
}

// room_for_mac says whether port in (ifindex) may have one more dynamic
// MAC: a port that sends from ever new sources (a MAC flood) fills its
// share of the map and no more, and costs no learn event past it.
static __always_inline bool room_for_mac(struct port *in, __u32 ifindex)
{
	if (!in->max_macs)
		return true;
	__s64 n = 0;
	struct macs *m = bpf_map_lookup_elem(&xs_macs, &ifindex);
	if (m)
		n += m->n;
	m = bpf_map_lookup_elem(&xs_macs_user, &ifindex);
	if (m)
		n += m->n;
	return n < (__s64)in->max_macs;
}

// learn points a MAC at the port a frame from it came in on, and tells the
// daemon, whose table learns it too (its limits apply there: the daemon
// undoes what its table refuses). Without room for the event it learns
// nothing: the frame is punted and userspace learns from it, so every entry
// the programs make reaches the table. Learning here, rather than from the
// punted frame, lets the next frames of a conversation (the answer to an
// ARP request, the first echo) take the fast path at once.
static __always_inline bool learn(struct fdb_key *key, __u32 ifindex, __u32 old)
{
	// Events stop short of filling the ring: the record that wakes the
	// reader must always find room, or a reader asleep would never be told.
	if (bpf_ringbuf_query(&xs_learned, BPF_RB_AVAIL_DATA) > LEARN_RING_BYTES - LEARN_RING_SPARE)
		return false;
	struct learn_event *ev = bpf_ringbuf_reserve(&xs_learned, sizeof(*ev), 0);
	if (!ev)
		return false;
	struct fdb_entry e = { .ifindex = ifindex, .seen = bpf_ktime_get_ns() };
	// A new entry only if none came meanwhile, a move only of one still
	// there: the counts of MACs stay right when two CPUs learn at once.
	if (bpf_map_update_elem(&xs_fdb, key, &e, old ? BPF_EXIST : BPF_NOEXIST) < 0) {
		bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
		return false;
	}
	count_macs(ifindex, 1);
	if (old)
		count_macs(old, -1);
	ev->key = *key;
	ev->ifindex = ifindex;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	if (!wake_later())
		wake_now();
	return true;
}

// storm_ok takes a frame's token from port ifindex's bucket for kind:
// false when the port is over its storm-control limit.
static __noinline bool storm_ok(__u32 ifindex, __u32 kind)
{
	struct storm *s = bpf_map_lookup_elem(&xs_storm, &ifindex);
	if (!s || kind >= STORM_KINDS)
		return true;
	struct storm_bucket *b = &s->kinds[kind];
	if (!b->rate)
		return true;
	__u64 now = bpf_ktime_get_ns();
	bool ok = false;
	bpf_spin_lock(&s->lock);
	__u64 elapsed = now > b->last ? now - b->last : 0;
	if (elapsed > STORM_TOKEN) // a second refills any bucket
		elapsed = STORM_TOKEN;
	__u64 tokens = b->tokens + elapsed * b->rate;
	if (tokens > b->burst)
		tokens = b->burst;
	if (tokens >= STORM_TOKEN) {
		tokens -= STORM_TOKEN;
		ok = true;
	}
	b->tokens = tokens;
	if (now > b->last)
		b->last = now;
	bpf_spin_unlock(&s->lock);
	return ok;
}

static __always_inline bool is_broadcast(const __u8 *mac)
{
	return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}

// storm_passes applies storm control to a frame TC punts for reason: one
// userspace would flood is dropped (false) over the port's limit. XDP
// leaves it to TC, or to the AF_XDP port's userspace switch.
static __always_inline bool storm_passes(struct frame *f, enum punt_reason reason)
{
	if (reason == PUNT_FLOOD)
		return storm_ok(f->ifindex, is_broadcast(f->addr) ? STORM_BROADCAST : STORM_MULTICAST);
	if (reason == PUNT_UNKNOWN_DEST)
		return storm_ok(f->ifindex, STORM_UNKNOWN_UNICAST);
	return true;
}

// decide looks a frame up. It does not count; the caller does, once the
// frame's fate is sealed.
// in is the ingress port's entry. On V_REDIRECT, *egress and *eflags are
// the egress port's ifindex and flags, and *op what the frame's tag needs;
// on V_DROP, *drop says why.
// With dry it changes nothing: it decides as if the source were learned.
// On V_REDIRECT to a port with PORT_MIRROR_OUT, *emirror is its mirror's
// destination.
static __always_inline enum verdict decide(struct frame *f, struct port *in, bool xdp, bool dry,
					   __u32 *egress, __u32 *eflags, __u32 *emirror, __u8 *op,
					   enum punt_reason *reason, enum drop_reason *drop)
{
	if (!f->parsed || (f->addr[ETH_ALEN] & 1)) {
		*reason = PUNT_UNPARSED;
		return V_PUNT;
	}
	struct fdb_key key = { .bridge = in->bridge, .vid = f->vid };
	copy_mac(key.mac, &f->addr[ETH_ALEN]);
	struct fdb_entry *src = bpf_map_lookup_elem(&xs_fdb, &key);
	bool here = src && src->ifindex == f->ifindex; // src is learned on the ingress port
	if (!here) {
		// A static MAC never moves: userspace counts the conflict.
		if (src && (src->flags & FDB_STATIC)) {
			*reason = PUNT_MOVED_SOURCE;
			return V_PUNT;
		}
		// A port at its limit goes on unlearned, without a punt.
		if (!room_for_mac(in, f->ifindex)) {
			f->refused = 1;
		} else if (!dry && !learn(&key, f->ifindex, src ? src->ifindex : 0)) {
			*reason = src ? PUNT_MOVED_SOURCE : PUNT_UNKNOWN_SOURCE;
			return V_PUNT;
		}
	}
	if (f->addr[0] & 1) {
		*reason = PUNT_FLOOD;
		return V_PUNT;
	}
	// Traced, the source is not learned: a frame to its own source MAC,
	// which a real run would just have learned here, goes back out of the
	// ingress port.
	if (dry && !here && !f->refused && same_mac(&f->addr[0], &f->addr[ETH_ALEN])) {
		*reason = PUNT_LOCAL_DEST;
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
	// Userspace floods it, past the blocked port.
	if (out->flags & PORT_BLOCKED) {
		*reason = PUNT_UNKNOWN_DEST;
		return V_PUNT;
	}
	// Isolation first, as userspace checks it (dataplane.egressOf), so
	// both count a frame alike.
	if (in->flags & out->flags & PORT_ISOLATED) {
		*drop = DROP_ISOLATED;
		return V_DROP;
	}
	if (!vlan_out(f, out, out_ifindex, op)) {
		*drop = DROP_VLAN;
		return V_DROP;
	}
	if (!f->gso && f->len > out->max_len + f->tag_len) {
		*reason = PUNT_MTU;
		return V_PUNT;
	}
	if (xdp && !(out->flags & PORT_XDP_TX))
		return V_TO_TC;
	if (!dry && src && here && !(src->flags & FDB_STATIC)) {
		__u64 now = bpf_ktime_get_ns();
		if (now - src->seen > SEEN_GRANULARITY_NS)
			src->seen = now;
	}
	*egress = out_ifindex;
	*eflags = out->flags;
	if (out->flags & PORT_MIRROR_OUT)
		*emirror = out->mirror_out;
	return V_REDIRECT;
}

static __always_inline struct port_stats *stats_of(__u32 ifindex)
{
	return bpf_map_lookup_elem(&xs_stats, &ifindex);
}

// count_forward counts a frame received on port ifindex, len bytes on the
// wire, and redirected to port egress, where it leaves with its tag as op
// makes it.
static __always_inline void count_forward(__u32 ifindex, __u32 len, bool xdp, __u32 egress, __u8 op)
{
	struct port_stats *s = stats_of(ifindex);
	if (s) {
		s->packets++;
		s->bytes += len;
		if (xdp)
			s->xdp_packets++;
	}
	if (op == TAG_PUSH)
		len += VLAN_HLEN;
	else if (op == TAG_POP)
		len -= VLAN_HLEN;
	s = stats_of(egress);
	if (s) {
		s->tx_packets++;
		s->tx_bytes += len;
	}
}

// count_refused counts a frame whose source decide did not learn, once its
// fate is sealed in the kernel: userspace counts those it is handed.
static __always_inline void count_refused(struct frame *f)
{
	if (!f->refused)
		return;
	struct port_stats *s = stats_of(f->ifindex);
	if (s)
		s->fdb_refused++;
}

static __always_inline void count_punt_error(__u32 ifindex, __u32 len)
{
	struct port_stats *s = stats_of(ifindex);
	if (s) {
		s->punt_errors++;
		s->drop_bytes += len;
	}
}

static __always_inline void count_punt(__u32 ifindex, enum punt_reason reason)
{
	struct port_stats *s = stats_of(ifindex);
	if (s && reason < PUNT_MAX)
		s->punts[reason]++;
}

static __always_inline void count_drop(__u32 ifindex, enum drop_reason reason, __u32 len)
{
	struct port_stats *s = stats_of(ifindex);
	if (s && reason < DROP_MAX) {
		s->drops[reason]++;
		s->drop_bytes += len;
	}
}

// capture_skb copies a frame at TC to xs_capture, for a capture of port
// ifindex. Its tag, if the kernel holds it out of band, goes in the event.
static __always_inline void capture_skb(struct __sk_buff *skb, __u32 ifindex, __u8 dir)
{
	struct capture_event ev = { .ifindex = ifindex, .dir = dir, .path = CAPTURE_TC };
	__u64 len = skb->len;
	if (len > CAPTURE_SNAP)
		len = CAPTURE_SNAP;
	ev.len = len;
	if (skb->vlan_present) {
		ev.vlan_proto = skb->vlan_proto;
		ev.vlan_tci = skb->vlan_tci;
	}
	bpf_perf_event_output(skb, &xs_capture, BPF_F_CURRENT_CPU | (len << 32), &ev, sizeof(ev));
}

// capture_xdp copies a frame of len bytes at XDP to xs_capture, for a
// capture of port ifindex.
static __always_inline void capture_xdp(struct xdp_md *ctx, __u32 ifindex, __u8 dir, __u64 len)
{
	struct capture_event ev = { .ifindex = ifindex, .dir = dir, .path = CAPTURE_XDP };
	if (len > CAPTURE_SNAP)
		len = CAPTURE_SNAP;
	ev.len = len;
	bpf_perf_event_output(ctx, &xs_capture, BPF_F_CURRENT_CPU | (len << 32), &ev, sizeof(ev));
}

static __always_inline bool is_tag(__be16 ethertype)
{
	return ethertype == bpf_htons(ETH_P_8021Q) || ethertype == bpf_htons(ETH_P_8021AD);
}

// parse_tag fills f->tagged, f->vid, f->tag_len, f->ethertype and
// f->parsed from the first tag: out of band (the skb's metadata) or in band
// (ethertype, the one at ETH_TYPE_OFF; then inband_tci and inner follow
// it). Only a single 802.1Q tag is parsed; with QinQ or a second tag the
// frame is userspace's, but its first tag still decides its VLAN.
static __always_inline void parse_tag(struct frame *f, bool oob, __u16 oob_proto, __u16 oob_tci,
				      __be16 ethertype, __be16 inband_tci, __be16 inner)
{
	f->parsed = 1;
	f->ethertype = ethertype;
	if (oob) {
		f->tagged = oob_proto == bpf_htons(ETH_P_8021Q) ? TAGGED_8021Q : TAGGED_8021AD;
		f->vid = oob_tci & VLAN_VID_MASK;
		if (oob_proto != bpf_htons(ETH_P_8021Q) || is_tag(ethertype))
			f->parsed = 0;
		return;
	}
	if (is_tag(ethertype)) {
		f->tagged = ethertype == bpf_htons(ETH_P_8021Q) ? TAGGED_8021Q : TAGGED_8021AD;
		f->vid = bpf_ntohs(inband_tci) & VLAN_VID_MASK;
		f->tag_len = VLAN_HLEN;
		f->ethertype = inner;
		if (ethertype != bpf_htons(ETH_P_8021Q) || is_tag(inner))
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

// xdp_retag pushes or pops a frame's 802.1Q tag: the MAC addresses move
// and the frame's head with them. Only a frame whose push found no headroom
// is left as it was (-1); other failures cannot happen to a frame parsed.
static __always_inline int xdp_retag(struct xdp_md *ctx, __u8 op, __u16 vid)
{
	__u8 macs[2 * ETH_ALEN];
	void *data, *end;
	if (op == TAG_PUSH) {
		if (bpf_xdp_adjust_head(ctx, -VLAN_HLEN))
			return -1;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		if (data + ETH_HLEN + VLAN_HLEN > end)
			return -2;
		__builtin_memcpy(macs, data + VLAN_HLEN, sizeof(macs));
		__builtin_memcpy(data, macs, sizeof(macs));
		*(__be16 *)(data + ETH_TYPE_OFF) = bpf_htons(ETH_P_8021Q);
		*(__be16 *)(data + ETH_HLEN) = bpf_htons(vid);
	} else if (op == TAG_POP) {
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		if (data + ETH_HLEN + VLAN_HLEN > end)
			return -2;
		__builtin_memcpy(macs, data, sizeof(macs));
		__builtin_memcpy(data + VLAN_HLEN, macs, sizeof(macs));
		if (bpf_xdp_adjust_head(ctx, VLAN_HLEN))
			return -2;
	}
	return 0;
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
	// XDP cannot clone: TC, or the AF_XDP port's socket, mirrors.
	if (in->flags & PORT_MIRROR_IN)
		return to_user(ctx, in, PUNT_MIRROR);
	__u32 wire_len = bpf_xdp_get_buff_len(ctx); // frags included
	if (in->flags & PORT_BLOCKED) {
		count_drop(f.ifindex, DROP_BLOCKED, wire_len);
		goto drop;
	}
	if (data + ETH_HLEN + VLAN_HLEN > end) {
		// Short frames: TC and userspace decide, unless no such frame
		// can pass anti-spoofing.
		if (in->flags & PORT_ANTISPOOF) {
			count_drop(f.ifindex, DROP_SPOOFED, wire_len);
			goto drop;
		}
		return to_user(ctx, in, PUNT_UNPARSED);
	}
	__builtin_memcpy(f.addr, data, sizeof(f.addr));
	parse_tag(&f, false, 0, 0, *(__be16 *)(data + ETH_TYPE_OFF), *(__be16 *)(data + ETH_HLEN),
		  *(__be16 *)(data + ETH_TYPE_OFF + VLAN_HLEN));
	enum drop_reason drop = admit(ctx, true, &f, in, wire_len);
	if (drop != DROP_MAX) {
		count_drop(f.ifindex, drop, wire_len);
		goto drop;
	}
	// A multi-buffer frame is a GSO super-frame that veth turned into XDP
	// frags: redirected as XDP it would lose its offload metadata.
	if (wire_len != (__u32)(end - data))
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	if (!f.parsed)
		return to_user(ctx, in, PUNT_UNPARSED);
	f.len = end - data;

	__u32 egress = 0, eflags = 0, emirror = 0;
	__u8 op = TAG_KEEP;
	enum punt_reason reason = PUNT_UNPARSED;
	enum verdict v = decide(&f, in, true, false, &egress, &eflags, &emirror, &op, &reason, &drop);
	if (v == V_DROP) {
		count_drop(f.ifindex, drop, wire_len);
		count_refused(&f);
		goto drop;
	}
	if (v == V_TO_TC)
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	if (v != V_REDIRECT)
		return to_user(ctx, in, reason); // punted: TC counts it, or the AF_XDP path
	if (eflags & PORT_MIRROR_OUT)
		return to_user(ctx, in, PUNT_MIRROR);
	if (!xdp_sum_ok(ctx, ETH_HLEN + f.tag_len, f.ethertype))
		return to_user(ctx, in, PUNT_XDP_LIMIT); // TC keeps the skb's offload metadata
	long rc = bpf_redirect_map(&xs_tx_ports, egress, XDP_PASS);
	if (rc != XDP_REDIRECT) {
		struct port_stats *s = stats_of(f.ifindex);
		if (s)
			s->redirect_errors++;
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	}
	if (in->flags & PORT_CAPTURE)
		capture_xdp(ctx, f.ifindex, CAPTURE_IN, f.len);
	// The tag changes once the redirect is sure, so a frame passed on
	// is passed as it came.
	int err = xdp_retag(ctx, op, f.vid);
	if (err == -1)
		return to_user(ctx, in, PUNT_XDP_LIMIT);
	if (err < 0)
		return XDP_DROP;
	count_forward(f.ifindex, f.len, true, egress, op);
	count_refused(&f);
	if (eflags & PORT_CAPTURE)
		capture_xdp(ctx, egress, CAPTURE_OUT, (__u64)ctx->data_end - ctx->data);
	return XDP_REDIRECT;
drop:
	if (in->flags & PORT_CAPTURE)
		capture_xdp(ctx, f.ifindex, CAPTURE_IN, wire_len);
	return XDP_DROP;
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
	__be16 ethertype = *(__be16 *)(hdr + ETH_TYPE_OFF);
	__be16 tci = 0, inner = 0;
	if (!skb->vlan_present && is_tag(ethertype)) {
		if (bpf_skb_load_bytes_relative(skb, 0, hdr, ETH_HLEN + VLAN_HLEN, BPF_HDR_START_MAC) < 0)
			return -1;
		tci = *(__be16 *)(hdr + ETH_HLEN);
		inner = *(__be16 *)(hdr + ETH_TYPE_OFF + VLAN_HLEN);
	}
	parse_tag(f, skb->vlan_present, skb->vlan_proto, skb->vlan_tci, ethertype, tci, inner);
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
	__u32 wire_len = skb->len + (skb->vlan_present ? VLAN_HLEN : 0);
	if (skb->vlan_present) {
		grow += VLAN_HLEN;
		len += VLAN_HLEN;
		hdr.tpid = skb->vlan_proto; // network order already
		hdr.tci = bpf_htons(skb->vlan_tci);
	}
	if (bpf_skb_load_bytes(skb, 0, hdr.macs, sizeof(hdr.macs)) < 0 ||
	    bpf_skb_change_head(skb, grow, 0) < 0) {
		count_punt_error(ifindex, wire_len);
		return TC_ACT_SHOT;
	}
	hdr.ethertype = bpf_htons(PUNT_ETHERTYPE);
	hdr.reason = bpf_htons(reason);
	if (bpf_skb_store_bytes(skb, 0, &hdr, len, 0) < 0) {
		count_punt_error(ifindex, wire_len);
		return TC_ACT_SHOT;
	}
	count_punt(ifindex, reason);
	skb->mark = PUNT_MARK;
	return bpf_redirect(ifindex, BPF_F_INGRESS);
}

// The ingress flags that have userspace see a port's floods: the loader
// keeps such a port's bridge off kernel flooding, and TC checks them again
// so that a port whose flags just changed is never flooded past them.
#define FLOOD_USER_FLAGS (PORT_NO_FAST | PORT_XSK | PORT_CAPTURE | PORT_MIRROR_IN | PORT_MIRROR_OUT | \
			  PORT_MIRROR_DEST | PORT_BLOCKED)

// flood_list returns the flood list TC floods a frame to, which decide
// punted for reason from port in; NULL when userspace floods it.
static __always_inline struct flood *flood_list(struct frame *f, struct port *in, enum punt_reason reason)
{
	if (reason != PUNT_FLOOD || (in->flags & FLOOD_USER_FLAGS))
		return NULL;
	struct flood *fl = bpf_map_lookup_elem(&xs_flood, &in->bridge);
	if (!fl || !fl->kernel)
		return NULL;
	if (!f->gso && f->len > fl->min_len + f->tag_len)
		return NULL;
	return fl;
}

struct flood_ctx {
	struct __sk_buff *skb;
	struct flood *fl;
	__u32 ifindex;  // ingress
	__u32 isolated; // PORT_ISOLATED when the ingress port is isolated
	__u32 len;      // on the wire, as it leaves every port (no tag changes)
};

// flood_one clones the frame to port i of the flood list, as the userspace
// switch floods: not back out of the ingress port, not to a blocked port,
// not from an isolated port to another.
static long flood_one(__u64 i, struct flood_ctx *c)
{
	struct flood *fl = c->fl;
	if (i >= FLOOD_PORTS)
		return 1;
	__u32 out = fl->ports[i].ifindex, flags = fl->ports[i].flags;
	if (out == c->ifindex || (flags & PORT_BLOCKED) || (flags & c->isolated))
		return 0;
	if (bpf_clone_redirect(c->skb, out, 0) < 0)
		return 0;
	struct port_stats *s = bpf_map_lookup_elem(&xs_stats, &out);
	if (s) {
		s->tx_packets++;
		s->tx_bytes += c->len;
	}
	return 0;
}

// flood sends a frame of port in out of every other port of flood list fl,
// counts it, and drops the original.
static __always_inline int flood(struct __sk_buff *skb, struct frame *f, struct port *in, struct flood *fl,
				 __u32 wire_len)
{
	struct flood_ctx c = { .skb = skb, .fl = fl, .ifindex = f->ifindex,
			       .isolated = in->flags & PORT_ISOLATED, .len = wire_len };
	__u32 n = fl->n;
	if (n > FLOOD_PORTS)
		n = FLOOD_PORTS;
	bpf_loop(n, flood_one, &c, 0);
	struct port_stats *s = stats_of(f->ifindex);
	if (s) {
		s->flooded++;
		s->flooded_bytes += wire_len;
	}
	count_refused(f);
	return TC_ACT_SHOT;
}

// trace_frame is xswitch_tc for a frame with TRACE_MARK: it decides without
// changing anything and leaves its decision in the skb's cb.
static __noinline int trace_frame(struct __sk_buff *skb)
{
	struct frame f = {};
	__u32 egress = 0, eflags = 0, emirror = 0, ifindex = skb->ifindex;
	enum punt_reason reason = PUNT_UNPARSED;
	enum drop_reason drop = DROP_SPOOFED;
	__u8 op = TAG_KEEP;
	__u32 verdict = TRACE_PUNT, why;

	struct port *in = bpf_map_lookup_elem(&xs_ports, &ifindex);
	if (!in) {
		skb->cb[TRACE_CB_VERDICT] = TRACE_PASS;
		return TC_ACT_OK;
	}
	if (in->flags & PORT_BLOCKED) {
		verdict = TRACE_DROP;
		drop = DROP_BLOCKED;
	} else if (frame_of_skb(skb, &f) < 0) {
		if (in->flags & PORT_ANTISPOOF)
			verdict = TRACE_DROP;
	} else if ((drop = admit(skb, false, &f, in, skb->len)) != DROP_MAX) {
		verdict = TRACE_DROP;
	} else {
		enum verdict v = decide(&f, in, false, true, &egress, &eflags, &emirror, &op, &reason, &drop);
		if (v == V_DROP)
			verdict = TRACE_DROP;
		else if (v == V_REDIRECT)
			verdict = TRACE_REDIRECT;
		else if (flood_list(&f, in, reason))
			verdict = TRACE_FLOOD;
	}
	why = verdict == TRACE_DROP ? drop : reason;
	skb->cb[TRACE_CB_VERDICT] = verdict;
	skb->cb[TRACE_CB_REASON] = verdict == TRACE_REDIRECT ? 0 : why;
	skb->cb[TRACE_CB_EGRESS] = verdict == TRACE_REDIRECT ? egress : 0;
	return TC_ACT_OK;
}

// tc_forward is xswitch_tc for a frame to decide on. A function of its
// own, as trace_frame is: the verifier adds up the stacks of a program and
// of the functions it calls, and each of the two alone stays in bounds.
static __noinline int tc_forward(struct __sk_buff *skb)
{
	struct frame f = {};
	__u32 egress = 0, eflags = 0, emirror = 0, ifindex = skb->ifindex;
	enum punt_reason reason = PUNT_UNPARSED;

	struct port *in = bpf_map_lookup_elem(&xs_ports, &ifindex);
	if (!in)
		return TC_ACT_OK;
	// On the wire, as counted: with the tag the kernel holds out of band.
	__u32 wire_len = skb->len + (skb->vlan_present ? VLAN_HLEN : 0);
	enum drop_reason drop = DROP_BLOCKED;
	if (in->flags & PORT_BLOCKED)
		goto drop;
	drop = DROP_SPOOFED; // a runt passes no anti-spoofing
	if (frame_of_skb(skb, &f) < 0) {
		if (in->flags & PORT_ANTISPOOF)
			goto drop;
		return punt(skb, ifindex, PUNT_UNPARSED);
	}
	drop = admit(skb, false, &f, in, skb->len);
	if (drop != DROP_MAX)
		goto drop;
	__u8 op = TAG_KEEP;
	enum verdict v = decide(&f, in, false, false, &egress, &eflags, &emirror, &op, &reason, &drop);
	if (v == V_DROP)
		goto drop;
	if (v != V_REDIRECT) {
		if (!storm_passes(&f, reason)) {
			drop = DROP_STORM;
			goto drop;
		}
		struct flood *fl = flood_list(&f, in, reason);
		if (fl)
			return flood(skb, &f, in, fl, wire_len);
		return punt(skb, ifindex, reason);
	}
	// Several destinations are userspace's to serve.
	if (((in->flags & PORT_MIRROR_IN) && !in->mirror_in) || ((eflags & PORT_MIRROR_OUT) && !emirror))
		return punt(skb, ifindex, PUNT_MIRROR);
	if (in->flags & PORT_CAPTURE)
		capture_skb(skb, ifindex, CAPTURE_IN);
	if (in->flags & PORT_MIRROR_IN)
		bpf_clone_redirect(skb, in->mirror_in, 0);
	// The tag is out of band at TC ingress (in band only for a frame
	// injected there); the helpers handle either.
	if (op == TAG_PUSH && bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), f.vid) < 0)
		return punt(skb, ifindex, PUNT_UNPARSED);
	if (op == TAG_POP && bpf_skb_vlan_pop(skb) < 0)
		return punt(skb, ifindex, PUNT_UNPARSED);
	count_forward(f.ifindex, wire_len, false, egress, op);
	count_refused(&f);
	if (eflags & PORT_CAPTURE)
		capture_skb(skb, egress, CAPTURE_OUT);
	if (eflags & PORT_MIRROR_OUT)
		bpf_clone_redirect(skb, emirror, 0);
	return tc_redirect(egress, eflags);
drop:
	count_drop(ifindex, drop, wire_len);
	count_refused(&f);
	if (in->flags & PORT_CAPTURE)
		capture_skb(skb, ifindex, CAPTURE_IN);
	// Userspace mirrors what a port receives before its policy drops it.
	if ((in->flags & PORT_MIRROR_IN) && in->mirror_in)
		bpf_clone_redirect(skb, in->mirror_in, 0);
	return TC_ACT_SHOT;
}

SEC("tc")
int xswitch_tc(struct __sk_buff *skb)
{
	if (skb->mark == PUNT_MARK) {
		void *data = (void *)(long)skb->data;
		void *end = (void *)(long)skb->data_end;
		if (data + ETH_HLEN <= end && *(__be16 *)(data + ETH_TYPE_OFF) == bpf_htons(PUNT_ETHERTYPE)) {
			skb->mark = 0;
			return TC_ACT_OK; // punted a moment ago: on to the port's socket
		}
	}
	if (skb->mark == TRACE_MARK)
		return trace_frame(skb);
	return tc_forward(skb);
}

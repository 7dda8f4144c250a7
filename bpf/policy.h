// A port's policy in the programs: its VLANs on ingress and egress, and
// anti-spoofing. The semantics are those of the policy package
// (policy.VLANs.Ingress and Egress, policy.Policy.AllowsAddr), which the
// userspace switch applies to the frames the programs punt. xswitch.c
// includes it once struct frame is declared.

#ifndef XSWITCH_POLICY_H
#define XSWITCH_POLICY_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"

// What a frame's tag needs on its way out.
enum tag_op {
	TAG_KEEP, // as it came
	TAG_PUSH, // untagged in, tagged out: push VLAN frame.vid
	TAG_POP,  // tagged in, untagged out
};

// ICMPv6 neighbour advertisement, and how many IPv6 extension headers
// anti-spoofing looks through for one (more than a real packet carries: a
// longer chain is refused).
#define ICMPV6_NA 136
#define IPV6_EXT_MAX 8
#define IPV6_FRAGMENT 44
#define IP6_FRAG_OFFSET 0xfff8

// The offsets anti-spoofing reads.
#define IP4_HLEN 20
#define IP4_SADDR 12
#define ARP_LEN 28 // Ethernet/IPv4
#define ARP_SHA 8
#define ARP_SPA 14
#define IP6_NEXTHDR 6
#define IP6_SADDR 8
#define IP6_HLEN 40
#define NA_TARGET 8

static __always_inline bool trunk_member(__u32 ifindex, __u16 vid)
{
	struct vlan_key k = { .ifindex = ifindex, .vid = vid };
	return bpf_map_lookup_elem(&xs_vlans, &k) != NULL;
}

// vlan_in puts a frame of a port that is not transparent in its VLAN inside
// the bridge (frame.vid), as policy.VLANs.Ingress does; false when the port
// does not take it. 802.1ad frames pass only between transparent ports.
static __always_inline bool vlan_in(struct frame *f, struct port *in)
{
	if (in->vlan_mode == VLAN_ACCESS) {
		f->vid = in->pvid;
		return !f->tagged;
	}
	if (!f->tagged) {
		f->vid = in->pvid;
		return in->pvid != 0;
	}
	return f->tagged == TAGGED_8021Q && f->vid != 0 && trunk_member(f->ifindex, f->vid);
}

// vlan_out says whether a frame of VLAN frame.vid leaves on port out, as
// policy.VLANs.Egress does, and what its tag needs. A transparent port
// sends VLAN 0 as it came, untagged or with a priority tag.
static __always_inline bool vlan_out(struct frame *f, struct port *out, __u32 ifindex, __u8 *op)
{
	if (out->vlan_mode == VLAN_TRANSPARENT) {
		*op = f->vid != 0 && !f->tagged ? TAG_PUSH : TAG_KEEP;
		return true;
	}
	bool tagged = true;
	if (out->vlan_mode == VLAN_ACCESS) {
		if (f->vid != out->pvid)
			return false;
		tagged = false;
	} else {
		if (f->vid == 0)
			return false;
		if (f->vid == out->pvid)
			tagged = false;
		else if (!trunk_member(ifindex, f->vid))
			return false;
	}
	*op = tagged == (bool)f->tagged ? TAG_KEEP : tagged ? TAG_PUSH : TAG_POP;
	return true;
}

// load copies len bytes of the frame at off.
static __always_inline long load(void *ctx, bool xdp, __u32 off, void *to, __u32 len)
{
	if (xdp)
		return bpf_xdp_load_bytes(ctx, off, to, len);
	return bpf_skb_load_bytes(ctx, off, to, len);
}

// allowed reports whether the port may send from an address: IPv4 (4
// bytes) or IPv6 (16; an IPv4-mapped one is looked up as IPv4, as
// policy.Policy.AllowsAddr unmaps it).
static __always_inline bool allowed(__u32 ifindex, const __u8 *addr, bool v6)
{
	struct addr_key k = { .ifindex = ifindex };
	if (v6) {
		__u32 w[4];
		__builtin_memcpy(w, addr, sizeof(w));
		v6 = w[0] != 0 || w[1] != 0 || w[2] != bpf_htonl(0xffff);
		if (!v6)
			addr += 12;
	}
	if (v6) {
		k.prefixlen = 32 + 8 + 128;
		k.family = ADDR_IPV6;
		__builtin_memcpy(k.addr, addr, 16);
	} else {
		k.prefixlen = 32 + 8 + 32;
		k.family = ADDR_IPV4;
		__builtin_memcpy(k.addr, addr, 4);
	}
	return bpf_map_lookup_elem(&xs_allowed, &k) != NULL;
}

static __always_inline bool same_mac(const __u8 *a, const __u8 *b)
{
	__u16 x[3], y[3];
	__builtin_memcpy(x, a, sizeof(x));
	__builtin_memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2])) == 0;
}

static __always_inline bool is_zero4(const __u8 *a)
{
	__u32 w;
	__builtin_memcpy(&w, a, sizeof(w));
	return w == 0;
}

static __always_inline bool is_zero6(const __u8 *a)
{
	__u64 w[2];
	__builtin_memcpy(w, a, sizeof(w));
	return (w[0] | w[1]) == 0;
}

// spoofed_ipv6 checks an IPv6 packet at off, in a frame of len bytes: its
// source, and the target of a neighbour advertisement, which is what a
// neighbour cache believes.
static __always_inline bool spoofed_ipv6(void *ctx, bool xdp, __u32 ifindex, __u32 off, __u32 len)
{
	__u8 ip6[IP6_HLEN] __attribute__((aligned(8)));
	if (load(ctx, xdp, off, ip6, sizeof(ip6)) < 0)
		return true;
	if (!is_zero6(&ip6[IP6_SADDR]) && !allowed(ifindex, &ip6[IP6_SADDR], true))
		return true;
	__u8 nh = ip6[IP6_NEXTHDR];
	off += IP6_HLEN;
	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		__u8 h[NA_TARGET + 16] __attribute__((aligned(8)));
		if (nh == IPPROTO_ICMPV6) {
			if (load(ctx, xdp, off, h, 1) < 0)
				return true;
			if (h[0] != ICMPV6_NA)
				return false;
			if (load(ctx, xdp, off, h, sizeof(h)) < 0)
				return true;
			return !allowed(ifindex, &h[NA_TARGET], true);
		}
		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS && nh != IPV6_FRAGMENT)
			return false;
		if (load(ctx, xdp, off, h, 8) < 0)
			return true;
		if (nh == IPV6_FRAGMENT) {
			// Only the first fragment holds the upper header.
			__u16 frag;
			__builtin_memcpy(&frag, &h[2], sizeof(frag));
			if (frag & bpf_htons(IP6_FRAG_OFFSET))
				return false;
			off += 8;
		} else {
			off += 8 * (h[1] + 1);
		}
		nh = h[0];
		if (off > len)
			return true;
	}
	return true;
}

// spoofed applies a PORT_ANTISPOOF port's check, as policy.Policy.Spoofed
// does for the userspace switch: the source MAC is the port's; IPv4 and ARP
// (Ethernet/IPv4 only) come from an allowed address or 0.0.0.0; IPv6 from
// an allowed address, the link-local address of the MAC (in xs_allowed too)
// or ::; neighbour advertisements announce one of those. Other ethertypes,
// and headers cut short, are refused. len is the frame's length; up to two
// tags in band are skipped.
static __always_inline bool spoofed(void *ctx, bool xdp, struct frame *f, struct port *in, __u32 len)
{
	if (!same_mac(&f->addr[ETH_ALEN], in->mac))
		return true;
	__u32 off = ETH_HLEN + f->tag_len;
	__be16 ethertype = f->ethertype;
	for (int tags = f->tag_len ? 1 : 0; tags < 2; tags++) {
		if (ethertype != bpf_htons(ETH_P_8021Q) && ethertype != bpf_htons(ETH_P_8021AD))
			break;
		if (load(ctx, xdp, off + 2, &ethertype, sizeof(ethertype)) < 0)
			return true;
		off += VLAN_HLEN;
	}
	if (ethertype == bpf_htons(ETH_P_IP)) {
		__u8 ip[IP4_HLEN] __attribute__((aligned(8)));
		if (load(ctx, xdp, off, ip, sizeof(ip)) < 0)
			return true;
		return !is_zero4(&ip[IP4_SADDR]) && !allowed(f->ifindex, &ip[IP4_SADDR], false);
	}
	if (ethertype == bpf_htons(ETH_P_ARP)) {
		__u8 arp[ARP_LEN] __attribute__((aligned(8)));
		if (load(ctx, xdp, off, arp, sizeof(arp)) < 0)
			return true;
		// hardware type, protocol type, their address lengths
		if (*(__u16 *)&arp[0] != bpf_htons(1) || *(__u16 *)&arp[2] != bpf_htons(ETH_P_IP) || arp[4] != ETH_ALEN ||
		    arp[5] != 4)
			return true;
		// The sender hardware address, which neighbours will cache, is
		// the port's too.
		if (!same_mac(&arp[ARP_SHA], in->mac))
			return true;
		return !is_zero4(&arp[ARP_SPA]) && !allowed(f->ifindex, &arp[ARP_SPA], false);
	}
	if (ethertype == bpf_htons(ETH_P_IPV6))
		return spoofed_ipv6(ctx, xdp, f->ifindex, off, len);
	return true;
}

// admit applies the ingress port's policy to a frame: its VLAN (frame.vid
// becomes the VLAN inside the bridge), then anti-spoofing. It returns
// DROP_MAX for a frame to decide on, else why to drop it. len is the
// frame's length.
static __always_inline enum drop_reason admit(void *ctx, bool xdp, struct frame *f, struct port *in, __u32 len)
{
	if (in->flags & PORT_MIRROR_DEST)
		return DROP_MIRROR;
	if (in->vlan_mode != VLAN_TRANSPARENT && !vlan_in(f, in))
		return DROP_VLAN;
	if ((in->flags & PORT_ANTISPOOF) && spoofed(ctx, xdp, f, in, len))
		return DROP_SPOOFED;
	return DROP_MAX;
}

#endif

// Checksum verification for XDP, which must not redirect a frame whose
// TCP or UDP checksum the sender left to be finished.

#ifndef XSWITCH_CSUM_H
#define XSWITCH_CSUM_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// The fragment offset bits of iphdr.frag_off.
#define IP_FRAG_OFFSET 0x1fff
// The longest segment l4_sum_ok sums: a jumbo frame's.
#define L4_MAX_LEN 9216
// bpf_csum_diff sums at most 512 bytes a call; l4_sum_ok takes this many.
#define CSUM_CHUNK 256

// csum_add_block adds n bytes at *p to *sum when at least n are *left, and
// moves past them; n is a constant multiple of 4, at most 512. It returns
// false when the bytes lie beyond end.
static __always_inline bool csum_add_block(void **p, void *end, __u32 *left, __u32 n, __u32 *sum)
{
	if (*left < n)
		return true;
	if (*p + n > end)
		return false;
	*sum = bpf_csum_diff(NULL, 0, *p, n, *sum);
	*p += n;
	*left -= n;
	return true;
}

// l4_sum_ok reports whether the len bytes at l4 (a TCP or UDP segment),
// with the pseudo-header sum seed, carry a correct checksum.
static __always_inline bool l4_sum_ok(void *l4, void *end, __u32 len, __u32 sum)
{
	void *p = l4;
	__u32 left = len;
	if (l4 + len > end || len > L4_MAX_LEN)
		return false;
	for (int i = 0; i < L4_MAX_LEN / CSUM_CHUNK; i++) {
		if (left < CSUM_CHUNK)
			break;
		if (p + CSUM_CHUNK > end)
			return false;
		sum = bpf_csum_diff(NULL, 0, p, CSUM_CHUNK, sum);
		p += CSUM_CHUNK;
		left -= CSUM_CHUNK;
	}
	// What is left is less than a chunk: add it in halves down to 4 bytes.
	if (!csum_add_block(&p, end, &left, 128, &sum) || !csum_add_block(&p, end, &left, 64, &sum) ||
	    !csum_add_block(&p, end, &left, 32, &sum) || !csum_add_block(&p, end, &left, 16, &sum) ||
	    !csum_add_block(&p, end, &left, 8, &sum) || !csum_add_block(&p, end, &left, 4, &sum))
		return false;
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
		if (ip->frag_off & bpf_htons(IP_FRAG_OFFSET))
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

// xdp_sum_ok is no_offload_pending for the frame of an XDP program whose
// L3 header starts l3off bytes in (after the Ethernet header and a tag). It
// is a global function, which the verifier checks once: inlined, its loops
// would be checked again for every path of the decision that leads to it.
__noinline int xdp_sum_ok(struct xdp_md *ctx, __u32 l3off, __be16 ethertype)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (l3off > ETH_HLEN + 4)
		return 0;
	return no_offload_pending(data + l3off, end, ethertype);
}

#endif

// The maps of the fast path and the layout of their entries: what the
// programs share with the Go loader. bpf2go turns the structs and enums
// named in gen.go into Go declarations, so the loader never copies them.

#ifndef XSWITCH_MAPS_H
#define XSWITCH_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Port flags (struct port.flags).
enum port_flag {
	PORT_XDP_TX = 1,  // the device accepts frames redirected by XDP
	PORT_PEER = 2,    // a veth whose peer is in another namespace: TC hands
			  // frames straight to the peer's ingress
	PORT_XSK = 4,     // an AF_XDP port: XDP hands what it does not redirect
			  // to the port's sockets
	PORT_NO_FAST = 8, // the port's fast path is off (an AF_XDP port's
			  // program still feeds its sockets): no decisions on
			  // its ingress, no redirects to it
	PORT_ISOLATED = 16,  // unicast to another isolated port is dropped
	PORT_ANTISPOOF = 32, // frames must come from port.mac and from the
			     // port's addresses in xs_allowed
	PORT_CAPTURE = 64,   // a capture runs: the frames the programs forward
			     // from or to the port, or drop, are copied to
			     // xs_capture
	PORT_MIRROR_IN = 128,   // the frames the port receives are mirrored to
				// port.mirror_in (0: several ports, which
				// userspace serves: such frames are punted)
	PORT_MIRROR_OUT = 256,  // the same for the frames sent out of the
				// port, to port.mirror_out
	PORT_MIRROR_DEST = 512, // a mirror's destination: what it sends is
				// dropped, and its MACs never learned
	PORT_BLOCKED = 1024,    // blocked against a loop: what it sends is
				// dropped and never learned, and unicast to
				// it is punted as to an unknown destination
};

// How a port carries VLANs (struct port.vlan_mode), numbered as
// policy.VLANMode.
enum vlan_mode {
	VLAN_TRANSPARENT, // a frame keeps its tag; untagged is VLAN 0
	VLAN_ACCESS,      // untagged on the wire, VLAN pvid inside
	VLAN_TRUNK,       // the VLANs of xs_vlans tagged, pvid (if not 0) untagged
};

// Why a frame was dropped: the index of its counter in struct
// port_stats.drops, named as the dataplane's drop reasons.
enum drop_reason {
	DROP_SPOOFED,  // anti-spoofing refused its source
	DROP_VLAN,     // not in a VLAN of the ingress or the egress port
	DROP_ISOLATED, // from an isolated port to another isolated port
	DROP_MIRROR,   // sent by a mirror's destination
	DROP_BLOCKED,  // received on a port blocked against a loop
	DROP_STORM,    // flooded traffic over the ingress port's storm limit
	DROP_MAX,
};

// Address families of struct addr_key.
enum addr_family {
	ADDR_IPV4 = 4,
	ADDR_IPV6 = 6,
};

// FDB entry flags (struct fdb_entry.flags).
enum fdb_flag {
	FDB_STATIC = 1, // never ages: its last-seen time is not refreshed
};

// The punt header: this ethertype, then the punt reason (16 bits), then the
// frame's own ethertype. The mark tells the TC program, which sees the
// punted frame again, that it has decided already.
enum punt_header {
	PUNT_ETHERTYPE = 0x88b6, // IEEE 802 local experimental ethertype 2
	PUNT_HDR_LEN = 4,
	PUNT_MARK = 0x78737770, // "xswp"
};

// A frame run through the TC program with this mark (BPF_PROG_TEST_RUN) is
// traced: the program decides as for any frame but changes nothing (it
// learns nothing, counts nothing, copies nothing) and leaves its decision
// in the skb's cb: TRACE_CB_* say where.
enum trace {
	TRACE_MARK = 0x78737774, // "xswt"
	TRACE_CB_VERDICT = 0,    // enum trace_verdict
	TRACE_CB_REASON = 1,     // enum punt_reason or enum drop_reason
	TRACE_CB_EGRESS = 2,     // TRACE_REDIRECT: the egress port's ifindex
};

enum trace_verdict {
	TRACE_PASS = 1, // not a port: the kernel's
	TRACE_PUNT,
	TRACE_REDIRECT,
	TRACE_DROP,
	TRACE_FLOOD, // flooded by TC to the ports of the bridge's flood list
};

// Why a frame was punted to userspace: the index of its counter in
// struct port_stats.punts, and the reason in the punt header.
enum punt_reason {
	PUNT_UNKNOWN_SOURCE,  // source MAC not learned yet, and no room to learn it
	PUNT_MOVED_SOURCE,    // source MAC static on another port, or no room to move it
	PUNT_FLOOD,           // broadcast or multicast destination
	PUNT_UNKNOWN_DEST,    // destination MAC not learned
	PUNT_LOCAL_DEST,      // destination learned on the ingress port
	PUNT_EGRESS,          // destination port has no fast path
	PUNT_MTU,             // larger than the egress port's MTU
	PUNT_UNPARSED,        // runt, multicast source, or a tag other than one 802.1Q
	PUNT_XDP_LIMIT,       // AF_XDP port: a frame XDP cannot redirect (checksum
			      // pending, multi-buffer, egress takes no XDP frames)
	PUNT_MIRROR,          // from or to a mirrored port, which XDP does not
			      // mirror, or mirrored to several ports
	PUNT_MAX,
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

// A frame copied to xs_capture: the event, then len bytes of the frame.
enum capture_dir {
	CAPTURE_IN,  // received on the port
	CAPTURE_OUT, // redirected to the port
};

enum capture_path {
	CAPTURE_TC = 1,
	CAPTURE_XDP = 2,
};

// At most this many bytes of a frame are copied: a record of the perf ring
// is at most 64 KiB.
#define CAPTURE_SNAP 65000

struct capture_event {
	__u32 ifindex;     // the port
	__u32 len;         // bytes of the frame that follow
	__u8 dir;          // CAPTURE_*
	__u8 path;         // CAPTURE_TC, CAPTURE_XDP
	__be16 vlan_proto; // not 0: the frame's tag, out of band, goes after
	__u16 vlan_tci;    // the MAC addresses on the wire
	__u16 pad;
};

// A MAC the programs learned or moved (xs_learned): the daemon's table
// learns it too, and undoes the map entry when it refuses it.
struct learn_event {
	struct fdb_key key;
	__u32 ifindex; // the port it is on now
};

struct port {
	__u32 bridge;   // bridge id
	__u32 flags;    // PORT_*
	__u32 max_len;  // MTU plus the Ethernet header
	__u32 xsk_base; // PORT_XSK: xs_xsks key of the socket of receive queue 0
	__u32 xsk_queues; // PORT_XSK: the port's keys, from xsk_base on
	__u16 pvid;     // VLAN_ACCESS: its VLAN; VLAN_TRUNK: the native VLAN, 0 for none
	__u8 vlan_mode; // VLAN_*
	__u8 pad;
	__u8 mac[6];    // PORT_ANTISPOOF: the only source MAC allowed
	__u16 pad2;
	__u32 mirror_in;  // PORT_MIRROR_IN: the ifindex of the mirror's destination
	__u32 mirror_out; // PORT_MIRROR_OUT: the same
	__u32 max_macs;   // the most dynamic MACs the programs learn on the
			  // port (xs_macs counts them); 0: no limit
	__u32 pad3;
};

// A trunk port's tagged VLAN (xs_vlans).
struct vlan_key {
	__u32 ifindex;
	__u16 vid;
	__u16 pad;
};

// An address or prefix a PORT_ANTISPOOF port may send from (xs_allowed, an
// LPM trie): prefixlen counts the bits of ifindex and family too, so a
// port's prefixes never match another's. IPv4 addresses fill addr[0:4].
struct addr_key {
	__u32 prefixlen;
	__u32 ifindex;
	__u8 family; // ADDR_*
	__u8 addr[16];
	__u8 pad[3];
};

// A port's counters. Bytes count a frame as on the wire: its VLAN tag
// included, in band or not; no FCS.
struct port_stats {
	__u64 packets;         // received and forwarded by the fast path
	__u64 bytes;           // received and forwarded by the fast path
	__u64 xdp_packets;     // of packets, those XDP redirected
	__u64 redirect_errors; // XDP redirects the devmap refused (passed on)
	__u64 punt_errors;     // frames TC could not punt (too long to grow): dropped
	__u64 punts[PUNT_MAX];
	__u64 drops[DROP_MAX]; // by the ingress port's or the egress port's policy
	__u64 drop_bytes;      // of the frames in drops and punt_errors
	__u64 tx_packets;      // redirected to the port by the fast path
	__u64 tx_bytes;        // as they leave, tag pushed or popped
	__u64 fdb_refused;     // frames whose source was not learned: the port
			       // holds port.max_macs MACs
	__u64 flooded;         // received and flooded by TC (struct flood)
	__u64 flooded_bytes;   // of those frames, on the wire
};

// The kinds of flooded frames storm control limits (struct storm.kinds).
enum storm_kind {
	STORM_BROADCAST,       // to ff:ff:ff:ff:ff:ff
	STORM_MULTICAST,       // to another group address
	STORM_UNKNOWN_UNICAST, // to a unicast MAC not learned (or on a blocked port)
	STORM_KINDS,
};

// One token bucket: a frame takes STORM_TOKEN of tokens, and rate frames a
// second flow back in, up to burst.
#define STORM_TOKEN 1000000000ULL

struct storm_bucket {
	__u64 rate;   // frames per second; 0: no limit
	__u64 burst;  // the most tokens it holds (frames * STORM_TOKEN)
	__u64 tokens;
	__u64 last;   // bpf_ktime_get_ns of the last refill
};

// A port's storm control (xs_storm): the flooded frames it may send.
struct storm {
	struct bpf_spin_lock lock; // guards the buckets' tokens and last
	__u32 pad;
	struct storm_bucket kinds[STORM_KINDS];
};

// A port's count of dynamic MACs in xs_fdb, in two halves, each with one
// writer: the programs add what they learn and move (xs_macs), the daemon
// what it puts and deletes (xs_macs_user). Their sum is the count.
struct macs {
	__s64 n;
};

// The most ports a bridge's flood list holds.
#define FLOOD_PORTS 1024

struct flood_port {
	__u32 ifindex;
	__u32 flags; // the port's PORT_ISOLATED and PORT_BLOCKED
};

// A bridge's flood list (xs_flood): while kernel is set, TC floods the
// broadcast and multicast frames of the bridge's ports itself, cloning each
// to every other port of the list, instead of punting them. The loader sets
// it only while every port of the bridge is in the list and nothing about
// them needs userspace to see a flood (bpf/floodmap.go says what).
struct flood {
	__u32 kernel;  // 1: TC floods
	__u32 n;       // ports[0:n] are the bridge's ports
	__u32 min_len; // the smallest max_len of the ports: a longer frame
		       // (not GSO) is punted, for userspace to count the
		       // ports it does not fit
	__u32 pad;
	struct flood_port ports[FLOOD_PORTS];
};

struct meta {
	__u64 version; // layout and code version of the pinned maps
};

// BTF, where bpf2go reads types from, describes only what the object
// defines; the enums above and the ring buffer's events describe no map.
// This variable names them, in a section of its own that no loader creates
// a map for.
struct go_types {
	struct learn_event learn_event;
	struct capture_event capture_event;
	enum capture_dir capture_dir;
	enum capture_path capture_path;
	enum port_flag port_flag;
	enum fdb_flag fdb_flag;
	enum punt_header punt_header;
	enum trace trace;
	enum trace_verdict trace_verdict;
	enum punt_reason punt_reason;
	enum vlan_mode vlan_mode;
	enum drop_reason drop_reason;
	enum addr_family addr_family;
	enum storm_kind storm_kind;
	struct flood flood;
} go_types SEC(".go_types");

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

// Storm control of the ports that have it.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32); // ingress ifindex
	__type(value, struct storm);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_storm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32); // ifindex
	__type(value, struct macs);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_macs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32); // ifindex
	__type(value, struct macs);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_macs_user SEC(".maps");

// The tagged VLANs of trunk ports.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, struct vlan_key);
	__type(value, __u32); // 1
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_vlans SEC(".maps");

// The source addresses of PORT_ANTISPOOF ports: their allowed prefixes and
// the IPv6 link-local address of their MAC.
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct addr_key);
	__type(value, __u32); // 1
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_allowed SEC(".maps");

// The AF_XDP sockets of AF_XDP ports: key xsk_base + receive queue.
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_xsks SEC(".maps");

// The MACs the programs learned, for the daemon. Pinned: what is learned
// while no daemon runs waits for the next one. A program that finds it full
// does not learn, and punts the frame as before.
#define LEARN_RING_BYTES (256 * 1024) // about 10k events

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LEARN_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_learned SEC(".maps");

// Copies of the frames of the ports with PORT_CAPTURE, for the daemon's
// captures. Not pinned: a daemon that stops takes its reader with it, and
// programs left behind find no reader to copy to.
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} xs_capture SEC(".maps");

// The timer that wakes the reader of xs_learned a while after a MAC is
// learned, rather than at once (learn() in xswitch.c). Pinned, as the
// timers of a map no process holds do not start.
struct learn_wake {
	struct bpf_timer timer;
	__u32 armed; // the timer is started and has not woken the reader yet
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct learn_wake);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_learn_wake SEC(".maps");

// The flood lists of the bridges.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u32); // bridge id
	__type(value, struct flood);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_flood SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xs_meta SEC(".maps");

#endif

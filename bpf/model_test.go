package bpf

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/xswitch/xswitch/policy"
)

// A Go model of what the fast path decides for one frame, for the
// differential fuzz target (difffuzz_test.go). It is written from the
// switch's semantics rather than from xswitch.c: the VLAN rules, isolation
// and anti-spoofing are the policy package's (the userspace switch's own
// checks), the MAC table rules those of the dataplane (a source learned or
// moved to its port unless static elsewhere, a destination learned on its
// own ingress never sent back), and on top of them the fast path's
// contract from maps.h: what it punts, and why.

// mPort is a port's entry in the maps, as the daemon writes it.
type mPort struct {
	bridge uint32
	flags  uint32 // PORT_* other than ISOLATED and ANTISPOOF, which policy says
	devmap bool   // a PORT_XDP_TX port's entry in xs_tx_ports is there
	maxLen uint32
	policy policy.Policy
	// maxMACs is the most dynamic MACs the programs learn on the port (0:
	// no limit); macs how many it holds (the daemon's count).
	maxMACs uint32
	macs    int64
	// storm is the port's storm control for broadcast, multicast and
	// unknown unicast: stormNone, or a bucket always full or always empty.
	storm [3]stormState
	// mirrorIn and mirrorOut are the ifindexes of the mirrors'
	// destinations with PORT_MIRROR_IN and PORT_MIRROR_OUT; 0: several,
	// which userspace serves.
	mirrorIn, mirrorOut int
}

// stormState is a storm-control bucket at the moment a frame meets it.
type stormState uint8

const (
	stormNone  stormState = iota // no limit
	stormUnder                   // tokens left: the frame passes
	stormOver                    // none: the frame is dropped
)

// program is the program a decision is of.
type program uint8

const (
	progTrace program = iota // TC in its tracing mode
	progXDP
	progTC
)

// mKey and mEntry are a MAC table entry.
type mKey struct {
	bridge uint32
	vid    uint16
	mac    [6]byte
}

type mEntry struct {
	ifindex int
	static  bool
}

// model is the table state the programs run with.
type model struct {
	ports map[int]*mPort // by ifindex
	fdb   map[mKey]mEntry
	// kflood says that the loader is given bridge1's ports for kernel
	// flooding (SetFloodPorts).
	kflood bool
}

// kernelFloods reports whether TC floods itself a frame from port in that
// decide punts as a flood: bridge1 is given for kernel flooding, none of
// its ports needs userspace (floodmap.go), and the frame fits every port.
func (m *model) kernelFloods(in int, frame []byte) bool {
	if !m.kflood || m.ports[in] == nil || m.ports[in].bridge != bridge1 {
		return false
	}
	minLen := ^uint32(0)
	for _, q := range m.ports {
		if q.bridge != bridge1 {
			continue
		}
		if q.flags&floodUserFlags != 0 || q.policy.VLAN.Mode != policy.Transparent {
			return false
		}
		minLen = min(minLen, q.maxLen)
	}
	tagLen := uint32(0)
	if binary.BigEndian.Uint16(frame[12:]) == etherVLAN {
		tagLen = 4
	}
	return uint32(len(frame)) <= minLen+tagLen
}

// floodedIfKernel turns the model's flood punt into a kernel flood where
// the TC program floods itself.
func (m *model) floodedIfKernel(want outcome, in int, frame []byte) outcome {
	if want.verdict == "punt" && want.reason == "flood" && m.kernelFloods(in, frame) {
		want.verdict, want.reason = "flood", ""
	}
	return want
}

// tagOp is what a redirect does to the frame's 802.1Q tag.
type tagOp uint8

const (
	tagKeep tagOp = iota
	tagPush
	tagPop
)

func (op tagOp) String() string { return [...]string{"keep", "push", "pop"}[op] }

// outcome is a decision: "pass" (not a port, or a port whose fast path is
// off), "punt", "redirect" or "drop", with its punt or drop reason, as
// PuntReasons and DropReasons name them.
type outcome struct {
	verdict string
	reason  string
	egress  int   // redirect: the egress port's ifindex
	op      tagOp // redirect: what the tag needs
	vid     uint16
	// learn says that a program that learns points the source at the
	// ingress port.
	learn bool
	// refused says that the source is not learned, the port being at its
	// limit of MACs: the programs count the frame if they forward or drop
	// it themselves.
	refused bool
	// alsoOK are other outcomes, "verdict" or "verdict:reason", that the
	// model cannot rule out; each is added with the reason why.
	alsoOK []string
}

func (o outcome) String() string {
	s := o.verdict
	if o.reason != "" {
		s += ":" + o.reason
	}
	if o.verdict == "redirect" {
		s += " to " + strconv.Itoa(o.egress) + " tag " + o.op.String()
	}
	return s
}

// accepts reports whether the programs' verdict and reason are the
// outcome's or one of its alternatives.
func (o outcome) accepts(verdict, reason string) bool {
	if verdict == o.verdict && reason == o.reason {
		return true
	}
	return slices.Contains(o.alsoOK, verdict) || slices.Contains(o.alsoOK, verdict+":"+reason)
}

const (
	etherVLAN = 0x8100
	etherQinQ = 0x88a8
)

var broadcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func punt(reason string) outcome { return outcome{verdict: "punt", reason: reason} }
func drop(reason string) outcome { return outcome{verdict: "drop", reason: reason} }

// decide is the decision of program prog for frame (at least 14 bytes, a
// tag in band) received on port in. A program that learns changes the
// table as the outcome's learn says; decide changes nothing.
//
// The TC program's tracing mode decides as if the source were learned (a
// frame to its own source MAC, not yet on the ingress port, is punted as
// local destination, as a real run does). It does not apply storm control,
// whose buckets it would have to take from, or punt what is mirrored to
// several ports.
func (m *model) decide(in int, frame []byte, prog program) outcome {
	xdp := prog == progXDP
	p := m.ports[in]
	if p == nil {
		return outcome{verdict: "pass"}
	}
	if xdp && p.flags&portNoFast != 0 {
		return outcome{verdict: "pass"} // everything to the port's sockets
	}
	if xdp && p.flags&portMirrorIn != 0 {
		return punt("mirror") // XDP cannot clone
	}
	if p.flags&portBlocked != 0 {
		return drop("blocked")
	}
	et := binary.BigEndian.Uint16(frame[12:])
	tagged := et == etherVLAN || et == etherQinQ
	// The programs read a tag's 4 bytes whole (XDP always): shorter
	// frames are userspace's, unless no such frame passes anti-spoofing
	// (none does: Spoofed wants more bytes after any ethertype).
	if len(frame) < 18 && (xdp || tagged) {
		if p.policy.AntiSpoof {
			return drop("spoofed")
		}
		return punt("unparsed")
	}
	var vid uint16
	parsed := true
	if tagged {
		vid = binary.BigEndian.Uint16(frame[14:]) & 0xfff
		inner := binary.BigEndian.Uint16(frame[16:])
		parsed = et == etherVLAN && inner != etherVLAN && inner != etherQinQ
	}

	// The ingress port's policy, before anything else.
	if p.flags&portMirrorDest != 0 {
		return drop("mirror_destination")
	}
	if p.policy.VLAN.Mode != policy.Transparent {
		if et == etherQinQ {
			return drop("vlan") // 802.1ad only between transparent ports
		}
		inside, ok := p.policy.VLAN.Ingress(tagged, vid)
		if !ok {
			return drop("vlan")
		}
		vid = inside
	}
	if p.policy.Spoofed(frame) {
		return drop("spoofed")
	}
	src, dst := frame[6:12], frame[0:6]
	if !parsed || src[0]&1 != 0 {
		return punt("unparsed")
	}

	// The source: learned, moved, or static elsewhere.
	key := mKey{bridge: p.bridge, vid: vid, mac: [6]byte(src)}
	o := outcome{}
	if e, ok := m.fdb[key]; !ok || e.ifindex != in {
		if ok && e.static {
			return punt("moved_source")
		}
		// A port at its limit of MACs goes on without learning.
		o.learn = p.maxMACs == 0 || p.macs < int64(p.maxMACs)
		o.refused = !o.learn
	}
	lookup := func(k mKey) (mEntry, bool) {
		if o.learn && k == key {
			return mEntry{ifindex: in}, true // learned a moment ago
		}
		e, ok := m.fdb[k]
		return e, ok
	}
	withLearn := func(x outcome) outcome {
		x.learn, x.refused = o.learn, o.refused
		return x
	}
	// What TC punts to be flooded passes storm control first.
	flood := func(reason string, kind int) outcome {
		if prog == progTC && p.storm[kind] == stormOver {
			return withLearn(drop("storm"))
		}
		return withLearn(punt(reason))
	}
	if dst[0]&1 != 0 {
		if bytes.Equal(dst, broadcast) {
			return flood("flood", 0)
		}
		return flood("flood", 1)
	}
	d, ok := lookup(mKey{bridge: p.bridge, vid: vid, mac: [6]byte(dst)})
	if !ok {
		return flood("unknown_destination", 2)
	}
	if d.ifindex == in {
		return withLearn(punt("local_destination"))
	}
	out := m.ports[d.ifindex]
	if out == nil || out.bridge != p.bridge || out.flags&portNoFast != 0 {
		return withLearn(punt("egress_not_fastpath"))
	}
	if out.flags&portBlocked != 0 {
		return flood("unknown_destination", 2) // flooded past the port
	}

	// The egress port's policy, in the userspace switch's order
	// (dataplane.egressOf): isolation, then VLANs.
	op, member := egressTag(&p.policy, &out.policy, vid, et == etherVLAN)
	if p.policy.Isolated && out.policy.Isolated {
		return withLearn(drop("isolated"))
	}
	if !member {
		return withLearn(drop("vlan"))
	}
	tagLen := 0
	if tagged {
		tagLen = 4
	}
	if len(frame)-tagLen > int(out.maxLen) {
		return withLearn(punt("mtu"))
	}
	r := withLearn(outcome{verdict: "redirect", egress: d.ifindex, op: op, vid: vid})
	several := p.flags&portMirrorIn != 0 && p.mirrorIn == 0 || out.flags&portMirrorOut != 0 && out.mirrorOut == 0
	if prog == progTC && several {
		return withLearn(punt("mirror"))
	}
	if xdp {
		if out.flags&portXDPTx == 0 || !out.devmap {
			return withLearn(punt("xdp_limit")) // on to TC
		}
		if out.flags&portMirrorOut != 0 {
			return withLearn(punt("mirror"))
		}
		inner := et
		if tagged {
			inner = binary.BigEndian.Uint16(frame[16:])
		}
		if inner == 0x0800 || inner == 0x86dd {
			// A TCP or UDP checksum that does not verify may be one
			// the sender left to offload: TC forwards the frame.
			r.alsoOK = append(r.alsoOK, "punt")
		}
	}
	return r
}

// egressTag is what a frame of VLAN vid, tagged (802.1Q) on the wire or
// not, from a port with policy from needs to leave on a port with policy
// to; member false when to is not in the VLAN. Between transparent ports a
// frame leaves as it came.
func egressTag(from, to *policy.Policy, vid uint16, tagged bool) (op tagOp, member bool) {
	if from.VLAN.Mode == policy.Transparent && to.VLAN.Mode == policy.Transparent {
		return tagKeep, true
	}
	member, out := to.VLAN.Egress(vid)
	switch {
	case !member:
		return tagKeep, false
	case out == tagged:
		return tagKeep, true
	case out:
		return tagPush, true
	}
	return tagPop, true
}

// retagged is frame as a redirect with op leaves it, the tag in band.
func retagged(frame []byte, op tagOp, vid uint16) []byte {
	switch op {
	case tagPush:
		g := slices.Concat(frame[:12], []byte{0x81, 0, byte(vid >> 8), byte(vid)}, frame[12:])
		return g
	case tagPop:
		return slices.Concat(frame[:12], frame[16:])
	}
	return frame
}

package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/nstest"
	"github.com/xswitch/xswitch/internal/topo/netns"
	"github.com/xswitch/xswitch/policy"
)

// FuzzVerdict runs the programs on fuzzed frames with fuzzed table state
// (ports: bridge, flags, VLANs, isolation, anti-spoofing and MTU; MAC
// entries, static or not) and checks each verdict against the Go model of
// the same decision (model_test.go): the kernel never redirects what the
// model punts or drops, a redirect goes to the model's port with the
// model's tag operation, a drop has the model's reason, a punt (TC) the
// model's reason, and a program learns what the model says it learns.
//
// Each frame runs three times, on the same table:
//   - TC in its tracing mode (Trace), first, as it changes nothing: the
//     decision of xswitch_tc through the same admit() and decide(), with
//     the egress port read from the skb's cb, which no real run shows;
//   - XDP for real: a redirect shows the frame as it leaves, its tag pushed
//     or popped in band; it learns;
//   - TC for real: a punt carries its reason in the punt header, a pop shows
//     in the frame, and it learns what XDP has not.
//
// The input is two byte strings: the table state and the frame, in which
// the state may put MACs and a tag from small pools so that frames meet the
// table's entries.
func FuzzVerdict(f *testing.F) {
	d := newDiffEnv(f)
	f.Fuzz(func(t *testing.T, state, frame []byte) {
		d.check(t, state, frame)
	})
}

// The ports of the fuzzed state, and the pools its MACs and VLANs come
// from.
const diffPorts = 4

var (
	diffMACs = [8]net.HardwareAddr{
		{0x02, 0, 0, 0, 0, 0xa0}, // ports' own MACs (anti-spoofing)
		{0x02, 0, 0, 0, 0, 0xa1},
		{0x02, 0, 0, 0, 0, 0xa2},
		{0x02, 0, 0, 0, 0, 0xa3},
		{0x02, 0, 0, 0, 0, 0xb4},
		{0x02, 0, 0, 0, 0, 0xb5},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x01, 0x00, 0x5e, 0, 0, 1},
	}
	diffVIDs = [5]uint16{0, 1, 2, 3, 4094}
	// diffAllowed are the prefixes an anti-spoofing port may be given.
	diffAllowed = [8]netip.Prefix{
		netip.MustParsePrefix("10.0.0.1/32"),
		netip.MustParsePrefix("10.0.1.0/24"),
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("fd00::1/128"),
		netip.MustParsePrefix("fd00:1::/64"),
		netip.MustParsePrefix("::/0"),
		netip.MustParsePrefix("::ffff:10.0.2.0/120"),
		netip.MustParsePrefix("192.168.0.0/16"),
	}
)

// diffEnv is a fast path loaded (unpinned) with diffPorts veths in a
// network namespace of its own to stand for its ports.
type diffEnv struct {
	fp    *FastPath
	nsFD  int
	ifs   [diffPorts]int
	learn *LearnReader
}

func newDiffEnv(f *testing.F) *diffEnv {
	nstest.RequireRoot(f)
	ns := nstest.Netns(f, "xsw-diff")
	d := &diffEnv{}
	for i := range diffPorts {
		a, b := fmt.Sprintf("p%d", i), fmt.Sprintf("q%d", i)
		nstest.Veth(f, ns, a, ns, b)
		nstest.In(f, ns, func() error {
			l, err := netlink.LinkByName(a)
			if err == nil {
				d.ifs[i] = l.Attrs().Index
			}
			return err
		})
	}
	fd, err := netns.Open(ns)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { unix.Close(fd) })
	d.nsFD = fd
	fp, err := Load(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { fp.Close() })
	d.fp = fp
	zero := make([]xswitchPortStats, ebpf.MustPossibleCPU())
	for _, idx := range d.ifs {
		if err := fp.objs.XsStats.Update(uint32(idx), zero, ebpf.UpdateAny); err != nil {
			f.Fatal(err)
		}
	}
	if d.learn, err = fp.LearnReader(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.learn.Close() })
	return d
}

// bytesOf reads the fuzzed state a byte at a time, zeros once it is used
// up.
type bytesOf []byte

func (b *bytesOf) next() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

// decodeState builds the table state of a fuzz input, the ingress port,
// and the frame with the MACs and tag the state puts in it.
func (d *diffEnv) decodeState(state, raw []byte) (m *model, in int, frame []byte) {
	s := bytesOf(state)
	m = &model{ports: map[int]*mPort{}, fdb: map[mKey]mEntry{}}
	for i, idx := range d.ifs {
		b0, flags, vlan, trunk, mtu, allowed := s.next(), s.next(), s.next(), s.next(), s.next(), s.next()
		if b0&1 == 0 {
			continue
		}
		p := &mPort{bridge: bridge1, maxLen: 46 + uint32(mtu), devmap: b0&4 == 0}
		if b0&2 != 0 {
			p.bridge = bridge2
		}
		if mtu == 255 {
			p.maxLen = 1500 + ethHdrLen
		}
		for bit, fl := range []uint32{portXDPTx, portPeer, portNoFast, 0, 0, portMirrorDest, portBlocked} {
			if flags&(1<<bit) != 0 {
				p.flags |= fl
			}
		}
		pol := policy.Policy{Isolated: flags&8 != 0, AntiSpoof: flags&16 != 0, MAC: diffMACs[i]}
		pvid := diffVIDs[int(vlan>>2)%len(diffVIDs)]
		switch vlan & 3 % 3 {
		case 1:
			pol.VLAN = policy.AccessVLAN(max(pvid, 1))
		case 2:
			var vids []uint16
			for j, v := range diffVIDs[1:] {
				if trunk&(1<<j) != 0 {
					vids = append(vids, v)
				}
			}
			if len(vids) == 0 && pvid == 0 {
				pvid = 1
			}
			pol.VLAN = policy.TrunkVLANs(pvid, vids...)
		}
		for j, pr := range diffAllowed {
			if allowed&(1<<j) != 0 {
				pol.Allowed = append(pol.Allowed, pr)
			}
		}
		p.policy = pol
		m.ports[idx] = p
	}
	in = d.ifs[s.next()%diffPorts]
	for range s.next() % 9 {
		mac, vid, where := s.next(), s.next(), s.next()
		k := mKey{bridge: bridge1, vid: diffVIDs[int(vid)%len(diffVIDs)], mac: [6]byte(diffMACs[int(mac)%6])}
		if vid&0x80 != 0 {
			k.bridge = bridge2
		}
		e := mEntry{ifindex: 1, static: where&0x80 != 0} // lo: no port
		if n := int(where&0x7f) % (diffPorts + 1); n < diffPorts {
			e.ifindex = d.ifs[n]
		}
		m.fdb[k] = e
	}

	// The frame: at least an Ethernet header (BPF_PROG_TEST_RUN takes no
	// less), at most what XDP takes in one buffer.
	frame = append(make([]byte, 0, len(raw)+4), raw...)
	if len(frame) > 1600 {
		frame = frame[:1600]
	}
	for len(frame) < 14 {
		frame = append(frame, 0)
	}
	dst, src, tag, vid := s.next(), s.next(), s.next(), s.next()
	if i := int(dst) % 9; i < len(diffMACs) {
		copy(frame[0:], diffMACs[i])
	}
	if i := int(src) % 9; i < len(diffMACs) {
		copy(frame[6:], diffMACs[i])
	}
	v := diffVIDs[int(vid)%len(diffVIDs)]
	switch tag % 4 {
	case 1, 2:
		tpid := uint16(etherVLAN)
		if tag%4 == 2 {
			tpid = etherQinQ
		}
		frame = append(frame[:12], append([]byte{byte(tpid >> 8), byte(tpid), byte(v >> 8), byte(v)}, frame[12:]...)...)
	case 3:
		if len(frame) >= 16 {
			binary.BigEndian.PutUint16(frame[14:], v|uint16(vid&0xe0)<<8) // with a priority
		}
	}
	// Later additions to the state, after the frame's, so that older
	// inputs keep their meaning: per port its limit of MACs and storm
	// control.
	for _, idx := range d.ifs {
		macs, storm := s.next(), s.next()
		if p := m.ports[idx]; p != nil {
			p.maxMACs, p.macs = uint32(macs%4), int64(macs>>2%4)
			for k := range p.storm {
				p.storm[k] = stormState(storm >> (2 * k) & 3 % 3)
			}
		}
	}
	// Mirrors and captures, which take no part in the decision but for
	// what XDP cannot clone and TC leaves to userspace.
	for i, idx := range d.ifs {
		mirror := s.next()
		if p := m.ports[idx]; p != nil {
			if mirror&1 != 0 {
				p.flags |= portMirrorIn
				if n := int(mirror>>1&3) % diffPorts; n != i && mirror&8 != 0 {
					p.mirrorIn = d.ifs[n]
				}
			}
			if mirror&16 != 0 {
				p.flags |= portMirrorOut
				if n := int(mirror>>5&3) % diffPorts; n != i && mirror&128 != 0 {
					p.mirrorOut = d.ifs[n]
				}
			}
			if mirror&64 != 0 {
				p.flags |= portCapture
			}
		}
	}
	m.kflood = s.next()&1 != 0
	return m, in, frame
}

// apply writes the model's table state to the maps, through the loader's
// own code for port entries and their policies.
func (d *diffEnv) apply(t *testing.T, m *model) {
	for _, idx := range d.ifs {
		// The programs' counts start at 0 on every port, a port or not.
		if err := d.fp.objs.XsMacs.Update(uint32(idx), xswitchMacs{}, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
		p := m.ports[idx]
		if p == nil {
			d.fp.deletePortEntry(uint32(idx))
			d.fp.objs.XsTxPorts.Delete(uint32(idx))
			d.fp.deletePolicy(uint32(idx))
			continue
		}
		if p.flags&portXDPTx != 0 && p.devmap {
			if err := d.fp.objs.XsTxPorts.Update(uint32(idx), uint32(idx), ebpf.UpdateAny); err != nil {
				t.Fatal(err)
			}
		} else {
			d.fp.objs.XsTxPorts.Delete(uint32(idx))
		}
		v := xswitchPort{Bridge: p.bridge, Flags: p.flags, MaxLen: p.maxLen, MaxMacs: p.maxMACs,
			MirrorIn: uint32(p.mirrorIn), MirrorOut: uint32(p.mirrorOut)}
		if err := d.fp.putPortEntry(uint32(idx), v, p.policy); err != nil {
			t.Fatalf("port %d: %v (policy %+v)", idx, err, p.policy)
		}
		if err := d.fp.objs.XsMacsUser.Update(uint32(idx), xswitchMacs{N: p.macs}, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
		if p.storm == [3]stormState{} {
			d.fp.objs.XsStorm.Delete(uint32(idx))
			continue
		}
		var st xswitchStorm
		for k, b := range p.storm {
			switch b {
			case stormUnder:
				st.Kinds[k] = xswitchStormBucket{Rate: 1, Burst: 1000 * stormToken, Tokens: 1000 * stormToken}
			case stormOver:
				st.Kinds[k] = xswitchStormBucket{Rate: 1} // refills to a burst of 0
			}
		}
		if err := d.fp.objs.XsStorm.Update(uint32(idx), st, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
	var flood []int
	for _, idx := range d.ifs {
		if p := m.ports[idx]; m.kflood && p != nil && p.bridge == bridge1 {
			flood = append(flood, idx)
		}
	}
	d.fp.SetFloodPorts(bridge1, flood)
	var (
		k    xswitchFdbKey
		v    xswitchFdbEntry
		keys []xswitchFdbKey
	)
	for it := d.fp.objs.XsFdb.Iterate(); it.Next(&k, &v); {
		keys = append(keys, k)
	}
	for _, k := range keys {
		d.fp.objs.XsFdb.Delete(k)
	}
	for k, e := range m.fdb {
		v := xswitchFdbEntry{Ifindex: uint32(e.ifindex), Seen: 1}
		if e.static {
			v.Flags = fdbStatic
		}
		if err := d.fp.objs.XsFdb.Update(fdbKey(k.bridge, fdb.MakeKey(k.vid, k.mac[:])), v, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
}

func (d *diffEnv) check(t *testing.T, state, raw []byte) {
	m, in, frame := d.decodeState(state, raw)
	leave, err := netns.Enter(d.nsFD)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := leave(); err != nil {
			t.Fatal(err)
		}
	}()
	d.apply(t, m)
	describe := func() string {
		var b bytes.Buffer
		fmt.Fprintf(&b, "ingress %d, frame (%d bytes) % x\n", in, len(frame), frame[:min(len(frame), 64)])
		fmt.Fprintf(&b, "kernel flooding given bridge %d's ports: %v\n", bridge1, m.kflood)
		for _, idx := range d.ifs {
			if p := m.ports[idx]; p != nil {
				fmt.Fprintf(&b, "port %d: bridge %d flags %#x devmap %v max_len %d vlans %s isolated %v antispoof %v %v macs %d/%d storm %v mirrors %d %d\n",
					idx, p.bridge, p.flags, p.devmap, p.maxLen, p.policy.VLAN, p.policy.Isolated, p.policy.AntiSpoof, p.policy.Allowed,
					p.macs, p.maxMACs, p.storm, p.mirrorIn, p.mirrorOut)
			}
		}
		for k, e := range m.fdb {
			fmt.Fprintf(&b, "fdb bridge %d vid %d %v -> %d static %v\n", k.bridge, k.vid, net.HardwareAddr(k.mac[:]), e.ifindex, e.static)
		}
		return b.String()
	}

	// An AF_XDP port, the only kind whose fast path is off, has no TC
	// program.
	tc := (m.ports[in] == nil || m.ports[in].flags&portNoFast == 0) && !shortIP(frame)
	if tc {
		d.checkTrace(t, m, in, frame, describe)
	}
	learned := d.checkXDP(t, m, in, frame, describe)
	if tc {
		d.checkTC(t, m, in, frame, learned, describe)
	}
}

// checkTrace checks the TC program's verdict in its tracing mode.
func (d *diffEnv) checkTrace(t *testing.T, m *model, in int, frame []byte, describe func() string) {
	want := m.floodedIfKernel(m.decide(in, frame, progTrace), in, frame)
	got, err := d.fp.Trace(in, frame)
	if err != nil {
		t.Fatal(err)
	}
	ok := want.accepts(got.Verdict, got.Reason)
	if ok && got.Verdict == "redirect" && got.Egress != want.egress {
		ok = false
	}
	if !ok {
		t.Fatalf("TC (traced): %+v, model: %s\n%s", got, want, describe())
	}
}

// checkXDP runs the XDP program and checks its verdict, the frame it
// leaves, and what it learned, which it returns.
func (d *diffEnv) checkXDP(t *testing.T, m *model, in int, frame []byte, describe func() string) (learned bool) {
	want := m.decide(in, frame, progXDP)
	before, _ := d.fp.Stats(in)
	opts := &ebpf.RunOptions{
		Data: frame, DataOut: make([]byte, len(frame)+64),
		Context: xdpCtx{DataEnd: uint32(len(frame)), IngressIfindex: uint32(in)},
	}
	ret, err := d.fp.objs.XswitchXdp.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	got, reason := fmt.Sprintf("verdict %d", ret), ""
	switch ret {
	case xdpPass:
		got = "punt"
		if want.verdict == "pass" {
			got = "pass"
		}
	case xdpRedirect:
		got = "redirect"
	case xdpDrop:
		got, reason = "drop", d.dropReason(in, before)
	}
	// Why XDP passes a frame on it does not say.
	if !want.accepts(got, reason) && !(got == "punt" && want.verdict == "punt") {
		t.Fatalf("XDP: %s %s, model: %s\n%s", got, reason, want, describe())
	}
	out := opts.DataOut
	if got == "redirect" {
		if w := retagged(frame, want.op, want.vid); !bytes.Equal(out, w) {
			t.Fatalf("XDP redirected\n% x\nwant (tag %s)\n% x\n%s", out, want.op, w, describe())
		}
	} else if !bytes.Equal(out, frame) {
		t.Fatalf("XDP changed a frame it did not redirect:\n% x\nwas\n% x", out, frame)
	}
	d.checkRefused(t, in, before, want, got, "XDP", describe)
	d.checkLearned(t, m, in, frame, want.learn, "XDP", describe)
	return want.learn
}

// checkTC runs the TC program for real, after XDP (which learned as
// learned says), and checks its verdict: a redirect without the punt header
// (the frame without its tag when the model pops it; a pushed tag is out of
// band), a punt with the model's reason in the header, a drop counted for
// the model's reason.
func (d *diffEnv) checkTC(t *testing.T, m *model, in int, frame []byte, learned bool, describe func() string) {
	want := m.floodedIfKernel(m.decide(in, frame, progTC), in, frame)
	before, _ := d.fp.Stats(in)
	var ctxOut [skbCtxSize]byte
	opts := &ebpf.RunOptions{
		Data: frame, DataOut: make([]byte, len(frame)+64),
		Context: skbCtx{Ifindex: uint32(in)}, ContextOut: &ctxOut,
	}
	ret, err := d.fp.objs.XswitchTc.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	run := tcRun{verdict: ret, out: opts.DataOut, mark: binary.NativeEndian.Uint32(ctxOut[8:])}
	got, reason := fmt.Sprintf("verdict %d", ret), ""
	switch {
	case ret == tcActOK:
		got = "pass"
	case run.punted() && run.mark == puntMark:
		got = "punt"
		if r := int(binary.BigEndian.Uint16(run.out[14:])); r < len(PuntReasons) {
			reason = PuntReasons[r]
		}
	case ret == tcActRedirect:
		got = "redirect"
	case ret == tcActShot:
		got, reason = "drop", d.dropReason(in, before)
		if after, _ := d.fp.Stats(in); after.Flooded != before.Flooded {
			got, reason = "flood", ""
		}
	}
	if !want.accepts(got, reason) {
		t.Fatalf("TC: %s %s, model: %s\n%s", got, reason, want, describe())
	}
	if got == "redirect" {
		w := frame
		if want.op == tagPop {
			w = retagged(frame, tagPop, 0)
		}
		if !bytes.Equal(run.out, w) {
			t.Fatalf("TC redirected\n% x\nwant (tag %s)\n% x\n%s", run.out, want.op, w, describe())
		}
	}
	d.checkRefused(t, in, before, want, got, "TC", describe)
	d.checkLearned(t, m, in, frame, want.learn && !learned, "TC", describe)
}

// checkRefused checks that a program counted a frame whose source it did
// not learn, the port being at its limit, when it forwarded or dropped the
// frame (verdict got) itself, and no other.
func (d *diffEnv) checkRefused(t *testing.T, in int, before PortStats, want outcome, got, prog string, describe func() string) {
	after, _ := d.fp.Stats(in)
	n := after.FDBRefused - before.FDBRefused
	if w := want.refused && (got == "redirect" || got == "drop" || got == "flood"); n != map[bool]uint64{true: 1}[w] {
		t.Fatalf("%s (%s) counted %d frames refused, want %v\n%s", prog, got, n, w, describe())
	}
}

// dropReason is the drop reason the programs counted on port in since
// before.
func (d *diffEnv) dropReason(in int, before PortStats) string {
	after, _ := d.fp.Stats(in)
	for _, r := range DropReasons {
		if after.Drops[r] != before.Drops[r] {
			return r
		}
	}
	return ""
}

// shortIP reports whether frame is an IPv4 or IPv6 packet shorter than its
// IP header, which BPF_PROG_TEST_RUN refuses to make an skb of.
func shortIP(frame []byte) bool {
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		return len(frame) < 14+20
	case 0x86dd:
		return len(frame) < 14+40
	}
	return false
}

// checkLearned checks what a program learned: the source pointed at the ingress
// port, and one event saying so, when the model learns; nothing otherwise.
func (d *diffEnv) checkLearned(t *testing.T, m *model, in int, frame []byte, want bool, prog string, describe func() string) {
	var events []Learned
	d.learn.rd.SetDeadline(time.Now())
	for {
		l, err := d.learn.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, l)
	}
	if !want {
		if len(events) != 0 {
			t.Fatalf("%s learned %+v, the model nothing\n%s", prog, events, describe())
		}
		return
	}
	p := m.ports[in]
	vid, ok := frameVID(p, frame)
	if !ok {
		t.Fatalf("the model learns from a frame outside the port's VLANs")
	}
	w := Learned{Bridge: p.bridge, Key: fdb.MakeKey(vid, frame[6:12]), Ifindex: in}
	if len(events) != 1 || events[0] != w {
		t.Fatalf("%s learned %+v, the model %+v\n%s", prog, events, w, describe())
	}
	var e xswitchFdbEntry
	if err := d.fp.objs.XsFdb.Lookup(fdbKey(w.Bridge, w.Key), &e); err != nil || e.Ifindex != uint32(in) || e.Flags != 0 {
		t.Fatalf("after learning, the map has %+v (%v), want ifindex %d\n%s", e, err, in, describe())
	}
	// The programs' count of the port's MACs, and of the port the MAC
	// moved from.
	old := m.fdb[mKey{bridge: w.Bridge, vid: vid, mac: [6]byte(frame[6:12])}].ifindex
	for _, idx := range d.ifs {
		want := int64(0)
		if idx == in {
			want = 1
		} else if idx == old {
			want = -1
		}
		var n xswitchMacs
		if err := d.fp.objs.XsMacs.Lookup(uint32(idx), &n); err != nil || n.N != want {
			t.Fatalf("%s learned: port %d's count of MACs is %d (%v), want %d\n%s", prog, idx, n.N, err, want, describe())
		}
	}
}

// frameVID is the VLAN of a frame inside the bridge, on port p.
func frameVID(p *mPort, frame []byte) (uint16, bool) {
	et := binary.BigEndian.Uint16(frame[12:])
	tagged := et == etherVLAN || et == etherQinQ
	var vid uint16
	if tagged {
		vid = binary.BigEndian.Uint16(frame[14:]) & 0xfff
	}
	if p.policy.VLAN.Mode == policy.Transparent {
		return vid, true
	}
	return p.policy.VLAN.Ingress(tagged, vid)
}

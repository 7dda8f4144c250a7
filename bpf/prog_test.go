package bpf

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/nstest"
	"github.com/xswitch/xswitch/internal/topo"
)

// Verdicts as the programs return them.
const (
	tcActOK       = 0
	tcActRedirect = 7
	xdpPass       = 2
	xdpRedirect   = 4
)

// skbCtx is the head of struct __sk_buff, as BPF_PROG_TEST_RUN takes it.
type skbCtx struct {
	Len, PktType, Mark, QueueMapping, Protocol uint32
	VlanPresent, VlanTCI, VlanProto, Priority  uint32
	IngressIfindex, Ifindex                    uint32
}

// xdpCtx is struct xdp_md.
type xdpCtx struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	macC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0c}
)

// env is a fast path loaded (unpinned) in a network namespace of its own,
// with three interfaces to stand for ports: their ifindexes are real, which
// BPF_PROG_TEST_RUN requires of an ingress.
type env struct {
	t       *testing.T
	fp      *FastPath
	a, b, c int // ifindexes
}

const bridge1, bridge2 = 11, 22

func newEnv(t *testing.T) *env {
	t.Helper()
	nstest.RequireRoot(t)
	// The test stays on one thread, in its own network namespace (test runs
	// need real ingress devices), on one CPU (per-CPU counters read back).
	ns := nstest.Netns(t, "xsw-bpf")
	nstest.Enter(t, ns)
	var cpus, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		t.Fatal(err)
	}
	for i := range 1024 {
		if cpus.IsSet(i) {
			one.Set(i)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.SchedSetaffinity(0, &cpus) })
	e := &env{t: t}
	for i, pair := range [][2]string{{"pa", "qa"}, {"pb", "qb"}, {"pc", "qc"}} {
		nstest.Veth(t, ns, pair[0], ns, pair[1])
		l, err := netlink.LinkByName(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		*[]*int{&e.a, &e.b, &e.c}[i] = l.Attrs().Index
	}
	fp, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fp.Close() })
	e.fp = fp
	return e
}

// port puts ifindex in the maps of bridge br, as an XDP target or not.
func (e *env) port(ifindex int, br uint32, xdpTarget bool) {
	e.t.Helper()
	v := xswitchPort{Bridge: br, MaxLen: 1500 + ethHdrLen}
	if xdpTarget {
		v.Flags = portXDPTx
		if err := e.fp.objs.XsTxPorts.Update(uint32(ifindex), uint32(ifindex), ebpf.UpdateAny); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.fp.objs.XsPorts.Update(uint32(ifindex), v, ebpf.UpdateAny); err != nil {
		e.t.Fatal(err)
	}
	zero := make([]xswitchPortStats, ebpf.MustPossibleCPU())
	if err := e.fp.objs.XsStats.Update(uint32(ifindex), zero, ebpf.UpdateAny); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) learn(br uint32, vid uint16, mac net.HardwareAddr, ifindex int, static bool) {
	e.t.Helper()
	k := fdbKey(br, fdb.MakeKey(vid, mac))
	v := xswitchFdbEntry{Ifindex: uint32(ifindex), Seen: 1}
	if static {
		v.Flags = fdbStatic
	}
	if err := e.fp.objs.XsFdb.Update(k, v, ebpf.UpdateAny); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) seen(br uint32, vid uint16, mac net.HardwareAddr) uint64 {
	e.t.Helper()
	var v xswitchFdbEntry
	if err := e.fp.objs.XsFdb.Lookup(fdbKey(br, fdb.MakeKey(vid, mac)), &v); err != nil {
		e.t.Fatal(err)
	}
	return v.Seen
}

func (e *env) stats(ifindex int) PortStats {
	e.t.Helper()
	s, ok := e.fp.Stats(ifindex)
	if !ok {
		e.t.Fatalf("no stats for ifindex %d", ifindex)
	}
	return s
}

// frame builds a 60-byte frame; tpid 0 means untagged.
func frame(dst, src net.HardwareAddr, tpid, vid uint16, size int) []byte {
	f := make([]byte, size)
	copy(f, dst)
	copy(f[6:], src)
	off := 12
	if tpid != 0 {
		binary.BigEndian.PutUint16(f[12:], tpid)
		binary.BigEndian.PutUint16(f[14:], vid)
		off = 16
	}
	binary.BigEndian.PutUint16(f[off:], 0x88b5) // local experimental: no IP, no offload
	return f
}

// tcRun is what the TC program did with a frame.
type tcRun struct {
	verdict uint32
	out     []byte // the frame as the program left it (an out-of-band tag aside)
	mark    uint32
}

// punted reports whether the program punted the frame: redirected to the
// port's own ingress with the punt header after the MACs.
func (r tcRun) punted() bool {
	return r.verdict == tcActRedirect && len(r.out) >= 16 && binary.BigEndian.Uint16(r.out[12:]) == PuntEtherType
}

func (e *env) runTC(ifindex int, data []byte) tcRun {
	return e.runTCMarked(ifindex, data, 0)
}

func (e *env) runTCMarked(ifindex int, data []byte, mark uint32) tcRun {
	e.t.Helper()
	var ctxOut [192]byte // all of struct __sk_buff
	opts := &ebpf.RunOptions{
		Data: data, DataOut: make([]byte, len(data)+64),
		Context: skbCtx{Ifindex: uint32(ifindex), Mark: mark}, ContextOut: &ctxOut,
	}
	ret, err := e.fp.objs.XswitchTc.Run(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return tcRun{verdict: ret, out: opts.DataOut, mark: binary.NativeEndian.Uint32(ctxOut[8:])}
}

func (e *env) runXDP(ifindex int, data []byte) uint32 {
	v, _ := e.runXDPOut(ifindex, data)
	return v
}

// runXDPOut runs the XDP program and returns its verdict and the frame as
// it left it.
func (e *env) runXDPOut(ifindex int, data []byte) (uint32, []byte) {
	e.t.Helper()
	opts := &ebpf.RunOptions{
		Data: data, DataOut: make([]byte, len(data)+64),
		Context: xdpCtx{DataEnd: uint32(len(data)), IngressIfindex: uint32(ifindex)},
	}
	ret, err := e.fp.objs.XswitchXdp.Run(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return ret, opts.DataOut
}

func puntIndex(t *testing.T, reason string) int {
	for i, r := range PuntReasons {
		if r == reason {
			return i
		}
	}
	t.Fatalf("no punt reason %q", reason)
	return -1
}

// TestTCDecisions runs the TC program on one crafted frame per branch of
// the decision and checks its verdict and what it counted.
func TestTCDecisions(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, false)

	cases := []struct {
		name   string
		setup  func()
		frame  []byte
		want   uint32
		reason string // "" for a fast-path forward
	}{
		// The source is learned (TestLearn), the destination is not.
		{"unknown source", func() {}, frame(macB, macA, 0, 0, 60), tcActRedirect, "unknown_destination"},
		{"moved source", func() { e.learn(bridge1, 0, macA, e.b, false) }, frame(macB, macA, 0, 0, 60), tcActRedirect, "unknown_destination"},
		{"source static on another port", func() { e.learn(bridge1, 0, macA, e.b, true) }, frame(macB, macA, 0, 0, 60), tcActRedirect, "moved_source"},
		{"broadcast", func() { e.learn(bridge1, 0, macA, e.a, false) }, frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macA, 0, 0, 60), tcActRedirect, "flood"},
		{"multicast", func() {}, frame(net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}, macA, 0, 0, 60), tcActRedirect, "flood"},
		{"unknown destination", func() {}, frame(macB, macA, 0, 0, 60), tcActRedirect, "unknown_destination"},
		{"destination on the ingress port", func() { e.learn(bridge1, 0, macC, e.a, false) }, frame(macC, macA, 0, 0, 60), tcActRedirect, "local_destination"},
		{"destination port without fast path", func() { e.learn(bridge1, 0, macC, e.c, false) }, frame(macC, macA, 0, 0, 60), tcActRedirect, "egress_not_fastpath"},
		{"destination port on another bridge", func() { e.port(e.c, bridge2, false) }, frame(macC, macA, 0, 0, 60), tcActRedirect, "egress_not_fastpath"},
		{"larger than the egress MTU", func() { e.learn(bridge1, 0, macB, e.b, false) }, frame(macB, macA, 0, 0, 1500+ethHdrLen+1), tcActRedirect, "mtu"},
		{"multicast source", func() {}, frame(macB, net.HardwareAddr{0x03, 0, 0, 0, 0, 1}, 0, 0, 60), tcActRedirect, "unparsed"},
		{"QinQ", func() {}, frame(macB, macA, 0x88a8, 5, 60), tcActRedirect, "unparsed"},
		{"tagged, learned untagged only", func() {}, frame(macB, macA, 0x8100, 5, 60), tcActRedirect, "unknown_destination"},
		{"learned", func() {}, frame(macB, macA, 0, 0, 1500+ethHdrLen), tcActRedirect, ""},
		{"tagged, learned in its VLAN", func() {
			e.learn(bridge1, 5, macA, e.a, false)
			e.learn(bridge1, 5, macB, e.b, false)
		}, frame(macB, macA, 0x8100, 5, 1500+ethHdrLen+4), tcActRedirect, ""},
	}
	for _, c := range cases {
		c.setup()
		before := e.stats(e.a)
		got := e.runTC(e.a, c.frame)
		after := e.stats(e.a)
		if got.verdict != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got.verdict, c.want)
		}
		wantPackets := before.Packets
		if c.reason == "" {
			wantPackets++
			if got.punted() {
				t.Errorf("%s: punted, want forwarded", c.name)
			}
		} else {
			i := puntIndex(t, c.reason)
			if after.Punts[i] != before.Punts[i]+1 {
				t.Errorf("%s: punts[%s] %d → %d, want one more", c.name, c.reason, before.Punts[i], after.Punts[i])
			}
			checkPunt(t, c.name, got, c.frame, i)
		}
		if after.Packets != wantPackets {
			t.Errorf("%s: fast-path packets %d → %d, want %d", c.name, before.Packets, after.Packets, wantPackets)
		}
		var punts, punts0 uint64
		for i := range after.Punts {
			punts += after.Punts[i]
			punts0 += before.Punts[i]
		}
		if punts+after.Packets != punts0+before.Packets+1 {
			t.Errorf("%s: counted %d times, want once", c.name, punts+after.Packets-punts0-before.Packets)
		}
	}
	if s := e.stats(e.a); s.Bytes != 1500+ethHdrLen+1500+ethHdrLen+4 {
		t.Errorf("fast-path bytes %d, want %d", s.Bytes, 2*(1500+ethHdrLen)+4)
	}
	// Not a port at all (lo): passed on.
	if got := e.runTC(1, frame(macB, macA, 0, 0, 60)); got.verdict != tcActOK {
		t.Errorf("unknown ingress: verdict %d", got.verdict)
	}
}

// checkPunt checks that a punted frame went to the port's own ingress with
// the punt header, the reason, and the frame intact around them.
func checkPunt(t *testing.T, name string, got tcRun, in []byte, reason int) {
	t.Helper()
	if !got.punted() {
		t.Errorf("%s: not punted (verdict %d, % x)", name, got.verdict, got.out[:min(16, len(got.out))])
		return
	}
	if got.mark != puntMark {
		t.Errorf("%s: punted frame's mark %#x, want %#x", name, got.mark, puntMark)
	}
	if r := binary.BigEndian.Uint16(got.out[14:]); int(r) != reason {
		t.Errorf("%s: punt header says reason %d, want %d", name, r, reason)
	}
	if !bytes.Equal(got.out[:12], in[:12]) || !bytes.Equal(got.out[16:16+len(in)-12], in[12:]) {
		t.Errorf("%s: punted frame\n% x\nis not\n% x\nwith the punt header after the MACs", name, got.out[:len(in)+4], in)
	}
}

// puntMark is PUNT_MARK of maps.h.
const puntMark = uint32(xswitchPuntHeaderPUNT_MARK)

// TestPuntedFrameComesBack checks the second pass of a punted frame: TC
// lets it through to the port's socket, once, and a guest's own frame of
// the punt ethertype is punted like any other.
func TestPuntedFrameComesBack(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, false)
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)

	first := e.runTC(e.a, frame(macC, macA, 0, 0, 60))
	checkPunt(t, "unknown destination", first, frame(macC, macA, 0, 0, 60), puntIndex(t, "unknown_destination"))
	again := e.runTCMarked(e.a, first.out[:64], first.mark)
	if again.verdict != tcActOK || again.mark != 0 {
		t.Errorf("second pass: verdict %d mark %#x, want %d (on to the socket) and the mark cleared", again.verdict, again.mark, tcActOK)
	}
	if s := e.stats(e.a); s.Punts[puntIndex(t, "unknown_destination")] != 1 {
		t.Errorf("punt counted %d times, want once", s.Punts[puntIndex(t, "unknown_destination")])
	}
	// A guest sending the punt ethertype itself, learned unicast or not,
	// gets no shortcut to the socket: without the mark it is decided like
	// any frame (here forwarded).
	own := slices.Clone(first.out[:64])
	copy(own, frame(macB, macA, 0, 0, 64)[:12])
	if got := e.runTC(e.a, own); got.verdict != tcActRedirect || !bytes.Equal(got.out[:64], own) {
		t.Errorf("a guest's frame of the punt ethertype: verdict %d, frame % x; want forwarded as it was", got.verdict, got.out[:20])
	}
}

// TestRefresh checks that a forward refreshes the source's last-seen time,
// except for a static entry.
func TestRefresh(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, false)
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)
	e.learn(bridge1, 0, macC, e.a, true)
	if got := e.runTC(e.a, frame(macB, macA, 0, 0, 60)); got.verdict != tcActRedirect || got.punted() {
		t.Fatalf("verdict %d", got.verdict)
	}
	if s := e.seen(bridge1, 0, macA); s <= 1 {
		t.Errorf("last-seen of the source not refreshed: %d", s)
	}
	if s := e.seen(bridge1, 0, macB); s != 1 {
		t.Errorf("last-seen of the destination changed: %d", s)
	}
	if got := e.runTC(e.a, frame(macB, macC, 0, 0, 60)); got.verdict != tcActRedirect || got.punted() {
		t.Fatalf("static source: verdict %d", got.verdict)
	}
	if s := e.seen(bridge1, 0, macC); s != 1 {
		t.Errorf("static entry refreshed: %d", s)
	}
	ls, ok := e.fp.LastSeen(bridge1, fdb.MakeKey(0, macA))
	if now := fdb.Now(); !ok || ls > now || now-ls > 5e9 {
		t.Errorf("LastSeen = %d, %v; fdb.Now = %d", ls, ok, now)
	}
}

// TestXDP checks XDP's part: redirect to ports that take XDP frames, pass
// the rest on.
func TestXDP(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, true)
	e.port(e.c, bridge1, false)
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)
	e.learn(bridge1, 0, macC, e.c, true) // static: it does not move to a

	if got := e.runXDP(e.a, frame(macB, macA, 0, 0, 60)); got != xdpRedirect {
		t.Errorf("to an XDP target: verdict %d, want redirect", got)
	}
	if s := e.stats(e.a); s.Packets != 1 || s.XDPPackets != 1 || s.Bytes != 60 {
		t.Errorf("after an XDP redirect: %+v", s)
	}
	if got := e.runXDP(e.a, frame(macC, macA, 0, 0, 60)); got != xdpPass {
		t.Errorf("to a port without XDP: verdict %d, want pass", got)
	}
	if got := e.runXDP(e.a, frame(macB, macC, 0, 0, 60)); got != xdpPass {
		t.Errorf("moved source: verdict %d, want pass", got)
	}
	prio := frame(macB, macA, 0x8100, 3<<13, 60)
	if got, out := e.runXDPOut(e.a, prio); got != xdpRedirect || !bytes.Equal(out, prio) {
		t.Errorf("tagged VLAN 0: verdict %d, frame % x; want redirected with its tag", got, out[:16])
	}
	// The port says it takes XDP frames but the devmap has no entry.
	if err := e.fp.objs.XsTxPorts.Delete(uint32(e.b)); err != nil {
		t.Fatal(err)
	}
	if got := e.runXDP(e.a, frame(macB, macA, 0, 0, 60)); got != xdpPass {
		t.Errorf("devmap miss: verdict %d, want pass", got)
	}
	s := e.stats(e.a)
	if s.Packets != 2 || s.RedirectErrors != 1 {
		t.Errorf("stats %+v, want 2 forwarded and 1 redirect error", s)
	}
	for i, n := range s.Punts {
		if n != 0 {
			t.Errorf("XDP counted a punt (%s): punts are counted where the frame is delivered", PuntReasons[i])
		}
	}
	// Two tags: userspace's.
	if got := e.runXDP(e.a, topo.Tag(frame(macB, macA, 0x8100, 0, 64), 0x8100, 0)); got != xdpPass {
		t.Errorf("two tags: verdict %d, want pass", got)
	}
	// Too short to parse: on to TC and userspace.
	if got := e.runXDP(e.a, frame(macB, macA, 0, 0, 14)); got != xdpPass {
		t.Errorf("runt: verdict %d, want pass", got)
	}
}

// tcpFrame is a TCP segment over IPv4 with a correct checksum.
func tcpFrame(dst, src net.HardwareAddr, payload []byte) []byte {
	eth := &layers.Ethernet{DstMAC: dst, SrcMAC: src, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: 1234, DstPort: 80, Seq: 7, ACK: true, Window: 512}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload))
	return buf.Bytes()
}

func noUDPSum(f []byte) []byte {
	f[14+20+6], f[14+20+7] = 0, 0
	return f
}

// TestXDPLeavesPartialChecksumsToTC checks that XDP redirects a TCP or UDP
// segment only when its checksum verifies: a guest's stack leaves it to be
// finished (CHECKSUM_PARTIAL), which an XDP frame cannot carry, so such
// frames go on to TC.
func TestXDPLeavesPartialChecksumsToTC(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, false)
	e.port(e.b, bridge1, true)
	e.learn(bridge1, 0, macA, e.a, false)
	e.learn(bridge1, 0, macB, e.b, false)

	v4a, v4b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6a, v6b := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	payload := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + 3)
		}
		return p
	}
	// spoil changes the L4 checksum as a pending one differs from the final.
	spoil := func(f []byte, off int) []byte {
		g := slices.Clone(f)
		g[off] ^= 0x5a
		return g
	}
	const udp4Sum, udp6Sum, tcp4Sum = 14 + 20 + 6, 14 + 40 + 6, 14 + 20 + 16
	for _, c := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"UDP/IPv4, 18 bytes", topo.UDPFrame(macA, macB, v4a, v4b, 1, 2, payload(18)), xdpRedirect},
		{"UDP/IPv4, odd length", topo.UDPFrame(macA, macB, v4a, v4b, 1, 2, payload(1001)), xdpRedirect},
		{"UDP/IPv4, 1472 bytes", topo.UDPFrame(macA, macB, v4a, v4b, 1, 2, payload(1472)), xdpRedirect},
		{"UDP/IPv4, checksum pending", spoil(topo.UDPFrame(macA, macB, v4a, v4b, 1, 2, payload(18)), udp4Sum), xdpPass},
		{"UDP/IPv4, odd length, checksum pending", spoil(topo.UDPFrame(macA, macB, v4a, v4b, 1, 2, payload(1001)), udp4Sum), xdpPass},
		{"UDP/IPv6", topo.UDPFrame(macA, macB, v6a, v6b, 1, 2, payload(333)), xdpRedirect},
		{"UDP/IPv6, checksum pending", spoil(topo.UDPFrame(macA, macB, v6a, v6b, 1, 2, payload(333)), udp6Sum), xdpPass},
		{"TCP/IPv4", tcpFrame(macB, macA, payload(100)), xdpRedirect},
		{"TCP/IPv4, checksum pending", spoil(tcpFrame(macB, macA, payload(100)), tcp4Sum), xdpPass},
		{"TCP/IPv4, pure ACK, checksum pending", spoil(tcpFrame(macB, macA, nil), tcp4Sum), xdpPass},
		{"UDP/IPv4 without checksum (a tunnel's inner one may be pending)", noUDPSum(topo.UDPFrame(macA, macB, v4a, v4b, 1, 2, payload(18))), xdpPass},
	} {
		f := c.frame
		copy(f[0:6], macB) // UDPFrame takes source first
		copy(f[6:12], macA)
		if got := e.runXDP(e.a, f); got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
		}
	}
}

// TestXDPOnAFXDPPort checks what XDP counts on an AF_XDP port: a frame it
// hands to the port's socket as punted, with its reason; nothing for a
// receive queue without a socket, or when the port's fast path is off.
// (No socket is registered: the redirect falls back to a pass.)
func TestXDPOnAFXDPPort(t *testing.T) {
	e := newEnv(t)
	// Source learned, destination not.
	unknown := puntIndex(t, "unknown_destination")
	for _, c := range []struct {
		name    string
		flags   uint32
		queues  uint32
		counted bool
	}{
		{"socket for the queue", portXSK, 1, true},
		{"no socket for the queue", portXSK, 0, false},
		{"fast path off", portXSK | portNoFast, 1, false},
	} {
		v := xswitchPort{Bridge: bridge1, Flags: c.flags, MaxLen: 1500 + ethHdrLen, XskQueues: c.queues}
		if err := e.fp.objs.XsPorts.Update(uint32(e.a), v, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
		zero := make([]xswitchPortStats, ebpf.MustPossibleCPU())
		if err := e.fp.objs.XsStats.Update(uint32(e.a), zero, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
		if got := e.runXDP(e.a, frame(macB, macA, 0, 0, 60)); got != xdpPass {
			t.Errorf("%s: verdict %d, want pass", c.name, got)
		}
		s := e.stats(e.a)
		want := uint64(0)
		if c.counted {
			want = 1
		}
		if s.Punts[unknown] != want {
			t.Errorf("%s: punts[unknown_destination] = %d, want %d", c.name, s.Punts[unknown], want)
		}
	}
}

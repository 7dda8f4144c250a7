package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
	"testing"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// Errors made once, so that refusing a frame allocates nothing either.
var (
	errRefuseSize  = fmt.Errorf("refusing port: send: %w", syscall.EMSGSIZE)
	errRefuseOther = fmt.Errorf("refusing port: send: %w", syscall.EINVAL)
)

// refusingPort accepts frames of 64 bytes or less and refuses longer ones,
// those over 1514 bytes as too long for its MTU and the others for another
// reason.
type refusingPort struct{ nullPort }

func (p *refusingPort) Send(frames []Frame) (int, error) {
	for i, f := range frames {
		switch {
		case len(f.Data) > 1514:
			return i, errRefuseSize
		case len(f.Data) > 64:
			return i, errRefuseOther
		}
	}
	return len(frames), nil
}

// TestForwardAllocs holds the forwarding loop to no allocation per batch, on
// every path a frame can take through it. Each case also checks, by the
// counters, that its frames took the path it names.
func TestForwardAllocs(t *testing.T) {
	in, b, c := newNullPort("in"), newNullPort("b"), newNullPort("c")
	refusing, gone := &refusingPort{*newNullPort("refusing")}, newNullPort("gone")
	br, ports := newForwardBridge(t, in, b, c, refusing, gone)
	pIn, pB, pC, pRefusing, pGone := ports[0], ports[1], ports[2], ports[3], ports[4]
	pGone.detached = true // as if removed while the worker holds the old port set

	host := func(n byte) []byte { return []byte{0x02, 0, 0, 0, 0, n} }
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	now := fdb.Now()
	br.fdb.Learn(fdb.MakeKey(0, host(1)), pIn.id, now)
	br.fdb.Learn(fdb.MakeKey(0, host(2)), pB.id, now)
	br.fdb.Learn(fdb.MakeKey(100, host(3)), pC.id, now)
	br.fdb.Learn(fdb.MakeKey(200, host(3)), pC.id, now)
	br.fdb.Learn(fdb.MakeKey(0, host(4)), pRefusing.id, now)
	br.fdb.Learn(fdb.MakeKey(0, host(5)), pGone.id, now)

	// frame returns an untagged frame of n bytes, or one with an in-band
	// tag of type tpid (0x8100 or 0x88a8) and VID vid when tpid is not 0.
	frame := func(dst, src []byte, tpid, vid uint16, n int) Frame {
		d := make([]byte, n)
		copy(d, dst)
		copy(d[6:], src)
		binary.BigEndian.PutUint16(d[12:], 0x0800)
		if tpid != 0 {
			binary.BigEndian.PutUint16(d[12:], tpid)
			binary.BigEndian.PutUint16(d[14:], vid)
			binary.BigEndian.PutUint16(d[16:], 0x0800)
		}
		return Frame{Data: d}
	}
	repeat := func(n int, f func() Frame) []Frame {
		fs := make([]Frame, n)
		for i := range fs {
			fs[i] = f()
		}
		return fs
	}
	outOfBand := frame(host(3), host(1), 0, 0, 60)
	outOfBand.Tagged, outOfBand.TPID, outOfBand.VLAN = true, 0x8100, 0x2000|100
	superFrame := frame(host(2), host(1), 0, 0, 9000)
	superFrame.VNet = VNetHdr{Flags: VNetHdrFNeedsCsum, GSOType: VNetHdrGSOTCPv4, HdrLen: 54,
		GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	groupSrc := host(9)
	groupSrc[0] |= 1

	type delta struct {
		port *port
		c    CounterValues // what one batch adds
	}
	cases := []struct {
		name  string
		batch []Frame
		want  []delta
	}{
		{"unicast to a learned port", repeat(8, func() Frame { return frame(host(2), host(1), 0, 0, 60) }),
			[]delta{{pIn, CounterValues{RxPackets: 8, RxBytes: 480}}, {pB, CounterValues{TxPackets: 8, TxBytes: 480}}}},
		{"flood", append(repeat(4, func() Frame { return frame(bcast, host(1), 0, 0, 60) }),
			repeat(4, func() Frame { return frame(host(7), host(1), 0, 0, 60) })...),
			[]delta{{pIn, CounterValues{RxPackets: 8, RxBytes: 480, Flooded: 8}},
				{pB, CounterValues{TxPackets: 8, TxBytes: 480}}, {pC, CounterValues{TxPackets: 8, TxBytes: 480}},
				{pRefusing, CounterValues{TxPackets: 8, TxBytes: 480}}, {pGone, CounterValues{Drops: drops(DropPortRemoved, 8)}}}},
		{"in-band tags", append(repeat(4, func() Frame { return frame(host(3), host(1), EtherTypeVLAN, 100, 60) }),
			repeat(4, func() Frame { return frame(host(3), host(1), EtherTypeQinQ, 200, 60) })...),
			[]delta{{pIn, CounterValues{RxPackets: 8, RxBytes: 480}}, {pC, CounterValues{TxPackets: 8, TxBytes: 480}}}},
		{"out-of-band tag", repeat(8, func() Frame { return outOfBand }),
			[]delta{{pIn, CounterValues{RxPackets: 8, RxBytes: 480}}, {pC, CounterValues{TxPackets: 8, TxBytes: 480}}}},
		{"super-frames", repeat(8, func() Frame { return superFrame }),
			[]delta{{pIn, CounterValues{RxPackets: 8, RxBytes: 72000, RxGSO: 8}}, {pB, CounterValues{TxPackets: 8, TxBytes: 72000}}}},
		{"ingress drops", []Frame{
			{Data: host(2)}, // runt
			frame(host(2), groupSrc, 0, 0, 60),
			frame(host(1), host(1), 0, 0, 60), // learned on the ingress port
		}, []delta{{pIn, CounterValues{RxPackets: 3, RxBytes: 126,
			Drops: add(drops(DropRunt, 1), drops(DropMulticastSrc, 1), drops(DropLocal, 1))}}}},
		{"egress refuses", []Frame{
			frame(host(4), host(1), 0, 0, 2000),
			frame(host(4), host(1), 0, 0, 60),
			frame(host(4), host(1), 0, 0, 100),
			frame(host(4), host(1), 0, 0, 60),
		}, []delta{{pIn, CounterValues{RxPackets: 4, RxBytes: 2220}},
			{pRefusing, CounterValues{TxPackets: 2, TxBytes: 120, Drops: add(drops(DropMTU, 1), drops(DropTxError, 1))}}}},
		{"egress removed", repeat(8, func() Frame { return frame(host(5), host(1), 0, 0, 60) }),
			[]delta{{pIn, CounterValues{RxPackets: 8, RxBytes: 480}}, {pGone, CounterValues{Drops: drops(DropPortRemoved, 8)}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := portWorker(br, pIn)
			before := make(map[*port]CounterValues)
			for _, q := range ports {
				before[q] = q.c.Load()
			}
			const runs = 100
			if allocs := testing.AllocsPerRun(runs, func() { w.forward(tc.batch) }); allocs != 0 {
				t.Errorf("%v allocations per batch, want 0", allocs)
			}
			// AllocsPerRun runs the function once more, to warm up.
			for _, q := range ports {
				var want CounterValues
				for _, d := range tc.want {
					if d.port == q {
						want = d.c
					}
				}
				if got := sub(q.c.Load(), before[q]); got != scale(want, runs+1) {
					t.Errorf("port %s: counters moved by %+v, want %+v", q.info.Name, got, scale(want, runs+1))
				}
			}
		})
	}
}

func drops(r DropReason, n uint64) [numDropReasons]uint64 {
	var d [numDropReasons]uint64
	d[r] = n
	return d
}

func add(ds ...[numDropReasons]uint64) [numDropReasons]uint64 {
	var sum [numDropReasons]uint64
	for _, d := range ds {
		for i := range d {
			sum[i] += d[i]
		}
	}
	return sum
}

func sub(a, b CounterValues) CounterValues {
	a.RxPackets -= b.RxPackets
	a.RxBytes -= b.RxBytes
	a.TxPackets -= b.TxPackets
	a.TxBytes -= b.TxBytes
	a.Flooded -= b.Flooded
	a.RxGSO -= b.RxGSO
	for i := range a.Drops {
		a.Drops[i] -= b.Drops[i]
	}
	return a
}

func scale(v CounterValues, n uint64) CounterValues {
	v.RxPackets *= n
	v.RxBytes *= n
	v.TxPackets *= n
	v.TxBytes *= n
	v.Flooded *= n
	v.RxGSO *= n
	for i := range v.Drops {
		v.Drops[i] *= n
	}
	return v
}

// TestForwardAllocsWithPolicy holds the forwarding loop to no allocation
// per batch for ports with VLANs, isolation and anti-spoofing, on every path
// a policy gives a frame, and checks by the counters that each took it.
func TestForwardAllocsWithPolicy(t *testing.T) {
	names := []string{"guest", "trunk", "other", "iso", "iso2"}
	ps := make([]Port, len(names))
	for i, n := range names {
		ps[i] = newNullPort(n)
	}
	br, ports := newForwardBridge(t, ps...)
	pGuest, pTrunk, pOther, pIso, pIso2 := ports[0], ports[1], ports[2], ports[3], ports[4]
	host := func(n byte) []byte { return []byte{0x02, 0, 0, 0, 0, n} }
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for name, p := range map[string]policy.Policy{
		"guest": {VLAN: policy.AccessVLAN(10), AntiSpoof: true, MAC: host(1),
			Allowed: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}},
		"trunk": {VLAN: policy.TrunkVLANs(0, 10, 20)},
		"other": {VLAN: policy.AccessVLAN(20)},
		"iso":   {VLAN: policy.AccessVLAN(10), Isolated: true},
		"iso2":  {VLAN: policy.AccessVLAN(10), Isolated: true},
	} {
		if err := br.SetPolicy(name, p); err != nil {
			t.Fatal(err)
		}
	}
	now := fdb.Now()
	br.fdb.Learn(fdb.MakeKey(10, host(1)), pGuest.id, now)
	br.fdb.Learn(fdb.MakeKey(10, host(2)), pTrunk.id, now)
	br.fdb.Learn(fdb.MakeKey(20, host(3)), pOther.id, now)
	br.fdb.Learn(fdb.MakeKey(10, host(4)), pIso.id, now)
	br.fdb.Learn(fdb.MakeKey(10, host(5)), pIso2.id, now)
	br.fdb.Learn(fdb.MakeKey(10, host(7)), pOther.id, now) // from before other left VLAN 10

	// frame returns a 60-byte IPv4 frame from address 192.0.2.src, with an
	// in-band tag of type tpid and VID vid when tpid is not 0 (64 bytes).
	frame := func(dst, srcMAC []byte, src byte, tpid, vid uint16) Frame {
		d := make([]byte, 60)
		copy(d, dst)
		copy(d[6:], srcMAC)
		l3 := 12
		if tpid != 0 {
			d = append(d, 0, 0, 0, 0)
			binary.BigEndian.PutUint16(d[12:], tpid)
			binary.BigEndian.PutUint16(d[14:], vid)
			l3 = 16
		}
		binary.BigEndian.PutUint16(d[l3:], 0x0800)
		copy(d[l3+2+12:], []byte{192, 0, 2, src})
		return Frame{Data: d}
	}
	outOfBand := func(f Frame, vid uint16) Frame {
		f.Tagged, f.TPID, f.VLAN = true, EtherTypeVLAN, vid
		return f
	}
	repeat := func(n int, f Frame) []Frame {
		fs := make([]Frame, n)
		for i := range fs {
			fs[i] = f
			fs[i].Data = append([]byte(nil), f.Data...)
		}
		return fs
	}
	notIPv4 := frame(host(2), host(1), 1, 0, 0)
	notIPv4.Data[12] = 0x88

	type delta struct {
		port *port
		c    CounterValues
	}
	cases := []struct {
		name  string
		in    *port
		batch []Frame
		want  []delta
	}{
		{"access to trunk", pGuest, repeat(8, frame(host(2), host(1), 1, 0, 0)),
			[]delta{{pGuest, CounterValues{RxPackets: 8, RxBytes: 480}}, {pTrunk, CounterValues{TxPackets: 8, TxBytes: 480}}}},
		{"flood stays in the VLAN", pGuest, repeat(8, frame(bcast, host(1), 1, 0, 0)),
			[]delta{{pGuest, CounterValues{RxPackets: 8, RxBytes: 480, Flooded: 8}}, {pTrunk, CounterValues{TxPackets: 8, TxBytes: 480}},
				{pIso, CounterValues{TxPackets: 8, TxBytes: 480}}, {pIso2, CounterValues{TxPackets: 8, TxBytes: 480}}}},
		{"in-band tag from the trunk", pTrunk, repeat(8, frame(host(1), host(2), 2, EtherTypeVLAN, 10)),
			[]delta{{pTrunk, CounterValues{RxPackets: 8, RxBytes: 512}}, {pGuest, CounterValues{TxPackets: 8, TxBytes: 480}}}},
		{"out-of-band tag from the trunk", pTrunk, repeat(8, outOfBand(frame(host(3), host(2), 2, 0, 0), 20)),
			[]delta{{pTrunk, CounterValues{RxPackets: 8, RxBytes: 480}}, {pOther, CounterValues{TxPackets: 8, TxBytes: 480}}}},
		{"ingress refusals", pGuest, []Frame{
			frame(host(2), host(9), 1, 0, 0),              // another MAC
			frame(host(2), host(1), 9, 0, 0),              // another address
			notIPv4,                                       // another ethertype
			frame(host(2), host(1), 1, EtherTypeVLAN, 10), // tagged on an access port
			frame(host(7), host(1), 1, 0, 0),              // to a port not in the VLAN
		}, []delta{{pGuest, CounterValues{RxPackets: 5, RxBytes: 304, Drops: add(drops(DropSpoofed, 3), drops(DropVLAN, 2))}}}},
		{"802.1ad on a trunk", pTrunk, repeat(8, frame(host(1), host(2), 2, EtherTypeQinQ, 10)),
			[]delta{{pTrunk, CounterValues{RxPackets: 8, RxBytes: 512, Drops: drops(DropVLAN, 8)}}}},
		{"isolated", pIso, append(append(repeat(2, frame(host(5), host(4), 4, 0, 0)), repeat(2, frame(host(2), host(4), 4, 0, 0))...),
			repeat(2, frame(bcast, host(4), 4, 0, 0))...),
			[]delta{{pIso, CounterValues{RxPackets: 6, RxBytes: 360, Flooded: 2, Drops: drops(DropIsolated, 2)}},
				{pTrunk, CounterValues{TxPackets: 4, TxBytes: 240}}, {pGuest, CounterValues{TxPackets: 2, TxBytes: 120}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// forward moves in-band tags out of band in the frames it is
			// given; each run starts from the frames as received.
			pristine := make([][]byte, len(tc.batch))
			orig := make([]Frame, len(tc.batch))
			for i, f := range tc.batch {
				pristine[i] = append([]byte(nil), f.Data...)
				orig[i] = f
			}
			w := portWorker(br, tc.in)
			run := func() {
				for i := range tc.batch {
					copy(orig[i].Data, pristine[i])
					tc.batch[i] = orig[i]
				}
				w.forward(tc.batch)
			}
			before := make(map[*port]CounterValues)
			for _, q := range ports {
				before[q] = q.c.Load()
			}
			const runs = 100
			if allocs := testing.AllocsPerRun(runs, run); allocs != 0 {
				t.Errorf("%v allocations per batch, want 0", allocs)
			}
			for _, q := range ports {
				var want CounterValues
				for _, d := range tc.want {
					if d.port == q {
						want = d.c
					}
				}
				if got := sub(q.c.Load(), before[q]); got != scale(want, runs+1) {
					t.Errorf("port %s: counters moved by %+v, want %+v", q.info.Name, got, scale(want, runs+1))
				}
			}
		})
	}
}

// TestQueuesGrowOnUse holds a worker's egress queues to what its batches
// needed: a flood of one frame costs each port a queue of about one frame,
// not a batch's worth (256 ports, each flooding once, would otherwise hold
// 256 × 256 queues of 64 frames).
func TestQueuesGrowOnUse(t *testing.T) {
	ps := make([]Port, 16)
	for i := range ps {
		ps[i] = newNullPort(fmt.Sprint("p", i))
	}
	br, list := newForwardBridge(t, ps...)
	w := portWorker(br, list[0])
	bcast := make([]byte, 60)
	copy(bcast, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1})
	w.forward([]Frame{{Data: bcast}})
	total := 0
	for _, q := range w.out {
		total += cap(q)
	}
	if want := 2 * (len(list) - 1); total > want {
		t.Errorf("queues hold %d frames after a flood of one, want at most %d", total, want)
	}
	if total == 0 {
		t.Error("the flood queued nothing")
	}
}

package dataplane

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// recordingPort keeps what it is sent. The fuzz targets drive the worker
// themselves, in their own goroutine, so Send is never concurrent.
type recordingPort struct {
	name   string
	closed chan struct{}
	sent   []Frame
}

func (p *recordingPort) Name() string   { return p.name }
func (p *recordingPort) BatchSize() int { return 8 }
func (p *recordingPort) Receive(f []Frame) (int, error) {
	<-p.closed
	return 0, net.ErrClosed
}
func (p *recordingPort) Close() error { close(p.closed); return nil }
func (p *recordingPort) Send(frames []Frame) (int, error) {
	for _, f := range frames {
		f.Data = slices.Clone(f.Data)
		p.sent = append(p.sent, f)
	}
	return len(frames), nil
}

// fuzzBridge builds a bridge of recording ports: with policies (a trunk,
// access ports in VLANs 10 and 20, two isolated ports, one with
// anti-spoofing, a transparent port), or without any.
func fuzzBridge(policies bool) (*Bridge, []*recordingPort) {
	// The table's default limits, which no fuzz input reaches: Trace
	// does not foresee a source refused at its port's limit, nor the
	// eviction its learning may cause in a full table.
	br := NewBridge(BridgeConfig{Name: "fuzz", FDB: fdb.DefaultConfig()}, slog.New(slog.DiscardHandler))
	pols := []policy.Policy{{}, {}, {}, {}}
	if policies {
		pols = []policy.Policy{
			{VLAN: policy.TrunkVLANs(1, 10, 20)},
			{VLAN: policy.AccessVLAN(10)},
			{VLAN: policy.AccessVLAN(20), AntiSpoof: true, MAC: fuzzHost(3), Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/32")}},
			{VLAN: policy.AccessVLAN(10), Isolated: true},
			{VLAN: policy.AccessVLAN(10), Isolated: true, AntiSpoof: true, MAC: fuzzHost(5)},
			{},
		}
	}
	var ports []*recordingPort
	for i, pol := range pols {
		p := &recordingPort{name: fmt.Sprint("p", i), closed: make(chan struct{})}
		if _, err := br.AddPort(p, PortInfo{Name: p.name, Policy: pol}); err != nil {
			panic(err)
		}
		ports = append(ports, p)
	}
	return br, ports
}

func fuzzHost(n byte) []byte { return []byte{0x02, 0, 0, 0, 0, n} }

// fuzzScript reads a fuzz input as a script of batches. Each batch is an
// ingress byte (port, and batch size in bits 3-5), then per frame: flags
// (bit 0: an out-of-band tag follows, its TPID 802.1ad if bit 1; bit 2: a
// super-frame), a destination and a source selector (0-5: one of six
// hosts, 6: broadcast or a group source, 7: multicast, else 6 bytes from
// the input; a destination selector 0xff makes a frame of the payload
// alone), a payload length, and the payload. Byte 0xff as an ingress byte
// removes a port instead.
type fuzzScript struct{ b []byte }

func (s *fuzzScript) next() (byte, bool) {
	if len(s.b) == 0 {
		return 0, false
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c, true
}

func (s *fuzzScript) take(n int) []byte {
	n = min(n, len(s.b))
	out := s.b[:n]
	s.b = s.b[n:]
	return out
}

func (s *fuzzScript) mac(sel byte, dst bool) []byte {
	switch {
	case sel < 6:
		return fuzzHost(sel + 1)
	case sel == 6 && dst:
		return []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	case sel == 6:
		return []byte{0x03, 0, 0, 0, 0, 1}
	case sel == 7:
		return []byte{0x01, 0x00, 0x5e, 0, 0, 1}
	}
	m := make([]byte, 6)
	copy(m, s.take(6))
	return m
}

// frame reads one frame; its ID is in VNet.GSOSize, which the worker
// carries and never reads.
func (s *fuzzScript) frame(id uint16) (Frame, bool) {
	flags, ok := s.next()
	if !ok {
		return Frame{}, false
	}
	var f Frame
	if flags&1 != 0 {
		tci := s.take(2)
		f.Tagged, f.TPID = true, EtherTypeVLAN
		if flags&2 != 0 {
			f.TPID = EtherTypeQinQ
		}
		if len(tci) == 2 {
			f.VLAN = binary.BigEndian.Uint16(tci)
		}
	}
	if flags&4 != 0 {
		f.VNet.GSOType = VNetHdrGSOTCPv4
	}
	f.VNet.GSOSize = id
	dsel, _ := s.next()
	ssel, _ := s.next()
	n, _ := s.next()
	if dsel == 0xff {
		f.Data = slices.Clone(s.take(int(n & 0x7f)))
		return f, true
	}
	f.Data = append(append(s.mac(dsel, true), s.mac(ssel, false)...), s.take(int(n&0x7f))...)
	return f, true
}

// wire is f as a device would carry it: the out-of-band tag in band.
func wire(f Frame) []byte {
	if !f.Tagged || len(f.Data) < 12 {
		return slices.Clone(f.Data)
	}
	tag := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, f.TPID), f.VLAN)
	return slices.Concat(f.Data[:12], tag, f.Data[12:])
}

// fuzzSeeds are scripts of the fuzz targets' seed corpus.
func fuzzSeeds() [][]byte {
	const bcast, mcast, raw = 6, 7, 0xff
	arp := func(spa byte) []byte {
		return []byte{0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 3, 10, 0, 0, spa, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1}
	}
	return [][]byte{
		// A broadcast from p1, then a unicast back to it from p0 tagged 10.
		{0x01, 0, bcast, 0, 2, 0x08, 0x06, 0x00, 1, 0, 10, 0, 1, 2, 0x08, 0x00},
		// A batch of 4 from p0: untagged, tagged 20, 802.1ad, a super-frame.
		{0x18, 0, 2, 0, 2, 0x08, 0, 1, 0, 20, bcast, 0, 2, 0x08, 0, 3, 0, 20, mcast, 0, 2, 0x08, 0, 4, 2, 0, 2, 0x08, 0},
		// From the isolated p3 and p4; a runt, a group source, an in-band tag.
		{0x03, 0, bcast, 3, 2, 0x08, 0x06, 0x04, 0, bcast, 4, 2, 0x08, 0x06,
			0x0b, 0, raw, 0, 5, 1, 2, 3, 4, 5, 0, 0, bcast, 2, 0x08, 0,
			0x03, 0, 4, 3, 6, 0x81, 0, 0, 10, 0x08, 0},
		// A port learned, then removed, then a frame to it.
		{0x01, 0, bcast, 1, 0, 0xff, 0x01, 0x00, 0, 1, 0, 2, 0x08, 0},
		// On p2 (02:00:00:00:00:03 and 10.0.0.3 only, with anti-spoofing):
		// a wrong MAC, an ARP from its address, an ARP from another.
		slices.Concat([]byte{0x02, 0, bcast, 1, 2, 0x08, 0x06, 0x02, 0, bcast, 2, 30}, arp(3), []byte{0x02, 0, bcast, 2, 30}, arp(9)),
		// A frame to its own source, from a port that had it and another.
		{0x00, 0, 0, 0, 2, 0x08, 0, 0x05, 0, 0, 0, 2, 0x08, 0},
	}
}

// FuzzForward forwards arbitrary frames in arbitrary batches through a
// port's worker, on bridges with and without policies. Every frame is
// received once, never sent back to its ingress port nor twice to one
// port, and the counters account for each: a drop with its reason, a
// flood, or a unicast to exactly one port. A frame alone in its batch
// goes exactly where Trace, asked just before, says: to the same ports
// with the same tags, or dropped for the same reason.
func FuzzForward(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(true, seed)
		f.Add(false, seed)
	}
	f.Fuzz(func(t *testing.T, policies bool, script []byte) { fuzzForward(t, policies, script, false) })
}

// FuzzTrace is FuzzForward with every frame in a batch of its own, so that
// where each one goes is checked against what Trace said of it.
func FuzzTrace(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(true, seed)
		f.Add(false, seed)
	}
	f.Fuzz(func(t *testing.T, policies bool, script []byte) { fuzzForward(t, policies, script, true) })
}

// fuzzForward runs a script; single puts every frame in a batch of its own.
func fuzzForward(t *testing.T, policies bool, script []byte, single bool) {
	br, ports := fuzzBridge(policies)
	defer br.Close()
	s := &fuzzScript{b: script}
	removed := make([]bool, len(ports))
	var id uint16
	for {
		op, ok := s.next()
		if !ok {
			return
		}
		if op == 0xff {
			if c, ok := s.next(); ok && !removed[int(c)%len(ports)] {
				br.RemovePort(ports[int(c)%len(ports)].name)
				removed[int(c)%len(ports)] = true
			}
			continue
		}
		in := int(op&7) % len(ports)
		if removed[in] {
			continue
		}
		var batch []Frame
		n := 1 + int(op>>3)&7
		if single {
			n = 1
		}
		for range n {
			id++
			fr, ok := s.frame(id)
			if !ok {
				break
			}
			batch = append(batch, fr)
		}
		if len(batch) > 0 {
			forwardChecked(t, br, ports, in, batch)
		}
	}
}

// forwardChecked forwards batch from ports[in] and checks where it went.
func forwardChecked(t *testing.T, br *Bridge, ports []*recordingPort, in int, batch []Frame) {
	t.Helper()
	set := br.ports.Load()
	byName := map[string]*port{}
	for _, q := range set.list {
		byName[q.info.Name] = q
	}
	ingress := byName[ports[in].name]
	var tr Trace
	if len(batch) == 1 && (!batch[0].Tagged || len(batch[0].Data) >= EthHdrLen) {
		var err error
		if tr, err = br.Trace(ports[in].name, wire(batch[0])); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]CounterValues{}
	for name, q := range byName {
		before[name] = q.c.Load()
	}
	var rxBytes uint64
	for _, fr := range batch {
		rxBytes += uint64(len(fr.Data))
	}
	portWorker(br, ingress).forward(batch)

	// Where each frame went, by ID.
	went := map[uint16][]string{}
	for _, p := range ports {
		q := byName[p.name]
		if q == nil {
			if len(p.sent) != 0 {
				t.Fatalf("removed port %s was sent %d frames", p.name, len(p.sent))
			}
			continue
		}
		if p.name == ports[in].name && len(p.sent) != 0 {
			t.Fatalf("%d frames sent back to their ingress port %s", len(p.sent), p.name)
		}
		var bytes uint64
		seen := map[uint16]bool{}
		for _, fr := range p.sent {
			if seen[fr.VNet.GSOSize] {
				t.Fatalf("frame %d sent twice to %s", fr.VNet.GSOSize, p.name)
			}
			seen[fr.VNet.GSOSize] = true
			tag := "untagged"
			if fr.Tagged {
				tag = fmt.Sprint("tagged ", fr.VLAN&0xfff)
			}
			went[fr.VNet.GSOSize] = append(went[fr.VNet.GSOSize], p.name+":"+tag)
			bytes += uint64(len(fr.Data))
		}
		d := q.c.Load()
		if tx, b := d.TxPackets-before[p.name].TxPackets, d.TxBytes-before[p.name].TxBytes; tx != uint64(len(p.sent)) || b != bytes {
			t.Fatalf("%s: tx counters grew by %d frames, %d bytes; it was sent %d frames, %d bytes", p.name, tx, b, len(p.sent), bytes)
		}
		p.sent = p.sent[:0]
	}

	after := ingress.c.Load()
	b := before[ports[in].name]
	n := uint64(len(batch))
	dropped, flooded := after.Dropped()-b.Dropped(), after.Flooded-b.Flooded
	if after.RxPackets-b.RxPackets != n || after.RxBytes-b.RxBytes != rxBytes {
		t.Fatalf("ingress %s: rx counters grew by %d frames, %d bytes for %d frames, %d bytes",
			ports[in].name, after.RxPackets-b.RxPackets, after.RxBytes-b.RxBytes, n, rxBytes)
	}
	// A frame is dropped, flooded (to any number of ports) or unicast (to
	// exactly one port).
	var none, one, many uint64
	for _, fr := range batch {
		switch len(went[fr.VNet.GSOSize]) {
		case 0:
			none++
		case 1:
			one++
		default:
			many++
		}
	}
	if dropped+flooded > n || many > flooded || none > dropped+flooded || one+many < n-dropped-flooded {
		t.Fatalf("ingress %s: %d frames, %d dropped, %d flooded; %d went nowhere, %d to one port, %d to more",
			ports[in].name, n, dropped, flooded, none, one, many)
	}
	fr := batch[0]
	if len(batch) != 1 || fr.Tagged && len(fr.Data) < EthHdrLen {
		// A device moves a tag out of band only from a whole 802.1Q
		// header: such a frame has no wire form to trace.
		return
	}
	got := went[fr.VNet.GSOSize]
	var said []string
	for _, e := range tr.Egress {
		if e.Tag == "as is" {
			// Transparent ports keep the tag the frame came with.
			e.Tag = "untagged"
			if fr.Tagged {
				e.Tag = fmt.Sprint("tagged ", fr.VLAN&0xfff)
			}
		}
		said = append(said, e.Port+":"+e.Tag)
	}
	slices.Sort(got)
	slices.Sort(said)
	what := fmt.Sprintf("frame % x (tagged %v %#04x %#04x) from %s", fr.Data, fr.Tagged, fr.TPID, fr.VLAN, ports[in].name)
	if !slices.Equal(got, said) {
		t.Fatalf("%s went to %v; Trace said %s (%s) to %v", what, got, tr.Verdict, tr.Reason, said)
	}
	switch tr.Verdict {
	case "drop":
		var reason string
		for r := range after.Drops {
			if after.Drops[r] != b.Drops[r] {
				reason = DropReason(r).String()
			}
		}
		if dropped != 1 || reason != tr.Reason {
			t.Fatalf("%s: %d dropped for %q; Trace said dropped for %s", what, dropped, reason, tr.Reason)
		}
	case "flood":
		if flooded != 1 || dropped != 0 {
			t.Fatalf("%s: %d flooded, %d dropped; Trace said flood (%s)", what, flooded, dropped, tr.Reason)
		}
	case "unicast":
		if flooded != 0 || dropped != 0 || len(got) != 1 {
			t.Fatalf("%s: %d flooded, %d dropped, sent to %v; Trace said unicast (%s)", what, flooded, dropped, got, tr.Reason)
		}
	default:
		t.Fatalf("%s: Trace verdict %q", what, tr.Verdict)
	}
}

package dataplane

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// countingPort is a nullPort that counts its Send calls and knows whether
// it was closed.
type countingPort struct {
	nullPort
	sends  atomic.Int64
	isShut atomic.Bool
}

func newCountingPort(name string) *countingPort {
	return &countingPort{nullPort: *newNullPort(name)}
}

func (p *countingPort) Send(f []Frame) (int, error) { p.sends.Add(1); return len(f), nil }
func (p *countingPort) Close() error                { p.isShut.Store(true); return p.nullPort.Close() }

// fakeMultiSender reaches the countingPorts whose names start with "m". It
// counts its calls, records (when record is set) what each port was sent,
// refuses what refuse says, and notes frames sent to a closed port.
type fakeMultiSender struct {
	batch  int
	record bool
	// refuse, if set, returns the error for a frame to a port, or nil.
	refuse func(to *countingPort, f *Frame) error

	calls    atomic.Int64
	toClosed atomic.Int64 // frames handed over for a port already closed
	mu       sync.Mutex
	sent     map[string][]Frame // by port name: copies of the frames sent; under mu
}

var errMultiTooBig = fmt.Errorf("fake multisend: %w", syscall.EMSGSIZE)

func (m *fakeMultiSender) BatchSize() int { return m.batch }

func (m *fakeMultiSender) Reaches(p Port) bool {
	_, ok := p.(*countingPort)
	return ok && strings.HasPrefix(p.Name(), "m")
}

func (m *fakeMultiSender) Send(frames []Frame, to []Port) (int, error) {
	m.calls.Add(1)
	if len(frames) > m.batch || len(to) != len(frames) {
		panic(fmt.Sprintf("Send of %d frames to %d ports, batch %d", len(frames), len(to), m.batch))
	}
	for i := range frames {
		p := to[i].(*countingPort)
		if p.isShut.Load() {
			m.toClosed.Add(1)
		}
		if m.refuse != nil {
			if err := m.refuse(p, &frames[i]); err != nil {
				return i, err
			}
		}
		if m.record {
			f := frames[i]
			f.Data = append([]byte(nil), f.Data...)
			m.mu.Lock()
			m.sent[p.name] = append(m.sent[p.name], f)
			m.mu.Unlock()
		}
	}
	return len(frames), nil
}

// taken returns what was sent to each port and forgets it.
func (m *fakeMultiSender) taken() map[string][]Frame {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sent
	m.sent = map[string][]Frame{}
	return s
}

// newMultiBridge attaches countingPorts named names to a bridge whose
// MultiSender is ms.
func newMultiBridge(tb testing.TB, ms MultiSender, names ...string) (*Bridge, []*port, []*countingPort) {
	tb.Helper()
	br := NewBridge(BridgeConfig{Name: "multi", FDB: fdb.DefaultConfig(), MultiSender: ms}, slog.New(slog.DiscardHandler))
	tb.Cleanup(func() { br.Close() })
	cps := make([]*countingPort, len(names))
	for i, n := range names {
		cps[i] = newCountingPort(n)
		if _, err := br.AddPort(cps[i], PortInfo{Name: n}); err != nil {
			tb.Fatal(err)
		}
	}
	return br, br.ports.Load().list, cps
}

func portNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprint(prefix, i)
	}
	return names
}

// broadcasts returns n broadcast frames from host 02:..:01 of size bytes,
// each carrying its index after the ethertype.
func broadcasts(n, size int) []Frame {
	fs := make([]Frame, n)
	for i := range fs {
		d := make([]byte, size)
		copy(d, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
		binary.BigEndian.PutUint32(d[14:], uint32(i))
		fs[i] = Frame{Data: d}
	}
	return fs
}

// TestMultiSendFlood: a flood goes to every port the MultiSender reaches in
// one call, each frame once and in order; ports it does not reach get one
// Send each, as before.
func TestMultiSendFlood(t *testing.T) {
	for _, tc := range []struct {
		name      string
		batch     int
		wantCalls int64
	}{
		{"one call", 1024, 1},
		{"full queues are sent as they fill", 16, 8}, // 8 frames × 15 ports = 120 = 7.5 × 16
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := &fakeMultiSender{batch: tc.batch, record: true, sent: map[string][]Frame{}}
			names := append(portNames("m", 16), "own0", "own1")
			br, ports, cps := newMultiBridge(t, ms, names...)
			frames := broadcasts(8, 60)
			portWorker(br, ports[0]).forward(frames)

			if got := ms.calls.Load(); got != tc.wantCalls {
				t.Errorf("MultiSender.Send called %d times, want %d", got, tc.wantCalls)
			}
			sent := ms.taken()
			for i, q := range ports {
				cp := cps[i]
				wantSends := int64(0)
				if !q.mtx.reached {
					wantSends = 1
				}
				if got := cp.sends.Load(); got != wantSends {
					t.Errorf("port %s: %d Send calls, want %d", cp.name, got, wantSends)
				}
				wantTx := uint64(len(frames))
				if i == 0 {
					wantTx = 0
				}
				if c := q.c.Load(); c.TxPackets != wantTx || c.TxBytes != 60*wantTx || c.Dropped() != 0 {
					t.Errorf("port %s: counters %+v, want %d frames sent", cp.name, c, wantTx)
				}
				if !q.mtx.reached || i == 0 {
					if len(sent[cp.name]) != 0 {
						t.Errorf("port %s: MultiSender sent it %d frames", cp.name, len(sent[cp.name]))
					}
					continue
				}
				if len(sent[cp.name]) != len(frames) {
					t.Fatalf("port %s: MultiSender sent it %d frames, want %d", cp.name, len(sent[cp.name]), len(frames))
				}
				for j, f := range sent[cp.name] {
					if seq := binary.BigEndian.Uint32(f.Data[14:]); seq != uint32(j) {
						t.Errorf("port %s: frame %d is frame %d of the batch", cp.name, j, seq)
					}
				}
			}
		})
	}
}

// TestMultiSendRefusals: a frame the MultiSender refuses is counted for
// its port by reason, and the frames after it still go.
func TestMultiSendRefusals(t *testing.T) {
	ms := &fakeMultiSender{batch: 1024, record: true, sent: map[string][]Frame{}}
	ms.refuse = func(to *countingPort, f *Frame) error {
		switch {
		case to.name == "m3" && len(f.Data) > 1514:
			return errMultiTooBig
		case to.name == "m4":
			return errRefuseOther
		}
		return nil
	}
	br, ports, _ := newMultiBridge(t, ms, portNames("m", 6)...)
	frames := broadcasts(3, 60)
	frames[1] = broadcasts(2, 2000)[1]
	portWorker(br, ports[0]).forward(frames)

	sent := ms.taken()
	want := map[string]struct {
		tx, mtu, other uint64
		seqs           string
	}{
		"m1": {3, 0, 0, "[0 1 2]"}, "m2": {3, 0, 0, "[0 1 2]"}, "m5": {3, 0, 0, "[0 1 2]"},
		"m3": {2, 1, 0, "[0 2]"}, "m4": {0, 0, 3, "[]"},
	}
	for _, q := range ports[1:] {
		w := want[q.info.Name]
		c := q.c.Load()
		if c.TxPackets != w.tx || c.Drops[DropMTU] != w.mtu || c.Drops[DropTxError] != w.other || c.Dropped() != w.mtu+w.other {
			t.Errorf("port %s: %d sent, drops %v; want %d sent, %d mtu, %d tx_error", q.info.Name, c.TxPackets, c.Drops, w.tx, w.mtu, w.other)
		}
		seqs := make([]uint32, 0)
		for _, f := range sent[q.info.Name] {
			seqs = append(seqs, binary.BigEndian.Uint32(f.Data[14:]))
		}
		if got := fmt.Sprint(seqs); got != w.seqs {
			t.Errorf("port %s got frames %s, want %s", q.info.Name, got, w.seqs)
		}
	}
}

// TestMultiSendPortGone: the frames a worker queued for a port being
// removed are dropped as such, never handed to the MultiSender.
func TestMultiSendPortGone(t *testing.T) {
	ms := &fakeMultiSender{batch: 1024, record: true, sent: map[string][]Frame{}}
	br, ports, _ := newMultiBridge(t, ms, portNames("m", 4)...)
	ports[2].mtx.gone.Store(true) // as if removed while the worker holds the old port set
	portWorker(br, ports[0]).forward(broadcasts(5, 60))
	sent := ms.taken()
	if len(sent["m2"]) != 0 {
		t.Errorf("MultiSender sent %d frames to the port being removed", len(sent["m2"]))
	}
	if c := ports[2].c.Load(); c.Drops[DropPortRemoved] != 5 || c.TxPackets != 0 {
		t.Errorf("removed port: %d sent, %d dropped as removed; want 0, 5", c.TxPackets, c.Drops[DropPortRemoved])
	}
	for _, q := range []*port{ports[1], ports[3]} {
		if n := len(sent[q.info.Name]); n != 5 || q.c.Load().TxPackets != 5 {
			t.Errorf("port %s: %d frames sent, %d counted; want 5", q.info.Name, n, q.c.Load().TxPackets)
		}
	}
}

// TestMultiSendRemoveWhileFlooding: workers of two ports flood while
// another port is removed; once RemovePort has closed it, nothing is handed
// over for it (the race detector watches the rest).
func TestMultiSendRemoveWhileFlooding(t *testing.T) {
	ms := &fakeMultiSender{batch: 64}
	br, ports, _ := newMultiBridge(t, ms, portNames("m", 8)...)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, in := range ports[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := portWorker(br, in)
			frames := broadcasts(16, 60)
			for !stop.Load() {
				w.forward(frames)
			}
		}()
	}
	for _, q := range ports[2:] {
		if err := br.RemovePort(q.info.Name); err != nil {
			t.Error(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := ms.toClosed.Load(); n != 0 {
		t.Errorf("%d frames handed to the MultiSender for closed ports", n)
	}
	if ms.calls.Load() == 0 {
		t.Error("nothing was sent")
	}
}

// TestMultiSendTagsPerCopy: each port's copy of a flooded frame carries
// the tag of that port's policy.
func TestMultiSendTagsPerCopy(t *testing.T) {
	ms := &fakeMultiSender{batch: 1024, record: true, sent: map[string][]Frame{}}
	br, ports, _ := newMultiBridge(t, ms, "mtrunk", "maccess", "mtrunk2", "mother")
	for name, p := range map[string]policy.Policy{
		"mtrunk":  {VLAN: policy.TrunkVLANs(0, 10, 20)},
		"maccess": {VLAN: policy.AccessVLAN(10)},
		"mtrunk2": {VLAN: policy.TrunkVLANs(0, 10)},
		"mother":  {VLAN: policy.AccessVLAN(20)},
	} {
		if err := br.SetPolicy(name, p); err != nil {
			t.Fatal(err)
		}
	}
	f := broadcasts(1, 60)[0]
	f.Tagged, f.TPID, f.VLAN = true, EtherTypeVLAN, 0x2000|10
	portWorker(br, ports[0]).forward([]Frame{f})
	sent := ms.taken()
	check := func(name string, tagged bool, vlan uint16) {
		t.Helper()
		got := sent[name]
		if len(got) != 1 || got[0].Tagged != tagged || got[0].VLAN != vlan {
			t.Errorf("port %s was sent %+v, want one frame tagged %v with TCI %#x", name, got, tagged, vlan)
		}
	}
	check("maccess", false, 0)
	check("mtrunk2", true, 0x2000|10)
	if len(sent["mother"]) != 0 {
		t.Errorf("port of another VLAN was sent %d frames", len(sent["mother"]))
	}
}

// TestMultiSendAllocs holds the MultiSender's path to no allocation per
// batch: a flood, unicast, refusals and a port being removed.
func TestMultiSendAllocs(t *testing.T) {
	ms := &fakeMultiSender{batch: 32}
	ms.refuse = func(to *countingPort, f *Frame) error {
		if to.name == "m2" {
			return errRefuseOther
		}
		return nil
	}
	br, ports, _ := newMultiBridge(t, ms, append(portNames("m", 6), "own")...)
	ports[3].mtx.gone.Store(true)
	host := []byte{0x02, 0, 0, 0, 0, 9}
	br.fdb.Learn(fdb.MakeKey(0, host), ports[1].id, fdb.Now())
	batch := broadcasts(16, 60)
	for i := range 8 {
		copy(batch[i].Data, host)
	}
	w := portWorker(br, ports[0])
	if allocs := testing.AllocsPerRun(100, func() { w.forward(batch) }); allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
	runs := uint64(101)
	for i, want := range []CounterValues{
		1: {TxPackets: 16 * runs, TxBytes: 60 * 16 * runs},
		2: {Drops: drops(DropTxError, 8*runs)},
		3: {Drops: drops(DropPortRemoved, 8*runs)},
		4: {TxPackets: 8 * runs, TxBytes: 60 * 8 * runs},
		5: {TxPackets: 8 * runs, TxBytes: 60 * 8 * runs},
		6: {TxPackets: 8 * runs, TxBytes: 60 * 8 * runs},
	} {
		if i == 0 {
			continue
		}
		if got := ports[i].c.Load(); got != want {
			t.Errorf("port %s: counters %+v, want %+v", ports[i].info.Name, got, want)
		}
	}
}

// BenchmarkFloodSend is a flood of a batch of 64 broadcasts to 256 ports,
// forwarded and flushed, each port with its own Send or all through a
// MultiSender. It reports the send calls per batch (each a system call on
// a real port) beside the time.
func BenchmarkFloodSend(b *testing.B) {
	const ports = 256
	for _, mode := range []string{"port-send", "multisend"} {
		b.Run(fmt.Sprintf("ports=%d/%s", ports, mode), func(b *testing.B) {
			prefix := "own"
			if mode == "multisend" {
				prefix = "m"
			}
			ms := &fakeMultiSender{batch: 1024}
			br, list, cps := newMultiBridge(b, ms, portNames(prefix, ports)...)
			batch := broadcasts(64, 64)
			w := portWorker(br, list[0])
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w.forward(batch)
			}
			calls := ms.calls.Load()
			for _, cp := range cps {
				calls += cp.sends.Load()
			}
			b.ReportMetric(float64(calls)/float64(b.N), "sends/op")
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

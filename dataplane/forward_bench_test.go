package dataplane

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// nullPort discards what it is sent and receives nothing until closed; it
// isolates the forwarding logic from any device.
type nullPort struct {
	name   string
	closed chan struct{}
}

func newNullPort(name string) *nullPort { return &nullPort{name, make(chan struct{})} }

func (p *nullPort) Name() string   { return p.name }
func (p *nullPort) BatchSize() int { return 64 }
func (p *nullPort) Receive(f []Frame) (int, error) {
	<-p.closed
	return 0, net.ErrClosed
}
func (p *nullPort) Send(f []Frame) (int, error) { return len(f), nil }
func (p *nullPort) Close() error                { close(p.closed); return nil }

// newForwardBridge attaches ps to a new bridge, closed when the test ends,
// and returns the bridge and its ports in the order given. The ports' own
// workers only wait for Receive to fail: tests and benchmarks drive a worker
// of their own with forward.
func newForwardBridge(tb testing.TB, ps ...Port) (*Bridge, []*port) {
	tb.Helper()
	br := NewBridge(BridgeConfig{Name: "bench", FDB: fdb.DefaultConfig()}, slog.New(slog.DiscardHandler))
	tb.Cleanup(func() { br.Close() })
	for _, p := range ps {
		if _, err := br.AddPort(p, PortInfo{Name: p.Name()}); err != nil {
			tb.Fatal(err)
		}
	}
	return br, br.ports.Load().list
}

// portWorker returns a worker for port in, as run makes it.
func portWorker(br *Bridge, in *port) *worker {
	return newWorker(br, in, in.p.BatchSize())
}

// BenchmarkForward measures the forwarding loop alone: a batch of 64-byte
// frames from one port to learned hosts behind other ports. It reports
// frames/s on one core; TestForwardAllocs holds it to 0 allocs/op.
func BenchmarkForward(b *testing.B) {
	for _, ports := range []int{2, 16, 256} {
		b.Run(fmt.Sprintf("ports=%d", ports), func(b *testing.B) {
			ps := make([]Port, ports)
			for i := range ps {
				ps[i] = newNullPort(fmt.Sprint("p", i))
			}
			br, list := newForwardBridge(b, ps...)
			// One destination host behind each other port, learned up front.
			batch := make([]Frame, 64)
			for i := range batch {
				dst := []byte{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
				out := list[1+i%(ports-1)]
				br.fdb.Learn(fdb.MakeKey(0, dst), out.id, fdb.Now())
				d := make([]byte, 64)
				copy(d, dst)
				copy(d[6:], []byte{0x02, 0xff, 0, 0, 0, 1})
				batch[i] = Frame{Data: d}
			}
			w := portWorker(br, list[0])
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w.forward(batch)
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkForwardPolicy is BenchmarkForward's 16 ports with policies: the
// ingress port an access port with anti-spoofing, the others trunks, so
// every IPv4 frame is checked, and tagged for its egress port.
func BenchmarkForwardPolicy(b *testing.B) {
	const ports = 16
	ps := make([]Port, ports)
	for i := range ps {
		ps[i] = newNullPort(fmt.Sprint("p", i))
	}
	br, list := newForwardBridge(b, ps...)
	src := []byte{0x02, 0xff, 0, 0, 0, 1}
	guest := policy.Policy{VLAN: policy.AccessVLAN(10), AntiSpoof: true, MAC: src,
		Allowed: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}}
	for i, q := range list {
		p := policy.Policy{VLAN: policy.TrunkVLANs(0, 10, 20)}
		if i == 0 {
			p = guest
		}
		if err := br.SetPolicy(q.info.Name, p); err != nil {
			b.Fatal(err)
		}
	}
	batch := make([]Frame, 64)
	for i := range batch {
		dst := []byte{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		br.fdb.Learn(fdb.MakeKey(10, dst), list[1+i%(ports-1)].id, fdb.Now())
		d := make([]byte, 64)
		copy(d, dst)
		copy(d[6:], src)
		d[12], d[13], d[14] = 0x08, 0x00, 0x45
		copy(d[26:], []byte{192, 0, 2, 1})
		batch[i] = Frame{Data: d}
	}
	w := portWorker(br, list[0])
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.forward(batch)
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkFlood is a burst of broadcasts from one port (every guest's
// IPv6 autoconfiguration at once): a batch of 64, each sent to every other
// port. It reports frames received per second.
func BenchmarkFlood(b *testing.B) {
	for _, ports := range []int{16, 256, 1024} {
		b.Run(fmt.Sprintf("ports=%d", ports), func(b *testing.B) {
			ps := make([]Port, ports)
			for i := range ps {
				ps[i] = newNullPort(fmt.Sprint("p", i))
			}
			br, list := newForwardBridge(b, ps...)
			batch := make([]Frame, 64)
			for i := range batch {
				d := make([]byte, 64)
				copy(d, []byte{0x33, 0x33, 0, 0, 0, 2, 0x02, 0xff, 0, 0, 0, 1})
				batch[i] = Frame{Data: d}
			}
			w := portWorker(br, list[0])
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w.forward(batch)
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

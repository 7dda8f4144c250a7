package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
)

// env is a network namespace where veth pairs stand for ports and guests,
// with the XDP program that feeds AF_XDP sockets on the port ends.
type env struct {
	t    testing.TB
	ns   string
	fp   *bpf.FastPath
	umem *UMEM
}

func newEnv(t testing.TB, frames int) *env {
	nstest.RequireRoot(t)
	e := &env{t: t, ns: nstest.Netns(t, "xsw-xsk")}
	fp, err := bpf.Load(bpf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.fp = fp
	e.umem, err = NewUMEM(UMEMConfig{Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the UMEM and the programs go after the
	// ports.
	t.Cleanup(func() {
		if err := e.umem.Close(); err != nil {
			t.Error(err)
		}
		fp.Close()
	})
	return e
}

// port creates the veth pair name (port end) and guest, opens an AF_XDP
// port on name, and returns it with a raw socket on the guest end.
func (e *env) port(name, guest string, cfg Config) (*Port, *nstest.Raw) {
	nstest.Veth(e.t, e.ns, name, e.ns, guest)
	return e.open(name, e.umem, cfg), nstest.OpenRaw(e.t, e.ns, guest)
}

// open opens an AF_XDP port on umem on the existing interface name, with
// the XDP program handing its sockets every frame.
func (e *env) open(name string, umem *UMEM, cfg Config) *Port {
	t := e.t
	var p *Port
	nstest.In(t, e.ns, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		n := QueueCount(name)
		base, err := e.fp.ReserveXSK(n)
		if err != nil {
			return err
		}
		cfg.Queues = n
		cfg.Register = func(q, fd int) error { return e.fp.RegisterXSK(base+uint32(q), fd) }
		if p, err = Open(name, umem, cfg); err != nil {
			return err
		}
		_, err = e.fp.AttachPort(bpf.Port{Name: name, Index: ifi.Index, Bridge: 1, MTU: ifi.MTU, Mode: bpf.ModeOff, Kind: "veth", XSK: true, XSKBase: base, XSKQueues: n})
		return err
	})
	// A port closed while the dataplane holds frames of its last Receive
	// lets go of them at the next one.
	t.Cleanup(func() {
		p.Close()
		p.Receive(nil)
	})
	return p
}

// frame returns a test frame of size bytes carrying seq.
func frame(src byte, seq uint32, size int) []byte {
	f := make([]byte, size)
	copy(f, []byte{0x02, 0, 0, 0, 0, 0xee, 0x02, 0, 0, 0, 0, src, 0x88, 0xb5})
	binary.BigEndian.PutUint32(f[14:], seq)
	for i := 18; i < size; i++ {
		f[i] = byte(seq) + byte(i)
	}
	return f
}

func checkFrame(t *testing.T, f []byte, size int) uint32 {
	t.Helper()
	if len(f) != size {
		t.Fatalf("frame of %d bytes, want %d", len(f), size)
	}
	seq := binary.BigEndian.Uint32(f[14:])
	for i := 18; i < size; i++ {
		if f[i] != byte(seq)+byte(i) {
			t.Fatalf("frame %d: byte %d is %#x, want %#x", seq, i, f[i], byte(seq)+byte(i))
		}
	}
	return seq
}

// receiver runs a Receive loop and copies what it gets.
type receiver struct {
	frames chan []byte
	done   chan struct{}
	err    error
}

func receive(t *testing.T, p *Port) *receiver {
	r := &receiver{frames: make(chan []byte, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]dataplane.Frame, p.BatchSize())
		for {
			n, err := p.Receive(buf)
			if err != nil {
				r.err = err
				return
			}
			for _, f := range buf[:n] {
				r.frames <- append([]byte(nil), f.Data...)
			}
		}
	}()
	t.Cleanup(func() {
		p.Close()
		<-r.done
		if !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("Receive ended with %v, want net.ErrClosed", r.err)
		}
	})
	return r
}

// expect collects n frames of size bytes and checks each arrived once.
func expect(t *testing.T, next func() ([]byte, bool), n, size int) {
	t.Helper()
	seen := make([]bool, n)
	for got := 0; got < n; got++ {
		f, ok := next()
		if !ok {
			t.Fatalf("%d of %d frames arrived", got, n)
		}
		seq := checkFrame(t, f, size)
		if int(seq) >= n || seen[seq] {
			t.Fatalf("frame %d arrived twice or was never sent", seq)
		}
		seen[seq] = true
	}
}

func (r *receiver) next() ([]byte, bool) {
	select {
	case f := <-r.frames:
		return f, true
	case <-time.After(2 * time.Second):
		return nil, false
	}
}

func TestReceiveAndSend(t *testing.T) {
	e := newEnv(t, 1024)
	p, g := e.port("x0", "g0", Config{})
	r := receive(t, p)
	const n, size = 3000, 200
	for i := range n {
		g.Send(t, frame(1, uint32(i), size))
		if i%64 == 63 {
			waitFor(func() bool { return p.Stats().RxPackets > uint64(i) })
		}
	}
	expect(t, r.next, n, size)

	for i := 0; i < n; i += 50 {
		batch := make([]dataplane.Frame, 50)
		for j := range batch {
			batch[j] = dataplane.Frame{Data: frame(2, uint32(i+j), size)}
		}
		if sent, err := p.Send(batch); sent != len(batch) || err != nil {
			t.Fatalf("Send: %d of %d, %v", sent, len(batch), err)
		}
	}
	expect(t, func() ([]byte, bool) { return g.Recv(t, 2*time.Second) }, n, size)
	if s := p.Stats(); s.RxPackets != n || s.TxPackets != n {
		t.Errorf("stats %+v: want %d received and %d sent", s, n, n)
	}
}

// forward runs a loop that receives on in and sends to outs, as the
// dataplane does: exclusive when there is one egress.
func forward(in *Port, outs ...*Port) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]dataplane.Frame, in.BatchSize())
		for {
			n, err := in.Receive(buf)
			if err != nil {
				return
			}
			for i := range buf[:n] {
				buf[i].Exclusive = len(outs) == 1
			}
			for _, o := range outs {
				o.Send(buf[:n])
			}
		}
	}()
	return done
}

func TestForwardWithoutCopies(t *testing.T) {
	e := newEnv(t, 1024)
	a, ga := e.port("x1", "g1", Config{})
	b, gb := e.port("x2", "g2", Config{})
	if !a.SharesUMEM() || !b.SharesUMEM() {
		t.Fatal("ports on one UMEM do not share it")
	}
	done := forward(a, b)
	const n, size = 5000, 100
	go func() {
		for i := range n {
			ga.Send(t, frame(1, uint32(i), size))
			if i%64 == 63 {
				waitFor(func() bool { return a.Stats().RxPackets > uint64(i) })
			}
		}
	}()
	defer func() {
		full, trunc := a.KernelDrops()
		t.Logf("a: %+v kernel drops %d %d; b: %+v", a.Stats(), full, trunc, b.Stats())
	}()
	expect(t, func() ([]byte, bool) { return gb.Recv(t, 2*time.Second) }, n, size)
	if s := b.Stats(); s.TxZeroCopy != n {
		t.Errorf("%d of %d frames sent without a copy", s.TxZeroCopy, n)
	}
	a.Close()
	<-done
	b.Close()
	if free := e.umem.Free(); free != e.umem.Frames() {
		t.Errorf("%d of %d UMEM frames free once every port is closed", free, e.umem.Frames())
	}
}

// TestNoFrameLeaks forwards unicast and floods between three ports from
// three guests at once, closes one port in the middle, and counts the
// UMEM's free frames at the end.
func TestNoFrameLeaks(t *testing.T) {
	e := newEnv(t, 512) // few frames: the pool runs dry under load
	a, ga := e.port("x3", "g3", Config{})
	b, gb := e.port("x4", "g4", Config{})
	c, gc := e.port("x5", "g5", Config{})
	dones := []chan struct{}{forward(a, b), forward(b, a, c), forward(c, a)}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for k, g := range []*nstest.Raw{ga, gb, gc} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				g.Send(t, frame(byte(k), uint32(i), 64+i%1400))
			}
		}()
	}
	// Drain what the guests receive so their sockets do not hold back;
	// waited for like the senders, before the test closes the sockets.
	for _, g := range []*nstest.Raw{ga, gb, gc} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				g.Recv(t, 50*time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	c.Close() // under traffic: its frames, also those others took, come back
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	a.Close()
	b.Close()
	for _, d := range dones {
		<-d
	}
	if sa, sb := a.Stats(), b.Stats(); sa.RxPackets == 0 || sb.RxPackets == 0 || sb.TxZeroCopy == 0 {
		t.Fatalf("too little traffic to prove anything: %+v %+v", sa, sb)
	}
	if free := e.umem.Free(); free != e.umem.Frames() {
		t.Errorf("%d of %d UMEM frames free once every port is closed", free, e.umem.Frames())
	}
}

// TestJumboFrames has a port on a link of MTU 9000 receive and send frames
// that span several UMEM frames, whole, and refuse what exceeds the MTU.
func TestJumboFrames(t *testing.T) {
	e := newEnv(t, 256)
	nstest.Veth(t, e.ns, "x6", e.ns, "g6")
	nstest.Run(t, "ip", "-n", e.ns, "link", "set", "x6", "mtu", "9000")
	nstest.Run(t, "ip", "-n", e.ns, "link", "set", "g6", "mtu", "9000")
	p := e.open("x6", e.umem, Config{})
	g := nstest.OpenRaw(t, e.ns, "g6")
	if !p.MultiBuffer() || p.MaxMTU() < 9000 {
		t.Fatalf("port on a link of MTU 9000: multi-buffer %v, carries MTU %d", p.MultiBuffer(), p.MaxMTU())
	}
	r := receive(t, p)
	sizes := []int{100, 3000, e.umem.FrameSize(), 2*e.umem.FrameSize() + 1, 9014}
	for i, size := range sizes {
		g.Send(t, frame(1, uint32(i), size))
	}
	for i, size := range sizes {
		f, ok := r.next()
		if !ok {
			t.Fatalf("%d of %d frames arrived", i, len(sizes))
		}
		if seq := checkFrame(t, f, size); seq != uint32(i) {
			t.Fatalf("frame %d arrived as number %d", seq, i)
		}
	}
	if _, dropped := p.KernelDrops(); dropped != 0 {
		t.Errorf("kernel counted %d dropped frames, want 0", dropped)
	}

	batch := make([]dataplane.Frame, len(sizes))
	for i, size := range sizes {
		batch[i] = dataplane.Frame{Data: frame(2, uint32(i), size)}
	}
	if sent, err := p.Send(batch); sent != len(batch) || err != nil {
		t.Fatalf("Send: %d of %d, %v", sent, len(batch), err)
	}
	for i, size := range sizes {
		f, ok := g.Recv(t, 2*time.Second)
		if !ok {
			t.Fatalf("%d of %d frames arrived", i, len(sizes))
		}
		if seq := checkFrame(t, f, size); seq != uint32(i) {
			t.Fatalf("frame %d arrived as number %d", seq, i)
		}
	}
	// Sending one longer than the MTU is refused, not truncated.
	_, err := p.Send([]dataplane.Frame{{Data: frame(2, 0, 9015)}})
	if !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("Send of 9015 bytes: %v, want EMSGSIZE", err)
	}
	if s := p.Stats(); s.TxPackets != uint64(len(sizes)) || s.TxTooBig != 1 {
		t.Errorf("stats %+v: want %d sent, 1 too big", s, len(sizes))
	}
}

// TestJumboBurst receives more multi-buffer frames than one Receive joins,
// and forwards them to a second port: each arrives once and whole.
func TestJumboBurst(t *testing.T) {
	e := newEnv(t, 2048)
	nstest.Veth(t, e.ns, "x9", e.ns, "g9")
	nstest.Veth(t, e.ns, "x10", e.ns, "g10")
	for _, l := range []string{"x9", "g9", "x10", "g10"} {
		nstest.Run(t, "ip", "-n", e.ns, "link", "set", l, "mtu", "9000")
	}
	in, out := e.open("x9", e.umem, Config{}), e.open("x10", e.umem, Config{})
	gin, gout := nstest.OpenRaw(t, e.ns, "g9"), nstest.OpenRaw(t, e.ns, "g10")
	const n, size, first = 4 * joinSlots, 9014, joinSlots + joinSlots/2
	// The first frames wait on the RX ring, more than one Receive joins.
	for i := range first {
		gin.Send(t, frame(1, uint32(i), size))
	}
	waitFor(func() bool { return in.queues[0].rx.avail() >= 3*first })
	if got := in.queues[0].rx.avail(); got < 3*first {
		t.Fatalf("%d descriptors on the RX ring, want the %d of %d frames", got, 3*first, first)
	}
	done := forward(in, out)
	t.Cleanup(func() {
		in.Close()
		<-done
	})
	for i := first; i < n; i++ {
		gin.Send(t, frame(1, uint32(i), size))
		if i%16 == 15 {
			waitFor(func() bool { return in.Stats().RxPackets > uint64(i) })
		}
	}
	expect(t, func() ([]byte, bool) { return gout.Recv(t, 2*time.Second) }, n, size)
	if full, long := in.KernelDrops(); full+long != 0 {
		t.Errorf("kernel dropped %d frames for a full ring, %d others", full, long)
	}
}

// TestJumboToPortThatNeverReceived: a port that has never received, whose
// fill ring holds only what it is sure of while other ports hold the rest
// of their budget, still takes a frame that spans several UMEM frames.
func TestJumboToPortThatNeverReceived(t *testing.T) {
	e := newEnv(t, 1024)
	e.port("x11", "g11", Config{}) // takes the quarter of the UMEM for ports that never received
	nstest.Veth(t, e.ns, "x12", e.ns, "g12")
	for _, l := range []string{"x12", "g12"} {
		nstest.Run(t, "ip", "-n", e.ns, "link", "set", l, "mtu", "9000")
	}
	p := e.open("x12", e.umem, Config{})
	g := nstest.OpenRaw(t, e.ns, "g12")
	if have := p.queues[0].fill.local - p.queues[0].cons; have >= 64 {
		t.Fatalf("the fill ring holds %d frames: the test needs one short of its target", have)
	}
	r := receive(t, p)
	g.Send(t, frame(1, 0, 9014))
	f, ok := r.next()
	if !ok {
		_, long := p.KernelDrops()
		t.Fatalf("the frame of 9014 bytes did not arrive (%d dropped)", long)
	}
	checkFrame(t, f, 9014)
}

// TestMTUBeyondReach refuses a port on a link whose MTU no AF_XDP socket
// here carries, naming the MTU and the limit.
func TestMTUBeyondReach(t *testing.T) {
	e := newEnv(t, 256)
	nstest.Veth(t, e.ns, "x8", e.ns, "g8")
	nstest.Run(t, "ip", "-n", e.ns, "link", "set", "x8", "mtu", "65000")
	limit := MaxMTU(e.umem.FrameSize(), true)
	nstest.In(t, e.ns, func() error {
		p, err := Open("x8", e.umem, Config{})
		if err == nil {
			p.Close()
			return errors.New("opened a port on a link of MTU 65000")
		}
		if !errors.Is(err, ErrMTU) || !strings.Contains(err.Error(), "MTU 65000") || !strings.Contains(err.Error(), fmt.Sprint(limit)) {
			return fmt.Errorf("error %q: want ErrMTU naming MTU 65000 and the limit %d", err, limit)
		}
		return nil
	})
	if free := e.umem.Free(); free != e.umem.Frames() {
		t.Errorf("%d of %d UMEM frames free after the refusal", free, e.umem.Frames())
	}
}

// waitFor paces a sender: it waits up to a second for cond.
func waitFor(cond func() bool) {
	for deadline := time.Now().Add(time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Microsecond)
	}
}

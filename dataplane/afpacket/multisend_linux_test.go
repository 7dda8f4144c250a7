package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
)

// openMulti opens a MultiSender in ns and closes it when the test ends.
func openMulti(t testing.TB, ns string, cfg MultiConfig) *MultiSender {
	t.Helper()
	var m *MultiSender
	nstest.In(t, ns, func() (err error) {
		m, err = OpenMultiSender(cfg)
		return err
	})
	t.Cleanup(func() { m.Close() })
	return m
}

// openSendOnly opens a SendOnly port on ifname in ns and closes it when the
// test ends.
func openSendOnly(t testing.TB, ns, ifname string) *SendOnly {
	t.Helper()
	var p *SendOnly
	nstest.In(t, ns, func() (err error) {
		p, err = OpenSendOnly(ifname, Config{})
		return err
	})
	t.Cleanup(func() { p.Close() })
	return p
}

// multiSendAll sends frames with m as a worker does: past each refused
// frame. It returns the errnos of the refused frames by index.
func multiSendAll(t testing.TB, m *MultiSender, frames []dataplane.Frame, to []dataplane.Port) map[int]syscall.Errno {
	t.Helper()
	refused := map[int]syscall.Errno{}
	for base := 0; base < len(frames); {
		n, err := m.Send(frames[base:], to[base:])
		if base+n >= len(frames) {
			if err != nil {
				t.Errorf("Send sent all and returned %v", err)
			}
			break
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			t.Fatalf("Send stopped at frame %d with %v, which carries no errno", base+n, err)
		}
		refused[base+n] = errno
		base += n + 1
	}
	return refused
}

// TestMultiSenderDeliversToEachPort sends one batch of frames for four
// ports, interleaved, through one MultiSender: each arrives once, intact
// and in order on its own interface's far end, a tag is put back, a frame
// too long is refused for its port alone, and each port counts its own.
func TestMultiSenderDeliversToEachPort(t *testing.T) {
	nstest.RequireRoot(t)
	nsPort, nsPeer, nsOther := nstest.Netns(t, "xsw-ms"), nstest.Netns(t, "xsw-ms"), nstest.Netns(t, "xsw-ms")
	const ports = 4
	var to []dataplane.Port
	peers := make([]*rawSock, ports)
	for i := range ports {
		nstest.Veth(t, nsPort, fmt.Sprint("port", i), nsPeer, fmt.Sprint("peer", i))
		peers[i] = openRaw(t, nsPeer, fmt.Sprint("peer", i), false)
	}
	// Both kinds of port: with a ring of its own, and send-only.
	ps := []dataplane.Port{openPort(t, nsPort, "port0", Config{})}
	for i := 1; i < ports; i++ {
		ps = append(ps, openSendOnly(t, nsPort, fmt.Sprint("port", i)))
	}
	m := openMulti(t, nsPort, MultiConfig{BatchSize: 8})
	for _, p := range ps {
		if !m.Reaches(p) {
			t.Fatalf("MultiSender does not reach %s", p.Name())
		}
	}
	nstest.Veth(t, nsOther, "port0", nsPeer, "otherpeer")
	if other := openSendOnly(t, nsOther, "port0"); m.Reaches(other) {
		t.Error("MultiSender reaches a port of another network namespace")
	}

	// Five frames per port, interleaved; more than a BatchSize in all.
	var frames []dataplane.Frame
	want := make([][][]byte, ports)
	const tooLong, tagged = 2*ports + 2, 3*ports + 1 // port 2's third frame; port 1's fourth
	for k := range 5 {
		for i := range ports {
			seq := uint32(i*100 + k)
			f := dataplane.Frame{Data: testFrame(seq, 60+i*300+k*50)}
			switch len(frames) {
			case tooLong:
				f.Data = testFrame(seq, 2000)
			case tagged:
				f.Tagged, f.TPID, f.VLAN = true, dataplane.EtherTypeVLAN, 0x2000|5
			}
			if len(frames) != tooLong {
				want[i] = append(want[i], f.Data)
			}
			frames = append(frames, f)
			to = append(to, ps[i])
		}
	}
	refused := multiSendAll(t, m, frames, to)
	if len(refused) != 1 || refused[tooLong] != syscall.EMSGSIZE {
		t.Errorf("refused %v, want frame %d with EMSGSIZE", refused, tooLong)
	}

	isTest := func(f []byte) bool { _, ok := testSeq(f); return ok }
	for i, peer := range peers {
		var got [][]byte
		var tcis []uint16
		for deadline := time.Now().Add(3 * time.Second); len(got) < len(want[i]) && time.Now().Before(deadline); {
			f, aux, ok := peer.recv(t, time.Until(deadline))
			if ok && isTest(f) {
				got = append(got, f)
				tcis = append(tcis, uint16(aux.Vlan_tci))
			}
		}
		if extra := peer.recvMatching(t, 100*time.Millisecond, 1, isTest); len(extra) != 0 {
			got = append(got, extra...)
		}
		if len(got) != len(want[i]) {
			t.Errorf("peer%d received %d frames, want %d", i, len(got), len(want[i]))
			continue
		}
		for k := range got {
			if !bytes.Equal(got[k], want[i][k]) {
				seq, _ := testSeq(got[k])
				t.Errorf("peer%d: frame %d is frame %d, or changed", i, k, seq)
			}
			if i == 1 && k == 3 && tcis[k] != 0x2000|5 {
				t.Errorf("peer1: tagged frame arrived with TCI %#x, want %#x", tcis[k], 0x2000|5)
			}
		}
	}
	for i, p := range ps {
		var st Stats
		switch p := p.(type) {
		case *Port:
			st = p.Stats()
		case *SendOnly:
			st = p.Stats()
		}
		wantTooBig := uint64(0)
		if i == 2 {
			wantTooBig = 1
		}
		if st.TxPackets != uint64(len(want[i])) || st.TxTooBig != wantTooBig {
			t.Errorf("port%d: Stats TxPackets %d, TxTooBig %d; want %d, %d", i, st.TxPackets, st.TxTooBig, len(want[i]), wantTooBig)
		}
	}
}

// TestMultiSenderKeepsSuperFrames sends a TCP super-frame with its
// virtio-net header through a MultiSender: it reaches the far end whole,
// with its segmentation metadata.
func TestMultiSenderKeepsSuperFrames(t *testing.T) {
	nstest.RequireRoot(t)
	pr := newPair(t)
	p := openSendOnly(t, pr.nsPort, "port0")
	m := openMulti(t, pr.nsPort, MultiConfig{})
	peer := openRaw(t, pr.nsPeer, "peer0", true)

	const payload = 30000
	frame := make([]byte, 14+20+20+payload)
	copy(frame, dstMAC)
	copy(frame[6:], srcMAC)
	binary.BigEndian.PutUint16(frame[12:], 0x0800)
	ip := frame[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 1000)
	binary.BigEndian.PutUint16(tcp[2:], 2000)
	tcp[12], tcp[13] = 5<<4, 0x18
	for i := range payload {
		tcp[20+i] = byte(i * 13)
	}
	vnet := dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4,
		HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	if n, err := m.Send([]dataplane.Frame{{Data: frame, VNet: vnet}}, []dataplane.Port{p}); n != 1 || err != nil {
		t.Fatalf("Send = %d, %v; want 1, nil", n, err)
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		b, _, ok := peer.recv(t, time.Until(deadline))
		if !ok {
			break
		}
		if len(b) < dataplane.VNetHdrLen || binary.BigEndian.Uint16(b[dataplane.VNetHdrLen+12:]) != 0x0800 {
			continue
		}
		got, data := decodeVNetHdr(b), b[dataplane.VNetHdrLen:]
		if !bytes.Equal(data, frame) {
			t.Fatalf("super-frame of %d bytes arrived as %d bytes, or changed", len(frame), len(data))
		}
		if got.GSOType != vnet.GSOType || got.GSOSize != vnet.GSOSize {
			t.Errorf("virtio-net header %+v, want GSO type %d size %d", got, vnet.GSOType, vnet.GSOSize)
		}
		if st := p.Stats(); st.TxPackets != 1 || st.TxBytes != uint64(len(frame)) {
			t.Errorf("Stats TxPackets %d, TxBytes %d; want 1, %d", st.TxPackets, st.TxBytes, len(frame))
		}
		return
	}
	t.Fatal("the super-frame did not arrive")
}

// veths creates n veth pairs, portI in nsPort to peerI in nsPeer, up, in
// two batches of ip commands.
func veths(b testing.TB, nsPort, nsPeer string, n int) {
	b.Helper()
	var port, peer strings.Builder
	for i := range n {
		fmt.Fprintf(&port, "link add port%d type veth peer name peer%d netns %s\n", i, i, nsPeer)
		fmt.Fprintf(&port, "link set port%d addrgenmode none up\n", i)
		fmt.Fprintf(&peer, "link set peer%d addrgenmode none up\n", i)
	}
	for _, c := range []struct{ ns, cmds string }{{nsPort, port.String()}, {nsPeer, peer.String()}} {
		cmd := exec.Command("ip", "-n", c.ns, "-batch", "-")
		cmd.Stdin = strings.NewReader(c.cmds)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ip -batch: %v\n%s", err, out)
		}
	}
}

// BenchmarkFloodSend sends a flood of 1 or 64 broadcasts to each of 256
// veths, with each port's Send (a sendmmsg per port) or with one
// MultiSender (a sendmmsg per 1024 frames). It reports the system calls per
// flood and the frames sent per second.
func BenchmarkFloodSend(b *testing.B) {
	nstest.RequireRoot(b)
	const ports = 256
	nsPort, nsPeer := nstest.Netns(b, "xsw-msb"), nstest.Netns(b, "xsw-msb")
	veths(b, nsPort, nsPeer, ports)
	ps := make([]*SendOnly, ports)
	for i := range ps {
		ps[i] = openSendOnly(b, nsPort, fmt.Sprint("port", i))
	}
	m := openMulti(b, nsPort, MultiConfig{})
	for _, batch := range []int{1, 64} {
		flood := make([]dataplane.Frame, batch)
		for i := range flood {
			f := testFrame(uint32(i), 64)
			copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			flood[i].Data = f
		}
		var frames []dataplane.Frame
		var to []dataplane.Port
		for _, p := range ps {
			for _, f := range flood {
				frames = append(frames, f)
				to = append(to, p)
			}
		}
		// Refused frames (a peer's queue full) are skipped, as a worker
		// does, and counted.
		report := func(b *testing.B, calls, refused int) {
			b.ReportMetric(float64(calls)/float64(b.N), "syscalls/op")
			b.ReportMetric(float64(b.N*len(frames)-refused)/b.Elapsed().Seconds(), "frames/s")
			b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
		}
		b.Run(fmt.Sprintf("frames=%d/port-send", batch), func(b *testing.B) {
			b.ReportAllocs()
			calls, refused := 0, 0
			for b.Loop() {
				for _, p := range ps {
					for rest := flood; len(rest) > 0; {
						n, _ := p.Send(rest)
						calls++
						if n == len(rest) {
							break
						}
						refused++
						rest = rest[n+1:]
					}
				}
			}
			report(b, calls, refused)
		})
		b.Run(fmt.Sprintf("frames=%d/multisend", batch), func(b *testing.B) {
			b.ReportAllocs()
			calls, refused := 0, 0
			for b.Loop() {
				for rest, dst := frames, to; len(rest) > 0; calls++ {
					k := min(len(rest), m.BatchSize())
					n, _ := m.Send(rest[:k], dst[:k])
					if n < k {
						refused++
						n++
					}
					rest, dst = rest[n:], dst[n:]
				}
			}
			report(b, calls, refused)
		})
	}
}

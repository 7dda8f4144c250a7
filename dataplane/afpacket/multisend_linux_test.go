package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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

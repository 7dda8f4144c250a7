package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
)

// startTap loads the socket filter, opens a tap with it in ns and runs a
// Receive loop on it until the test ends, as startShared does.
func startTap(t *testing.T, ns string, cfg SharedConfig) (*Shared, *bpf.SockFilter, chan sharedRx) {
	t.Helper()
	f, err := bpf.LoadSockFilter()
	if err != nil {
		t.Fatalf("socket filter: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	var s *Shared
	nstest.In(t, ns, func() (err error) {
		s, err = OpenTap(cfg, f.FD())
		return err
	})
	return s, f, receiveAll(t, s)
}

// receiveAll runs a Receive loop on s until the test ends, copying what it
// gets into the returned channel, and checks that Close ends it.
func receiveAll(t *testing.T, s *Shared) chan sharedRx {
	ch := make(chan sharedRx, 1<<14)
	done := make(chan error, 1)
	go func() {
		frames := make([]dataplane.Frame, s.BatchSize())
		ifs := make([]int32, len(frames))
		for {
			n, err := s.Receive(frames, ifs)
			if err != nil {
				done <- err
				return
			}
			for i, f := range frames[:n] {
				ch <- sharedRx{rxFrame{append([]byte(nil), f.Data...), f.VNet, f.Tagged, f.VLAN, f.TPID}, ifs[i]}
			}
		}
	}()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Receive loop ended with %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Receive did not return after Close")
		}
	})
	return ch
}

// collect returns the test frames received until quiet passes without one,
// by sequence number.
func collect(t *testing.T, ch chan sharedRx, quiet time.Duration) map[uint32]sharedRx {
	t.Helper()
	got := map[uint32]sharedRx{}
	for {
		select {
		case f := <-ch:
			seq, ok := testSeq(f.data)
			if !ok && len(f.data) > macsLen+PuntHeaderLen && binary.BigEndian.Uint16(f.data[macsLen:]) == puntTest {
				seq, ok = testSeq(append(f.data[:macsLen:macsLen], f.data[macsLen+PuntHeaderLen:]...))
			}
			if !ok {
				continue // the kernel's own frames (IPv6 autoconfiguration)
			}
			if _, dup := got[seq]; dup {
				t.Fatalf("frame %d received twice", seq)
			}
			got[seq] = f
		case <-time.After(quiet):
			return got
		}
	}
}

func TestTapReceivesTheFilteredPortsOnly(t *testing.T) {
	nstest.RequireRoot(t)
	nsPort, nsPeer := nstest.Netns(t, "xsw-tap"), nstest.Netns(t, "xsw-tap")
	names := []string{"port0", "port1", "port2"}
	peers := make([]*rawSock, len(names))
	idx := make([]int32, len(names))
	for i, n := range names {
		nstest.Veth(t, nsPort, n, nsPeer, "peer"+n[4:])
		peers[i] = openRaw(t, nsPeer, "peer"+n[4:], false)
		idx[i] = ifindexIn(t, nsPort, n)
	}
	s, f, ch := startTap(t, nsPort, SharedConfig{Frames: 512})
	for _, i := range idx[:2] {
		if err := f.Add(int(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	// What the switch sends on a port must not come back.
	var tx *SendOnly
	nstest.In(t, nsPort, func() (err error) {
		tx, err = OpenSendOnly("port0", Config{})
		return err
	})
	t.Cleanup(func() { tx.Close() })

	const count = 90
	for i := range uint32(count) {
		// Any ethertype, even the punt one, arrives as it was sent.
		frame := testFrame(i, 60+int(i)*37%1400)
		if i%9 == 0 {
			frame = punted(frame)
		}
		peers[i%3].send(t, frame)
	}
	if n, err := tx.Send([]dataplane.Frame{{Data: testFrame(5000, 100)}}); n != 1 || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	got := collect(t, ch, 300*time.Millisecond)
	for i := range uint32(count) {
		r, ok := got[i]
		if i%3 == 2 {
			if ok {
				t.Errorf("frame %d of port2, not in the filter, received", i)
			}
			continue
		}
		want := testFrame(i, 60+int(i)*37%1400)
		if i%9 == 0 {
			want = punted(want)
		}
		switch {
		case !ok:
			t.Errorf("frame %d of port%d not received; stats %+v", i, i%3, s.Stats())
		case !bytes.Equal(r.data, want):
			t.Errorf("frame %d: % x, want % x", i, r.data, want)
		case r.ifindex != idx[i%3]:
			t.Errorf("frame %d: ifindex %d, want %d", i, r.ifindex, idx[i%3])
		}
	}
	if _, ok := got[5000]; ok {
		t.Error("a frame the switch sent came back")
	}

	// Out of the filter, a port's frames stop.
	if err := f.Delete(int(idx[1])); err != nil {
		t.Fatal(err)
	}
	peers[1].send(t, testFrame(6001, 100))
	peers[0].send(t, testFrame(6000, 100))
	got = collect(t, ch, 300*time.Millisecond)
	if _, ok := got[6000]; !ok {
		t.Error("frame of port0 not received after port1 left the filter")
	}
	if _, ok := got[6001]; ok {
		t.Error("frame of port1 received after it left the filter")
	}
	if st := s.Stats(); st.RxDropped != 0 || st.RxTruncated != 0 {
		t.Errorf("stats %+v, want nothing dropped", st)
	}
}

func TestTapKeepsSuperFrames(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "xsw-tap")
	tap := openTap(t, ns, "tap0")
	idx := ifindexIn(t, ns, "tap0")
	_, f, ch := startTap(t, ns, SharedConfig{})
	if err := f.Add(int(idx), 0); err != nil {
		t.Fatal(err)
	}

	// An IPv4 TCP super-frame, checksum left to offload, as a guest with
	// offloads on hands it over.
	const payload = 30000
	frame := make([]byte, 14+20+20+payload)
	copy(frame, dstMAC)
	copy(frame[6:], srcMAC)
	binary.BigEndian.PutUint16(frame[12:], 0x0800)
	ip := frame[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], 1000)
	binary.BigEndian.PutUint16(ip[22:], 2000)
	ip[32], ip[33] = 5<<4, 0x18
	want := dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4,
		HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	hdr := make([]byte, dataplane.VNetHdrLen)
	encodeVNetHdr(hdr, want, 0)
	// A short frame before and after: all three arrive in order.
	short := testFrame(1, 100)
	for _, w := range [][]byte{short, frame, short} {
		h := make([]byte, dataplane.VNetHdrLen)
		if len(w) == len(frame) {
			h = hdr
		}
		if _, err := tap.Write(append(h, w...)); err != nil {
			t.Fatalf("tap write: %v", err)
		}
	}
	for i, w := range [][]byte{short, frame, short} {
		var r sharedRx
		for {
			r = recvShared(t, ch)
			if len(r.data) >= 14 && binary.BigEndian.Uint16(r.data[12:]) != unix.ETH_P_IPV6 {
				break // not the kernel's own IPv6 autoconfiguration
			}
		}
		if !bytes.Equal(r.data, w) || r.ifindex != idx {
			t.Fatalf("frame %d: %d bytes on ifindex %d, want %d bytes on %d", i, len(r.data), r.ifindex, len(w), idx)
		}
		if len(w) == len(frame) && (r.vnet.GSOType != want.GSOType || r.vnet.GSOSize != want.GSOSize ||
			r.vnet.CsumStart != want.CsumStart || r.vnet.CsumOffset != want.CsumOffset) {
			t.Errorf("virtio-net header %+v, want %+v", r.vnet, want)
		}
	}
}

func TestOpenTapNeedsAFilter(t *testing.T) {
	if _, err := OpenTap(SharedConfig{}, -1); !errors.Is(err, unix.EBADF) {
		t.Errorf("OpenTap without a filter: %v, want EBADF", err)
	}
}

func TestRingPortReceivesAndSends(t *testing.T) {
	pr := newPair(t)
	var p *RingPort
	nstest.In(t, pr.nsPort, func() (err error) {
		p, err = OpenRing("port0", Config{BlockSize: 128 << 10, BlockCount: 2, BatchSize: 4})
		return err
	})
	if n := p.rx.ring.count; n != 128 {
		t.Errorf("ring of %d slots, want 128 (256 KiB of 2 KiB slots)", n)
	}
	peer := openRaw(t, pr.nsPeer, "peer0", false)
	done := make(chan error, 1)
	ch := make(chan []byte, 1024)
	go func() {
		frames := make([]dataplane.Frame, p.BatchSize())
		for {
			n, err := p.Receive(frames)
			if err != nil {
				done <- err
				return
			}
			for _, f := range frames[:n] {
				ch <- append([]byte(nil), f.Data...)
			}
		}
	}()
	// More frames than slots, one at a time: each arrives at once, no
	// timer involved, and the ring wraps.
	const count = 300
	for i := range uint32(count) {
		want := testFrame(i, 100+int(i)*4)
		peer.send(t, want)
		deadline := time.After(5 * time.Second)
		for got := false; !got; {
			select {
			case f := <-ch:
				if _, ok := testSeq(f); ok {
					if !bytes.Equal(f, want) {
						t.Fatalf("frame %d: % x, want % x", i, f, want)
					}
					got = true
				}
			case <-deadline:
				t.Fatalf("frame %d not received within 5s", i)
			}
		}
	}
	want := testFrame(99, 100)
	if n, err := p.Send([]dataplane.Frame{{Data: want}}); n != 1 || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	if got := peer.recvMatching(t, 5*time.Second, 1, func(f []byte) bool { _, ok := testSeq(f); return ok }); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("peer got %x, want %x", got, want)
	}
	if st := p.Stats(); st.RxPackets < count || st.TxPackets != 1 {
		t.Errorf("stats %+v, want ≥ %d received, 1 sent", st, count)
	}
	p.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Receive after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive did not return after Close")
	}
	p.Receive(make([]dataplane.Frame, 1)) // unmaps the ring
}

func TestTapsTakeEachFrameOnceAndFillTheirOwnRingsOnly(t *testing.T) {
	nstest.RequireRoot(t)
	nsPort, nsPeer := nstest.Netns(t, "xsw-taps"), nstest.Netns(t, "xsw-taps")
	const ports = 5
	peers := make([]*rawSock, ports)
	idx := make([]int32, ports)
	for i := range ports {
		n := fmt.Sprint("port", i)
		nstest.Veth(t, nsPort, n, nsPeer, fmt.Sprint("peer", i))
		peers[i] = openRaw(t, nsPeer, fmt.Sprint("peer", i), false)
		idx[i] = ifindexIn(t, nsPort, n)
	}
	f, err := bpf.LoadSockFilter()
	if err != nil {
		t.Fatalf("socket filter: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	// Taps 0 and 1 receive; nobody reads tap 2.
	var taps []*Shared
	nstest.In(t, nsPort, func() (err error) {
		taps, err = OpenTaps(SharedConfig{Frames: 256}, 3, f.FD(), f.FanoutFD())
		return err
	})
	t.Cleanup(func() {
		for _, s := range taps {
			s.Close()
		}
	})
	if len(taps) != 3 {
		t.Fatalf("OpenTaps opened %d taps, want 3", len(taps))
	}
	first := -1 // tap 0's group
	for i, s := range taps {
		var group int
		var err error
		s.rc.Control(func(fd uintptr) { group, err = unix.GetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_FANOUT) })
		if i == 0 {
			first = group
		}
		if err != nil || group != first || group&0xffff0000 == 0 {
			t.Errorf("tap %d in the fanout group %#x (%v), want tap 0's, %#x", i, group, err, first)
		}
	}
	chs := []chan sharedRx{receiveAll(t, taps[0]), receiveAll(t, taps[1])}
	tapOf := []int{0, 0, 1, 2, -1} // port 4 is in no tap
	for p, tap := range tapOf {
		if tap >= 0 {
			if err := f.Add(int(idx[p]), tap); err != nil {
				t.Fatal(err)
			}
		}
	}
	var tx *SendOnly
	nstest.In(t, nsPort, func() (err error) {
		tx, err = OpenSendOnly("port0", Config{})
		return err
	})
	t.Cleanup(func() { tx.Close() })

	const count = 400
	testPort := []int{0, 1, 2, 4}
	for i := range uint32(count) {
		peers[testPort[i%4]].send(t, testFrame(i, 60+int(i)*37%1400))
		for range 3 {
			peers[3].send(t, testFrame(10000+i, 100)) // the flood of port 3, in tap 2
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // taps 0 and 1 keep up
		}
	}
	if n, err := tx.Send([]dataplane.Frame{{Data: testFrame(5000, 100)}}); n != 1 || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	got := []map[uint32]sharedRx{collect(t, chs[0], 300*time.Millisecond), collect(t, chs[1], 10*time.Millisecond)}
	for i := range uint32(count) {
		p := testPort[i%4]
		r0, in0 := got[0][i]
		r1, in1 := got[1][i]
		switch want := tapOf[p]; {
		case in0 && in1:
			t.Errorf("frame %d of port%d received by both taps", i, p)
		case want < 0 && (in0 || in1):
			t.Errorf("frame %d of port%d, in no tap, received", i, p)
		case want == 0 && (!in0 || r0.ifindex != idx[p]):
			t.Errorf("frame %d of port%d on tap 0: %v (ifindex %d), want it there, of ifindex %d", i, p, in0, r0.ifindex, idx[p])
		case want == 1 && (!in1 || r1.ifindex != idx[p]):
			t.Errorf("frame %d of port%d on tap 1: %v (ifindex %d), want it there, of ifindex %d", i, p, in1, r1.ifindex, idx[p])
		}
	}
	for tap, g := range got {
		if _, ok := g[5000]; ok {
			t.Errorf("a frame the switch sent came back on tap %d", tap)
		}
		for seq := range g {
			if seq >= 10000 && seq < 10000+count {
				t.Errorf("frame %d of port3, in tap 2, received by tap %d", seq, tap)
				break
			}
		}
		if st := taps[tap].Stats(); st.RxDropped != 0 {
			t.Errorf("tap %d dropped %d frames, want none: tap 2's flood is tap 2's", tap, st.RxDropped)
		}
	}
	if st := taps[2].Stats(); st.RxDropped == 0 {
		t.Errorf("tap 2, never read, stats %+v: want its ring full and drops counted", st)
	}
}

func TestOpenTapsChecksItsArguments(t *testing.T) {
	for _, tc := range []struct{ n, filter, fanout int }{{0, 3, 4}, {maxTaps + 1, 3, 4}, {2, -1, 4}, {2, 3, -1}} {
		if _, err := OpenTaps(SharedConfig{}, tc.n, tc.filter, tc.fanout); err == nil {
			t.Errorf("OpenTaps(%d taps, filter %d, fanout %d) accepted", tc.n, tc.filter, tc.fanout)
		}
	}
}

package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
)

const puntTest = 0x88b6

// punted returns frame as the fast path punts it: with the punt header
// (ethertype, reason 3) after its MACs.
func punted(frame []byte) []byte {
	out := append([]byte{}, frame[:macsLen]...)
	out = binary.BigEndian.AppendUint16(out, puntTest)
	out = binary.BigEndian.AppendUint16(out, 3)
	return append(out, frame[macsLen:]...)
}

// sharedRx is a copy of a frame from a Shared, with its ifindex.
type sharedRx struct {
	rxFrame
	ifindex int32
}

// startShared opens a Shared in ns and runs a Receive loop on it until the
// test ends, copying what it gets into the returned channel.
func startShared(t *testing.T, ns string, cfg SharedConfig) (*Shared, chan sharedRx) {
	t.Helper()
	cfg.PuntEtherType = puntTest
	var s *Shared
	nstest.In(t, ns, func() (err error) {
		s, err = OpenShared(cfg)
		return err
	})
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
	return s, ch
}

func recvShared(t *testing.T, ch chan sharedRx) sharedRx {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame on the shared receiver within 5s")
		return sharedRx{}
	}
}

func ifindexIn(t *testing.T, ns, ifname string) int32 {
	t.Helper()
	var idx int
	nstest.In(t, ns, func() (err error) {
		idx, err = interfaceIndex(ifname)
		return err
	})
	return int32(idx)
}

func TestSharedReceivesPuntsOfEveryPortOnce(t *testing.T) {
	nstest.RequireRoot(t)
	nsPort, nsPeer := nstest.Netns(t, "xsw-shr"), nstest.Netns(t, "xsw-shr")
	nstest.Veth(t, nsPort, "port0", nsPeer, "peer0")
	nstest.Veth(t, nsPort, "port1", nsPeer, "peer1")
	// Room for the whole burst: the receiver may get its turn only after it.
	s, ch := startShared(t, nsPort, SharedConfig{Frames: 512, FrameSize: 2048})
	idx := []int32{ifindexIn(t, nsPort, "port0"), ifindexIn(t, nsPort, "port1")}
	peers := []*rawSock{openRaw(t, nsPeer, "peer0", false), openRaw(t, nsPeer, "peer1", false)}

	const count = 200
	for i := range uint32(count) {
		peers[i%2].send(t, punted(testFrame(i, 60+int(i)*37%1400)))
		// Not punted: the socket must not see it.
		peers[i%2].send(t, testFrame(1000+i, 60))
	}
	seen := map[uint32]bool{}
	for len(seen) < count {
		var f sharedRx
		select {
		case f = <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d frames received within 5s; stats %+v", len(seen), count, s.Stats())
		}
		seq, ok := testSeq(f.data)
		if !ok || seq >= count {
			t.Fatalf("frame % x: not a punted test frame", f.data)
		}
		if seen[seq] {
			t.Fatalf("frame %d received twice", seq)
		}
		seen[seq] = true
		if want := testFrame(seq, 60+int(seq)*37%1400); !bytes.Equal(f.data, want) {
			t.Fatalf("frame %d: % x, want % x (punt header removed)", seq, f.data, want)
		}
		if f.ifindex != idx[seq%2] {
			t.Errorf("frame %d: ifindex %d, want %d", seq, f.ifindex, idx[seq%2])
		}
	}
	select {
	case f := <-ch:
		t.Fatalf("unexpected frame % x", f.data)
	case <-time.After(100 * time.Millisecond):
	}
	if st := s.Stats(); st.RxPackets != count || st.RxDropped != 0 {
		t.Errorf("stats %+v, want %d packets, no drops", st, count)
	}
}

func TestSharedKeepsInlineTag(t *testing.T) {
	nstest.RequireRoot(t)
	nsPort, nsPeer := nstest.Netns(t, "xsw-shr"), nstest.Netns(t, "xsw-shr")
	nstest.Veth(t, nsPort, "port0", nsPeer, "peer0")
	_, ch := startShared(t, nsPort, SharedConfig{})
	peer := openRaw(t, nsPeer, "peer0", false)
	_, tagged := udpFrame(dataplane.EtherTypeVLAN, 0x2007, []byte("tagged punt"))
	// The fast path puts an out-of-band tag inline, after the punt header.
	peer.send(t, punted(tagged))
	f := recvShared(t, ch)
	if !bytes.Equal(f.data, tagged) || f.tagged {
		t.Fatalf("got % x (tagged %v), want % x with its tag inline", f.data, f.tagged, tagged)
	}
}

func TestSharedRingWraps(t *testing.T) {
	nstest.RequireRoot(t)
	nsPort, nsPeer := nstest.Netns(t, "xsw-shr"), nstest.Netns(t, "xsw-shr")
	nstest.Veth(t, nsPort, "port0", nsPeer, "peer0")
	s, ch := startShared(t, nsPort, SharedConfig{Frames: 4, FrameSize: 1024, BatchSize: 3})
	if n := s.ring.count; n != 4 {
		t.Fatalf("ring of %d slots, want 4", n)
	}
	peer := openRaw(t, nsPeer, "peer0", false)
	for i := range uint32(40) {
		want := testFrame(i, 100)
		peer.send(t, punted(want))
		if f := recvShared(t, ch); !bytes.Equal(f.data, want) {
			t.Fatalf("frame %d: % x, want % x", i, f.data, want)
		}
	}
	// Frames longer than a slot arrive whole, from the socket's queue, in
	// order with the others.
	peer.send(t, punted(testFrame(100, 1000)))
	peer.send(t, punted(testFrame(101, 1400)))
	peer.send(t, punted(testFrame(102, 100)))
	peer.send(t, punted(testFrame(103, 1200)))
	for _, want := range [][]byte{testFrame(100, 1000), testFrame(101, 1400), testFrame(102, 100), testFrame(103, 1200)} {
		if f := recvShared(t, ch); !bytes.Equal(f.data, want) {
			seq, _ := testSeq(f.data)
			t.Fatalf("got frame %d of %d bytes, want % x", seq, len(f.data), want[:22])
		}
	}
	if st := s.Stats(); st.RxTruncated != 0 || st.RxDropped != 0 {
		t.Errorf("stats %+v, want nothing truncated or dropped", st)
	}
}

// openTap creates a tap device with virtio-net headers in ns, up, and
// returns its file: what is written to it enters the tap's receive path.
func openTap(t *testing.T, ns, name string) *os.File {
	t.Helper()
	var f *os.File
	nstest.In(t, ns, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	})
	t.Cleanup(func() { f.Close() })
	nstest.Run(t, "ip", "-n", ns, "link", "set", name, "up")
	return f
}

func TestSharedKeepsSuperFrames(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "xsw-shr")
	tap := openTap(t, ns, "tap0")
	idx := ifindexIn(t, ns, "tap0")
	_, ch := startShared(t, ns, SharedConfig{})

	// An IPv4 TCP super-frame of 60000 bytes of payload, checksum left to
	// offload, as a guest hands it over; punted, so its offsets count the
	// punt header.
	const payload = 60000
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
	want := dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4,
		HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	sent := want
	sent.HdrLen += PuntHeaderLen
	sent.CsumStart += PuntHeaderLen
	hdr := make([]byte, dataplane.VNetHdrLen)
	encodeVNetHdr(hdr, sent, 0)
	if _, err := tap.Write(append(hdr, punted(frame)...)); err != nil {
		t.Fatalf("tap write: %v", err)
	}
	f := recvShared(t, ch)
	if !bytes.Equal(f.data, frame) {
		t.Fatalf("super-frame of %d bytes received as %d bytes, or changed", len(frame), len(f.data))
	}
	if f.ifindex != idx {
		t.Errorf("ifindex %d, want %d", f.ifindex, idx)
	}
	if f.vnet.GSOType != want.GSOType || f.vnet.GSOSize != want.GSOSize || f.vnet.CsumStart != want.CsumStart ||
		f.vnet.CsumOffset != want.CsumOffset || f.vnet.Flags&dataplane.VNetHdrFNeedsCsum == 0 {
		t.Errorf("virtio-net header %+v, want %+v", f.vnet, want)
	}
}

func TestSharedConfigGeometry(t *testing.T) {
	d := DefaultSharedConfig()
	g := d.geometry(4096)
	if g.blockSize != 32<<10 || g.perBlock != 16 || g.blocks != 64 {
		t.Errorf("default geometry %+v, want 64 blocks of 32 KiB with 16 slots", g)
	}
	if g := (SharedConfig{Frames: 100, FrameSize: 65552}).geometry(4096); g.blockSize != 2<<20 || g.perBlock != 31 || g.blocks != 4 {
		t.Errorf("geometry of 100 slots of 64 KiB %+v, want 4 blocks of 2 MiB with 31 slots", g)
	}
	for _, bad := range []SharedConfig{{Frames: 1}, {FrameSize: 128}, {FrameSize: 2056}, {BatchSize: 2000}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestSendOnlySendsAndReceivesNothing(t *testing.T) {
	pr := newPair(t)
	var p *SendOnly
	nstest.In(t, pr.nsPort, func() (err error) {
		p, err = OpenSendOnly("port0", Config{})
		return err
	})
	peer := openRaw(t, pr.nsPeer, "peer0", false)
	want := testFrame(7, 100)
	if n, err := p.Send([]dataplane.Frame{{Data: want}}); n != 1 || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	got := peer.recvMatching(t, 5*time.Second, 1, func(f []byte) bool { _, ok := testSeq(f); return ok })
	if len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("peer got %x, want %x", got, want)
	}
	if st := p.Stats(); st.TxPackets != 1 || st.TxBytes != uint64(len(want)) {
		t.Errorf("stats %+v", st)
	}
	if promisc := linkInfo(t, pr.nsPort, "port0")["promiscuity"]; promisc != float64(1) {
		t.Errorf("promiscuity %v while open, want 1", promisc)
	}
	done := make(chan error)
	go func() {
		_, err := p.Receive(make([]dataplane.Frame, 1))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Receive returned %v before Close", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Receive after Close: %v", err)
	}
	if _, err := p.Send([]dataplane.Frame{{Data: want}}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if promisc := linkInfo(t, pr.nsPort, "port0")["promiscuity"]; promisc != float64(0) {
		t.Errorf("promiscuity %v after Close, want 0", promisc)
	}
}

func TestSharedReceiveDoesNotAllocate(t *testing.T) {
	nstest.RequireRoot(t)
	nsPort, nsPeer := nstest.Netns(t, "xsw-shr"), nstest.Netns(t, "xsw-shr")
	nstest.Veth(t, nsPort, "port0", nsPeer, "peer0")
	var s *Shared
	nstest.In(t, nsPort, func() (err error) {
		s, err = OpenShared(SharedConfig{Frames: 2048, FrameSize: 1024, PuntEtherType: puntTest})
		return err
	})
	t.Cleanup(func() { s.Close() })
	peer := openRaw(t, nsPeer, "peer0", false)
	const runs, batch = 50, 8
	for i := range (runs + 1) * batch * 2 {
		size := 100
		if i%5 == 0 {
			size = 1400 // through the socket's queue, with a slot of 1024
		}
		peer.send(t, punted(testFrame(uint32(i), size)))
	}
	frames, ifs := make([]dataplane.Frame, batch), make([]int32, batch)
	if _, err := s.Receive(frames, ifs); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(10*time.Second, func() { s.Close() })
	defer watchdog.Stop()
	var err error
	allocs := testing.AllocsPerRun(runs, func() {
		if _, e := s.Receive(frames, ifs); e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Receive allocates %v times per call, want 0", allocs)
	}
}

package afpacket

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
)

// etherTypeTest is the IEEE "local experimental" ethertype: no stack in the
// test namespaces handles it.
const etherTypeTest = 0x88b5

var (
	dstMAC = []byte{0x02, 0x78, 0x73, 0x00, 0x00, 0x02}
	srcMAC = []byte{0x02, 0x78, 0x73, 0x00, 0x00, 0x01}
)

// testFrame returns a frame of size bytes (at least 22) that carries seq.
func testFrame(seq uint32, size int) []byte {
	f := make([]byte, size)
	copy(f[0:], dstMAC)
	copy(f[6:], srcMAC)
	binary.BigEndian.PutUint16(f[12:], etherTypeTest)
	copy(f[14:], "xsw!")
	binary.BigEndian.PutUint32(f[18:], seq)
	for i := 22; i < size; i++ {
		f[i] = byte(int(seq)*7 + i)
	}
	return f
}

// testSeq returns the seq of a frame made by testFrame.
func testSeq(f []byte) (uint32, bool) {
	if len(f) < 22 || binary.BigEndian.Uint16(f[12:]) != etherTypeTest || string(f[14:18]) != "xsw!" {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[18:]), true
}

func isTestFrame(f rxFrame) bool { _, ok := testSeq(f.data); return ok }

// pair is a veth pair: port0 in nsPort, where the Port goes, and peer0 in
// nsPeer, the guest's end.
type pair struct{ nsPort, nsPeer string }

func newPair(t testing.TB) pair {
	t.Helper()
	nstest.RequireRoot(t)
	p := pair{nsPort: nstest.Netns(t, "xsw-afp"), nsPeer: nstest.Netns(t, "xsw-afp")}
	nstest.Veth(t, p.nsPort, "port0", p.nsPeer, "peer0")
	return p
}

// burstConfig is for tests that send a burst of frames and read them only
// later or while they come. The kernel hands a block over when it is full or
// its timeout expires, and drops frames while every block is handed over.
// With the default 1 ms timeout, a loaded machine that pauses the sender
// again and again while the reader waits its turn fills the ring with partly
// filled blocks, and frames are dropped, no fault of Receive's: a longer
// timeout and more blocks make room for such pauses.
var burstConfig = Config{BlockCount: 16, BlockTimeout: 20 * time.Millisecond}

func TestReceiveDeliversEachFrameOnceIntact(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", burstConfig)
	// An odd batch size makes batches end in the middle of ring blocks.
	rx := startReceiver(t, p, 7)
	peer := openRaw(t, pr.nsPeer, "peer0", false)

	const count = 300
	want := make(map[uint32][]byte)
	wantBytes := 0
	for i := range uint32(count) {
		f := testFrame(i, 60+int(i)*37%1455)
		want[i] = f
		wantBytes += len(f)
		peer.send(t, f)
	}
	seen := make(map[uint32]bool)
	for len(seen) < count {
		f, ok := rx.nextWithin(5*time.Second, isTestFrame)
		if !ok {
			t.Fatalf("%d of %d frames received within 5s; port %+v\n%s", len(seen), count, p.Stats(),
				nstest.Run(t, "ip", "-n", pr.nsPort, "-s", "link", "show", "port0"))
		}
		seq, _ := testSeq(f.data)
		if seen[seq] {
			t.Fatalf("frame %d received twice", seq)
		}
		seen[seq] = true
		if !bytes.Equal(f.data, want[seq]) {
			t.Fatalf("frame %d: got % x, want % x", seq, f.data, want[seq])
		}
		if f.tagged || f.vnet != (dataplane.VNetHdr{}) {
			t.Errorf("frame %d: tagged %v, vnet %+v; want untagged, zero vnet header", seq, f.tagged, f.vnet)
		}
	}
	// Several block timeouts later, nothing more arrives.
	for deadline := time.After(5 * burstConfig.BlockTimeout); ; {
		select {
		case f := <-rx.frames:
			if seq, ok := testSeq(f.data); ok {
				t.Fatalf("frame %d received again", seq)
			}
			continue
		case <-deadline:
		}
		break
	}
	if st := p.Stats(); st.RxPackets < count || st.RxBytes < uint64(wantBytes) || st.RxTruncated != 0 || st.RxDropped != 0 {
		t.Errorf("Stats = %+v, want ≥ %d packets, ≥ %d bytes, none truncated or dropped", st, count, wantBytes)
	}
}

func TestHeldFramesSurviveRingWrap(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{BlockCount: 2})
	peer := openRaw(t, pr.nsPeer, "peer0", false)
	want := testFrame(1, 1000)
	peer.send(t, want)
	buf := make([]dataplane.Frame, 8)
	if n, err := p.Receive(buf); n != 1 || err != nil {
		t.Fatalf("Receive = %d, %v; want 1, nil", n, err)
	}
	// Enough traffic to fill both blocks and wrap around: the kernel must
	// not write over the block whose frame the caller still holds.
	for i := range 300 {
		peer.send(t, testFrame(uint32(100+i), 1000))
	}
	time.Sleep(50 * time.Millisecond)
	if !bytes.Equal(buf[0].Data, want) {
		t.Fatal("a held frame was overwritten before the next Receive")
	}
	if n, err := p.Receive(buf); n == 0 || err != nil {
		t.Fatalf("Receive = %d, %v", n, err)
	}
	if st := p.Stats(); st.RxDropped == 0 {
		t.Errorf("RxDropped = 0; the ring should have run full (%+v)", st)
	}
}

func TestSendDeliversFramesIntact(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{BatchSize: 16})
	peer := openRaw(t, pr.nsPeer, "peer0", false)

	// More frames than BatchSize: Send works through them in chunks.
	const count = 100
	frames := make([]dataplane.Frame, count)
	wantBytes := 0
	for i := range frames {
		frames[i].Data = testFrame(uint32(i), 60+i*97%1455)
		wantBytes += len(frames[i].Data)
	}
	n, err := p.Send(frames)
	if n != count || err != nil {
		t.Fatalf("Send = %d, %v; want %d, nil", n, err, count)
	}
	isTest := func(f []byte) bool { _, ok := testSeq(f); return ok }
	got := peer.recvMatching(t, 5*time.Second, count, isTest)
	got = append(got, peer.recvMatching(t, 100*time.Millisecond, 1, isTest)...)
	if len(got) != count {
		t.Fatalf("peer received %d frames, want %d", len(got), count)
	}
	seen := make(map[uint32]bool)
	for _, f := range got {
		seq, _ := testSeq(f)
		if seen[seq] {
			t.Fatalf("frame %d received twice", seq)
		}
		seen[seq] = true
		if !bytes.Equal(f, frames[seq].Data) {
			t.Fatalf("frame %d: got % x, want % x", seq, f, frames[seq].Data)
		}
	}
	if st := p.Stats(); st.TxPackets != count || st.TxBytes != uint64(wantBytes) {
		t.Errorf("Stats: TxPackets %d, TxBytes %d; want %d, %d", st.TxPackets, st.TxBytes, count, wantBytes)
	}
}

func TestOutgoingFramesAreNotReceived(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{})
	rx := startReceiver(t, p, 64)
	peer := openRaw(t, pr.nsPeer, "peer0", false)
	// Another socket on the port's interface: its frames go out through the
	// qdisc, where every packet tap that does not ignore outgoing frames
	// sees them.
	other := openRaw(t, pr.nsPort, "port0", false)

	frames := make([]dataplane.Frame, 20)
	for i := range frames {
		frames[i].Data = testFrame(uint32(i), 100)
	}
	if n, err := p.Send(frames); n != len(frames) || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	for i := range 20 {
		other.send(t, testFrame(uint32(100+i), 100))
	}
	const marker = 1000
	peer.send(t, testFrame(marker, 100))
	// Frames arrive in ring order, so anything outgoing would come before
	// the marker.
	f := rx.next(t, 5*time.Second, isTestFrame)
	if seq, _ := testSeq(f.data); seq != marker {
		t.Fatalf("received outgoing frame %d before the peer's marker", seq)
	}
}

// udpFrame returns an IPv4/UDP frame whose checksum is left partial: the
// UDP checksum field holds the folded pseudo-header sum, as in an skb with
// CHECKSUM_PARTIAL. It also returns the same frame with a VLAN tag.
func udpFrame(tpid, tci uint16, payload []byte) (untagged, tagged []byte) {
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, unix.IPPROTO_UDP, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2}
	udpLen := 8 + len(payload)
	binary.BigEndian.PutUint16(ip[2:], uint16(20+udpLen))
	binary.BigEndian.PutUint16(ip[10:], ^foldSum(sum16(ip)))
	udp := make([]byte, 8, udpLen)
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 4001)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	binary.BigEndian.PutUint16(udp[6:], foldSum(pseudoSum(ip, udpLen)))
	udp = append(udp, payload...)

	eth := append(append([]byte{}, dstMAC...), srcMAC...)
	untagged = append(append(append(append([]byte{}, eth...), 0x08, 0x00), ip...), udp...)
	tag := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, tpid), tci)
	tagged = append(append(append(append(append([]byte{}, eth...), tag...), 0x08, 0x00), ip...), udp...)
	return untagged, tagged
}

func sum16(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func foldSum(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func pseudoSum(ip []byte, udpLen int) uint32 {
	return sum16(ip[12:20]) + unix.IPPROTO_UDP + uint32(udpLen)
}

// udpChecksumOK reports whether the UDP checksum of an untagged IPv4/UDP
// frame is complete and right.
func udpChecksumOK(f []byte) bool {
	ip := f[14:34]
	udp := f[34:]
	return foldSum(pseudoSum(ip, len(udp))+sum16(udp)) == 0xffff
}

func TestVLANTagRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tpid, tci uint16
	}{
		{"802.1Q", 0x8100, 3<<13 | 100},
		{"802.1ad", 0x88a8, 0x0ffe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := newPair(t)
			// The kernel finishes partial checksums of what the port sends,
			// at the offset Send gives it.
			setTxChecksum(t, pr.nsPort, "port0", false)
			p := openPort(t, pr.nsPort, "port0", Config{})
			rx := startReceiver(t, p, 8)
			peer := openRaw(t, pr.nsPeer, "peer0", true)

			untagged, tagged := udpFrame(tc.tpid, tc.tci, []byte("tagged and partially checksummed"))
			// csum_start counts from the frame as sent, tag included.
			vnet := make([]byte, dataplane.VNetHdrLen, dataplane.VNetHdrLen+len(tagged))
			encodeVNetHdr(vnet, dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, CsumStart: 14 + 4 + 20, CsumOffset: 6}, 0)
			peer.send(t, append(vnet, tagged...))

			f := rx.next(t, 5*time.Second, func(f rxFrame) bool {
				return len(f.data) > 37 && binary.BigEndian.Uint16(f.data[36:]) == 4001
			})
			if !f.tagged || f.tpid != tc.tpid || f.vlan != tc.tci {
				t.Errorf("received tagged %v, TPID %#04x, TCI %#04x; want true, %#04x, %#04x", f.tagged, f.tpid, f.vlan, tc.tpid, tc.tci)
			}
			if !bytes.Equal(f.data, untagged) {
				t.Errorf("received Data\n% x\nwant the frame without its tag\n% x", f.data, untagged)
			}
			wantVNet := dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, CsumStart: 14 + 20, CsumOffset: 6}
			if f.vnet.Flags != wantVNet.Flags || f.vnet.CsumStart != wantVNet.CsumStart || f.vnet.CsumOffset != wantVNet.CsumOffset {
				t.Errorf("received VNet %+v; want NEEDS_CSUM at the untagged offsets %+v", f.vnet, wantVNet)
			}

			out := []dataplane.Frame{{Data: f.data, VNet: f.vnet, Tagged: f.tagged, VLAN: f.vlan, TPID: f.tpid}}
			if n, err := p.Send(out); n != 1 || err != nil {
				t.Fatalf("Send = %d, %v", n, err)
			}
			for deadline := time.Now().Add(5 * time.Second); ; {
				if time.Now().After(deadline) {
					t.Fatal("peer did not receive the frame sent back")
				}
				b, aux, ok := peer.recv(t, time.Until(deadline))
				if !ok || len(b) < dataplane.VNetHdrLen+38 {
					continue
				}
				got := b[dataplane.VNetHdrLen:]
				if binary.BigEndian.Uint16(got[12:]) != 0x0800 || binary.BigEndian.Uint16(got[36:]) != 4001 {
					continue
				}
				// The peer's kernel took the tag off the wire into auxdata.
				if aux.Status&unix.TP_STATUS_VLAN_VALID == 0 || aux.Vlan_tci != tc.tci || aux.Vlan_tpid != tc.tpid {
					t.Errorf("peer saw tag status %#x, TCI %#04x, TPID %#04x; want valid, %#04x, %#04x", aux.Status, aux.Vlan_tci, aux.Vlan_tpid, tc.tci, tc.tpid)
				}
				if !udpChecksumOK(got) {
					t.Errorf("peer received a wrong UDP checksum: % x", got)
				}
				want := append([]byte(nil), untagged...)
				copy(want[40:42], got[40:42])
				if !bytes.Equal(got, want) {
					t.Errorf("peer received\n% x\nwant\n% x", got, want)
				}
				break
			}
		})
	}
}

// TestSendStopsAtRefusedFrame sends a batch the way the dataplane does:
// Send stops at a refused frame and reports it, the caller skips it and
// sends the rest.
func TestSendStopsAtRefusedFrame(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{})
	peer := openRaw(t, pr.nsPeer, "peer0", false)

	frames := []dataplane.Frame{
		{Data: testFrame(1, 100)},
		{Data: testFrame(2, 2000)}, // longer than the 1500 MTU, and no GSO
		{Data: testFrame(3, 100)},
		{Data: testFrame(4, 60)[:10], Tagged: true, VLAN: 5}, // too short to hold a tag
		{Data: testFrame(5, 100)},
	}
	type call struct {
		n     int
		errno syscall.Errno
	}
	var calls []call
	for rest := frames; len(rest) > 0; {
		n, err := p.Send(rest)
		var errno syscall.Errno
		if n < len(rest) {
			var oe *dataplane.OpError
			if !errors.As(err, &oe) || oe.Port != "port0" {
				t.Errorf("Send error %v does not name the port", err)
			}
			if !errors.As(err, &errno) {
				t.Fatalf("Send error %v carries no errno", err)
			}
			rest = rest[n+1:]
		} else {
			if err != nil {
				t.Errorf("Send sent all and returned %v", err)
			}
			rest = nil
		}
		calls = append(calls, call{n, errno})
	}
	if want := []call{{1, syscall.EMSGSIZE}, {1, syscall.EINVAL}, {1, 0}}; !slices.Equal(calls, want) {
		t.Errorf("Send calls returned %v, want %v", calls, want)
	}
	isTest := func(f []byte) bool { _, ok := testSeq(f); return ok }
	got := peer.recvMatching(t, 2*time.Second, 3, isTest)
	got = append(got, peer.recvMatching(t, 100*time.Millisecond, 1, isTest)...)
	var seqs []uint32
	for _, f := range got {
		seq, _ := testSeq(f)
		seqs = append(seqs, seq)
	}
	if want := []uint32{1, 3, 5}; !slices.Equal(seqs, want) {
		t.Errorf("peer received frames %v, want %v", seqs, want)
	}
	if st := p.Stats(); st.TxTooBig != 1 || st.TxInvalid != 1 || st.TxPackets != 3 {
		t.Errorf("Stats: TxTooBig %d, TxInvalid %d, TxPackets %d; want 1, 1, 3", st.TxTooBig, st.TxInvalid, st.TxPackets)
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := p.Receive(make([]dataplane.Frame, 8))
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("Receive returned %v with no traffic", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Receive after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive still blocked after Close")
	}
	if p.ring.mem != nil {
		t.Error("ring still mapped after Close and the end of Receive")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := p.Receive(make([]dataplane.Frame, 8)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Receive on a closed port = %v, want net.ErrClosed", err)
	}
	if _, err := p.Send([]dataplane.Frame{{Data: testFrame(1, 60)}}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send on a closed port = %v, want net.ErrClosed", err)
	}
	p.Stats()
}

func TestCloseKeepsHeldFramesValid(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{})
	peer := openRaw(t, pr.nsPeer, "peer0", false)
	want := testFrame(42, 200)
	peer.send(t, want)
	buf := make([]dataplane.Frame, 8)
	n, err := p.Receive(buf)
	if n != 1 || err != nil {
		t.Fatalf("Receive = %d, %v; want 1, nil", n, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// The frames of the last Receive stay valid until the next Receive.
	if p.ring.mem == nil || !bytes.Equal(buf[0].Data, want) {
		t.Fatal("Close unmapped the ring under frames the receiver still holds")
	}
	if _, err := p.Receive(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Receive after Close = %v, want net.ErrClosed", err)
	}
	if p.ring.mem != nil {
		t.Error("the Receive after Close did not unmap the ring")
	}
}

func TestPromiscuityRestoredAfterClose(t *testing.T) {
	pr := newPair(t)
	// The kernel counts promiscuity per user; IFF_PROMISC in the link flags
	// shows only the one set by hand (`ip link set promisc on`).
	promiscuity := func() float64 { return linkInfo(t, pr.nsPort, "port0")["promiscuity"].(float64) }
	before := promiscuity()
	p := openPort(t, pr.nsPort, "port0", Config{})
	if n := promiscuity(); n != before+1 {
		t.Errorf("open port: promiscuity %v, want %v", n, before+1)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := promiscuity(); n != before {
		t.Errorf("after Close: promiscuity %v, want %v", n, before)
	}
}

func TestPortSurvivesLinkDownAndUp(t *testing.T) {
	pr := newPair(t)
	p := openPort(t, pr.nsPort, "port0", Config{})
	rx := startReceiver(t, p, 8)
	peer := openRaw(t, pr.nsPeer, "peer0", false)

	nstest.Run(t, "ip", "-n", pr.nsPort, "link", "set", "port0", "down")
	for deadline := time.Now().Add(5 * time.Second); p.Stats().SocketErrors == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the socket error of the link going down was not taken")
		}
	}
	if st := p.Stats(); st.LastSocketError != syscall.ENETDOWN {
		t.Errorf("LastSocketError = %v, want ENETDOWN", st.LastSocketError)
	}
	if _, err := p.Send([]dataplane.Frame{{Data: testFrame(1, 60)}}); !errors.Is(err, syscall.ENETDOWN) {
		t.Errorf("Send on a down link = %v, want ENETDOWN", err)
	}
	if st := p.Stats(); st.TxDown != 1 {
		t.Errorf("TxDown = %d, want 1", st.TxDown)
	}

	nstest.Run(t, "ip", "-n", pr.nsPort, "link", "set", "port0", "up")
	// The peer's qdisc drops frames until the carrier is back: resend.
	got := false
	for seq := uint32(10); !got && seq < 100; seq++ {
		peer.send(t, testFrame(seq, 60))
		select {
		case f := <-rx.frames:
			got = isTestFrame(f)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !got {
		t.Fatal("port received nothing after the link came back up")
	}
	if n, err := p.Send([]dataplane.Frame{{Data: testFrame(200, 60)}}); n != 1 || err != nil {
		t.Errorf("Send after the link came back = %d, %v", n, err)
	}
	if f := peer.recvMatching(t, 2*time.Second, 1, func(f []byte) bool { s, ok := testSeq(f); return ok && s == 200 }); len(f) != 1 {
		t.Error("peer did not receive a frame sent after the link came back")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("eth0", Config{BlockCount: 1}); err == nil || !strings.Contains(err.Error(), "BlockCount") {
		t.Errorf("Open with BlockCount 1 = %v, want an error naming BlockCount", err)
	}
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "xsw-afp")
	// A failed Open would leak a socket; other descriptors (the runtime's,
	// a namespace handle) come and go on their own.
	fds := func() (n int) {
		d, _ := os.ReadDir("/proc/self/fd")
		for _, e := range d {
			if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
				n++
			}
		}
		return n
	}
	before := fds()
	var err error
	nstest.In(t, ns, func() error { _, err = Open("nosuch0", Config{}); return nil })
	var oe *dataplane.OpError
	if !errors.As(err, &oe) || oe.Port != "nosuch0" || oe.Op != "ioctl SIOCGIFINDEX" || !errors.Is(err, syscall.ENODEV) {
		t.Errorf("Open(nosuch0) = %v, want an OpError naming the interface and SIOCGIFINDEX, wrapping ENODEV", err)
	}
	if after := fds(); after > before {
		t.Errorf("failed Open leaked %d sockets", after-before)
	}
}

// forward runs a one-way switch from one port to another until from is
// closed, and counts the GSO super-frames it carried.
func forward(from, to *Port, superFrames *atomic.Int64) {
	buf := make([]dataplane.Frame, from.BatchSize())
	for {
		n, err := from.Receive(buf)
		if err != nil {
			return
		}
		for _, f := range buf[:n] {
			if len(f.Data) > 1514 && f.VNet.GSOType&^dataplane.VNetHdrGSOECN == dataplane.VNetHdrGSOTCPv4 &&
				f.VNet.Flags&dataplane.VNetHdrFNeedsCsum != 0 && f.VNet.GSOSize > 0 {
				superFrames.Add(1)
			}
		}
		to.Send(buf[:n])
	}
}

// TestTCPThroughPortPair runs a TCP transfer between two guests through two
// ports and a forwarding loop: it proves GSO super-frames arrive with their
// metadata and leave with it intact.
func TestTCPThroughPortPair(t *testing.T) {
	nstest.RequireRoot(t)
	sw, gA, gB := nstest.Netns(t, "xsw-afp"), nstest.Netns(t, "xsw-afp"), nstest.Netns(t, "xsw-afp")
	nstest.Veth(t, sw, "pa", gA, "eth0")
	nstest.Veth(t, sw, "pb", gB, "eth0")
	nstest.Run(t, "ip", "-n", gA, "addr", "add", "10.99.1.1/24", "dev", "eth0")
	nstest.Run(t, "ip", "-n", gB, "addr", "add", "10.99.1.2/24", "dev", "eth0")

	pa := openPort(t, sw, "pa", Config{})
	pb := openPort(t, sw, "pb", Config{})
	var superAB, superBA atomic.Int64
	done := make(chan struct{}, 2)
	go func() { forward(pa, pb, &superAB); done <- struct{}{} }()
	go func() { forward(pb, pa, &superBA); done <- struct{}{} }()
	t.Cleanup(func() { pa.Close(); pb.Close(); <-done; <-done })

	var ln net.Listener
	nstest.In(t, gB, func() (err error) { ln, err = net.Listen("tcp4", "10.99.1.2:0"); return err })
	defer ln.Close()
	type result struct {
		n   int64
		sum [sha256.Size]byte
		err error
	}
	resc := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		n, err := io.Copy(h, c)
		resc <- result{n: n, sum: [sha256.Size]byte(h.Sum(nil)), err: err}
	}()

	var conn net.Conn
	nstest.In(t, gA, func() (err error) {
		conn, err = net.DialTimeout("tcp4", ln.Addr().String(), 10*time.Second)
		return err
	})
	const size = 32 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data)
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := conn.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	conn.Close()
	res := <-resc
	if res.err != nil || res.n != size || res.sum != sha256.Sum256(data) {
		t.Fatalf("received %d bytes (err %v), checksum match %v; want %d bytes intact", res.n, res.err, res.sum == sha256.Sum256(data), size)
	}
	if superAB.Load() == 0 {
		t.Errorf("no TCP super-frame longer than the MTU with GSO metadata crossed the switch (%+v)", pa.Stats())
	}
	t.Logf("super-frames A→B: %d; port A: %+v", superAB.Load(), pa.Stats())
}

// TestTruncatedFramesCountedNotReturned makes the peer send IPv6 BIG TCP
// super-frames (up to 256 KiB) into a ring of 128 KiB blocks: the longer ones
// cannot fit, and must be counted, never returned cut short.
func TestTruncatedFramesCountedNotReturned(t *testing.T) {
	pr := newPair(t)
	if out, err := exec.Command("ip", "-n", pr.nsPeer, "link", "set", "peer0", "gso_max_size", "262144").CombinedOutput(); err != nil {
		t.Skipf("cannot enable BIG TCP on the peer: %v: %s", err, out)
	}
	nstest.Run(t, "ip", "-n", pr.nsPort, "addr", "add", "fd00:99::2/64", "dev", "port0", "nodad")
	nstest.Run(t, "ip", "-n", pr.nsPeer, "addr", "add", "fd00:99::1/64", "dev", "peer0", "nodad")
	p := openPort(t, pr.nsPort, "port0", Config{BlockSize: 128 << 10})
	var maxLen atomic.Int64
	var cut atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]dataplane.Frame, 64)
		for {
			n, err := p.Receive(buf)
			if err != nil {
				return
			}
			for _, f := range buf[:n] {
				if int64(len(f.Data)) > maxLen.Load() {
					maxLen.Store(int64(len(f.Data)))
				}
				// An IPv6 frame under 64 KiB states its length.
				if len(f.Data) >= 54 && binary.BigEndian.Uint16(f.Data[12:]) == 0x86dd {
					if pl := int(binary.BigEndian.Uint16(f.Data[18:])); pl != 0 && 54+pl != len(f.Data) {
						cut.Add(1)
					}
				}
			}
		}
	}()
	t.Cleanup(func() { p.Close(); <-done })

	var ln net.Listener
	nstest.In(t, pr.nsPort, func() (err error) { ln, err = net.Listen("tcp6", "[fd00:99::2]:0"); return err })
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	var conn net.Conn
	nstest.In(t, pr.nsPeer, func() (err error) {
		conn, err = net.DialTimeout("tcp6", ln.Addr().String(), 10*time.Second)
		return err
	})
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write(make([]byte, 16<<20))
	st := p.Stats()
	for deadline := time.Now().Add(2 * time.Second); st.RxTruncated == 0 && time.Now().Before(deadline); st = p.Stats() {
		time.Sleep(10 * time.Millisecond)
	}
	if st.RxTruncated == 0 {
		if maxLen.Load() <= maxFrameLen {
			t.Skipf("the kernel sent no BIG TCP super-frames (longest frame %d bytes)", maxLen.Load())
		}
		t.Fatalf("no truncated frame counted; longest frame returned %d bytes", maxLen.Load())
	}
	if maxLen.Load() > 128<<10 || cut.Load() > 0 {
		t.Errorf("returned a frame of %d bytes and %d frames shorter than their IPv6 length", maxLen.Load(), cut.Load())
	}
	t.Logf("truncated %d, longest frame returned %d bytes", st.RxTruncated, maxLen.Load())
}

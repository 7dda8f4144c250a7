package afpacket

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
	"github.com/xswitch/xswitch/internal/topo/netns"
)

// openPort opens a Port on ifname in netns ns and closes it when the test ends.
func openPort(t testing.TB, ns, ifname string, cfg Config) *Port {
	t.Helper()
	var p *Port
	nstest.In(t, ns, func() (err error) {
		p, err = Open(ifname, cfg)
		return err
	})
	t.Cleanup(func() { p.Close() })
	return p
}

// rxFrame is a copy of a received dataplane.Frame.
type rxFrame struct {
	data   []byte
	vnet   dataplane.VNetHdr
	tagged bool
	vlan   uint16
	tpid   uint16
}

// receiver runs a Receive loop on a port until the port is closed, copying
// what it gets into frames.
type receiver struct {
	frames chan rxFrame
	done   chan struct{}
	err    error // the error that ended the loop; valid after done is closed
}

func startReceiver(t testing.TB, p *Port, batch int) *receiver {
	r := &receiver{frames: make(chan rxFrame, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]dataplane.Frame, batch)
		for {
			n, err := p.Receive(buf)
			if err != nil {
				r.err = err
				return
			}
			for _, f := range buf[:n] {
				r.frames <- rxFrame{append([]byte(nil), f.Data...), f.VNet, f.Tagged, f.VLAN, f.TPID}
			}
		}
	}()
	t.Cleanup(func() {
		p.Close()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			t.Error("Receive did not return after Close")
			return
		}
		if !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("Receive loop ended with %v, want net.ErrClosed", r.err)
		}
	})
	return r
}

// next returns the next received frame that keep accepts, or fails the test
// after timeout.
func (r *receiver) next(t testing.TB, timeout time.Duration, keep func(rxFrame) bool) rxFrame {
	t.Helper()
	f, ok := r.nextWithin(timeout, keep)
	if !ok {
		t.Fatalf("no matching frame received within %v", timeout)
	}
	return f
}

// nextWithin returns the next received frame that keep accepts, or ok false
// after timeout.
func (r *receiver) nextWithin(timeout time.Duration, keep func(rxFrame) bool) (rxFrame, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case f := <-r.frames:
			if keep(f) {
				return f, true
			}
		case <-deadline:
			return rxFrame{}, false
		}
	}
}

// rawSock is a plain AF_PACKET socket on the far end of a veth (see
// netns.OpenPacket), the test's independent view of the wire. Its own
// transmissions are not received.
type rawSock struct {
	fd int
}

// openRaw opens a raw socket bound to ifname in ns. With vnet, it sends and
// receives a virtio_net_hdr before each frame.
func openRaw(t testing.TB, ns, ifname string, vnet bool) *rawSock {
	t.Helper()
	s := &rawSock{fd: -1}
	nstest.In(t, ns, func() (err error) {
		if s.fd, err = netns.OpenPacket(ifname, true); err != nil || !vnet {
			return err
		}
		return unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1)
	})
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

func (s *rawSock) send(t testing.TB, frame []byte) {
	t.Helper()
	for {
		_, err := unix.Write(s.fd, frame)
		if err == unix.EAGAIN || err == unix.ENOBUFS {
			time.Sleep(100 * time.Microsecond) // the socket does not block
			continue
		}
		if err != nil {
			t.Fatalf("raw send: %v", err)
		}
		return
	}
}

// recv returns the next frame received within timeout, with the auxdata
// the kernel attached, which carries the VLAN tag it stripped; ok is false
// on timeout.
func (s *rawSock) recv(t testing.TB, timeout time.Duration) (frame []byte, aux unix.TpacketAuxdata, ok bool) {
	t.Helper()
	buf := make([]byte, 1<<17)
	oob := make([]byte, unix.CmsgSpace(auxdataLen))
	for deadline := time.Now().Add(timeout); ; {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, aux, false
		}
		pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			t.Fatalf("raw recv: poll: %v", err)
		}
		n, oobn, _, from, err := unix.Recvmsg(s.fd, buf, oob, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("raw recv: %v", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // a kernel without PACKET_IGNORE_OUTGOING
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatalf("raw recv: %v", err)
		}
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA {
				aux = parseAuxdata(m.Data)
			}
		}
		return buf[:n], aux, true
	}
}

// auxdataLen is the size of struct tpacket_auxdata.
const auxdataLen = 20

// parseAuxdata decodes the struct tpacket_auxdata of a PACKET_AUXDATA
// control message.
func parseAuxdata(b []byte) unix.TpacketAuxdata {
	if len(b) < auxdataLen {
		return unix.TpacketAuxdata{}
	}
	e := binary.NativeEndian
	return unix.TpacketAuxdata{
		Status: e.Uint32(b), Len: e.Uint32(b[4:]), Snaplen: e.Uint32(b[8:]),
		Mac: e.Uint16(b[12:]), Net: e.Uint16(b[14:]), Vlan_tci: e.Uint16(b[16:]), Vlan_tpid: e.Uint16(b[18:]),
	}
}

// recvMatching returns the frames received within timeout that keep accepts.
func (s *rawSock) recvMatching(t testing.TB, timeout time.Duration, want int, keep func([]byte) bool) [][]byte {
	t.Helper()
	var got [][]byte
	deadline := time.Now().Add(timeout)
	for len(got) < want && time.Now().Before(deadline) {
		f, _, ok := s.recv(t, time.Until(deadline))
		if ok && keep(f) {
			got = append(got, f)
		}
	}
	return got
}

// linkInfo returns the JSON fields of `ip -d -j link show` for ifname in ns.
func linkInfo(t testing.TB, ns, ifname string) map[string]any {
	t.Helper()
	var links []map[string]any
	if err := json.Unmarshal([]byte(nstest.Run(t, "ip", "-n", ns, "-d", "-j", "link", "show", "dev", ifname)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip link show %s: %v", ifname, err)
	}
	return links[0]
}

package afpacket

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/nstest"
	"github.com/xswitch/xswitch/internal/packetsock"
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

// rawSock is a plain AF_PACKET socket on the far end of a veth, the test's
// independent view of the wire. Its own transmissions are not received.
type rawSock struct {
	fd int
}

// openRaw opens a blocking raw socket bound to ifname in ns. With vnet, it
// sends and receives a virtio_net_hdr before each frame; it always asks for
// PACKET_AUXDATA, which carries the VLAN tag the kernel stripped.
func openRaw(t testing.TB, ns, ifname string, vnet bool) *rawSock {
	t.Helper()
	s := &rawSock{fd: -1}
	nstest.In(t, ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(packetsock.Htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		s.fd = fd
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		opts := []struct{ level, opt, v int }{
			{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1},
			{unix.SOL_PACKET, unix.PACKET_AUXDATA, 1},
			{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8 << 20},
		}
		if vnet {
			opts = append(opts, struct{ level, opt, v int }{unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1})
		}
		for _, o := range opts {
			if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
				return fmt.Errorf("setsockopt %d: %w", o.opt, err)
			}
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: packetsock.Htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

func (s *rawSock) send(t testing.TB, frame []byte) {
	t.Helper()
	if _, err := unix.Write(s.fd, frame); err != nil {
		t.Fatalf("raw send: %v", err)
	}
}

// recv returns the next frame received within timeout, with the auxdata
// the kernel attached; ok is false on timeout.
func (s *rawSock) recv(t testing.TB, timeout time.Duration) (frame []byte, aux unix.TpacketAuxdata, ok bool) {
	t.Helper()
	buf := make([]byte, 1<<17)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		n, oobn, _, _, err := unix.Recvmsg(s.fd, buf, oob, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("raw recv: %v", err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatalf("raw recv: %v", err)
		}
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA {
				aux = *(*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
			}
		}
		return buf[:n], aux, true
	}
	return nil, aux, false
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

// setTxChecksum turns the transmit checksum offload of ifname in ns on or
// off (ETHTOOL_STXCSUM), so the kernel finishes partial checksums itself.
func setTxChecksum(t testing.TB, ns, ifname string, on bool) {
	t.Helper()
	nstest.In(t, ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		val := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STXCSUM}
		if on {
			val.data = 1
		}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], ifname)
		ifr.data = unsafe.Pointer(&val)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return fmt.Errorf("ETHTOOL_STXCSUM %s: %w", ifname, errno)
		}
		return nil
	})
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

package afpacket

// Sending: preallocated iovecs point at the caller's frames, and sendmmsg
// (send_unsafe_linux.go) sends them.

import (
	"encoding/binary"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// iovsPerMsg is the most iovecs one message needs: the virtio-net header,
// then the frame, or for a Tagged frame its MACs, the tag and the rest.
const iovsPerMsg = 4

// macsLen is the length of the destination and source MACs, after which a
// tag goes.
const macsLen = 12

// sender turns frames into sendmmsg messages in arrays allocated once, and
// sends them. Only one goroutine uses a sender at a time.
type sender struct {
	msgs []unix.Mmsghdr // capacity: the batch size; msgs[i].Hdr.Iov points at iovs[i*iovsPerMsg]
	iovs []unix.Iovec   // iovsPerMsg per message; Base fields are cleared after each send so no frame is kept
	hdrs []byte         // VNetHdrLen bytes per message: the virtio-net header that iovs[i*iovsPerMsg] points at
	tags []byte         // dataplane.VLANTagLen bytes per message: the tag of a Tagged frame, pointed at by its third iovec
	n    int            // messages loaded into msgs[:n] by load
}

func newSender(batch int) sender {
	s := sender{
		msgs: make([]unix.Mmsghdr, batch),
		iovs: make([]unix.Iovec, batch*iovsPerMsg),
		hdrs: make([]byte, batch*dataplane.VNetHdrLen),
		tags: make([]byte, batch*dataplane.VLANTagLen),
	}
	for i := range s.msgs {
		s.msgs[i].Hdr.Iov = &s.iovs[i*iovsPerMsg]
	}
	return s
}

// load turns frames into messages, as many as fit, and returns how many
// frames it consumed. It stops before a malformed frame (empty, or tagged
// and shorter than its MACs) and reports it with bad, so that frames[consumed]
// is the frame Send refuses.
func (s *sender) load(frames []dataplane.Frame) (consumed int, bad bool) {
	s.n = 0
	for consumed < len(frames) && s.n < len(s.msgs) {
		f := &frames[consumed]
		if len(f.Data) == 0 || f.Tagged && len(f.Data) < macsLen {
			return consumed, true
		}
		consumed++
		i := s.n
		s.n++
		iov := s.iovs[i*iovsPerMsg : (i+1)*iovsPerMsg]
		hdr := s.hdrs[i*dataplane.VNetHdrLen : (i+1)*dataplane.VNetHdrLen]
		setIovec(&iov[0], hdr)
		if !f.Tagged {
			encodeVNetHdr(hdr, f.VNet, 0)
			setIovec(&iov[1], f.Data)
			s.msgs[i].Hdr.SetIovlen(2)
			continue
		}
		encodeVNetHdr(hdr, f.VNet, dataplane.VLANTagLen)
		tag := s.tags[i*dataplane.VLANTagLen : (i+1)*dataplane.VLANTagLen]
		tpid := f.TPID
		if tpid == 0 {
			tpid = dataplane.EtherTypeVLAN
		}
		binary.BigEndian.PutUint16(tag, tpid)
		binary.BigEndian.PutUint16(tag[2:], f.VLAN)
		setIovec(&iov[1], f.Data[:macsLen])
		setIovec(&iov[2], tag)
		if len(f.Data) == macsLen {
			s.msgs[i].Hdr.SetIovlen(3)
			continue
		}
		setIovec(&iov[3], f.Data[macsLen:])
		s.msgs[i].Hdr.SetIovlen(4)
	}
	return consumed, false
}

func setIovec(v *unix.Iovec, b []byte) {
	v.Base = &b[0]
	v.SetLen(len(b))
}

// flush sends the loaded messages on fd, in order, until the kernel refuses
// one, and counts them in c. It returns the number of messages sent before
// the refused one and the refusal's errno (0 when all went).
func (s *sender) flush(fd uintptr, c *counters) (sent int, errno syscall.Errno) {
	bytes := 0
	for sent < s.n {
		r, e := sendmmsg(fd, s.msgs[sent:s.n])
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			// sendmmsg fails only when its first message fails.
			c.countTxError(e)
			errno = e
			break
		}
		if r == 0 {
			// Cannot happen with messages left; never loop on it.
			break
		}
		for _, m := range s.msgs[sent : sent+r] {
			bytes += int(m.Len) - dataplane.VNetHdrLen
		}
		sent += r
	}
	s.reset()
	c.txPackets.Add(uint64(sent))
	c.txBytes.Add(uint64(bytes))
	return sent, errno
}

// reset forgets the loaded messages and the frames they pointed at.
func (s *sender) reset() {
	for i := range s.iovs[:s.n*iovsPerMsg] {
		s.iovs[i].Base = nil
	}
	s.n = 0
}

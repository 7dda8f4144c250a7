package topo

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxFrame is the largest frame a capture keeps whole: a 64 KiB GSO
// super-frame as veth passes it, with room for its headers. Longer frames
// (BIG TCP) are kept truncated.
const maxFrame = 1 << 17

// auxdataLen is sizeof(struct tpacket_auxdata): status, len, snaplen (u32),
// mac, net, vlan_tci, vlan_tpid (u16).
const auxdataLen = 20

// Capture records the frames that arrive on a link, as they were on the
// wire: VLAN tags that the kernel moved into metadata are put back. Frames
// the link sends are not recorded. It keeps every frame until it is closed.
type Capture struct {
	where string // "netns/ifname", for errors
	file  *os.File
	// done is closed when the reader goroutine has returned.
	done chan struct{}
	// closing is set before file is closed, so the reader tells a Close
	// from a failure.
	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
	// onClose unregisters the capture from its guest.
	onClose func()

	mu sync.Mutex
	// frames are the frames received so far, in order; never modified.
	frames [][]byte
	// grown is closed, and replaced, whenever frames grows.
	grown chan struct{}
	// err is the read error that stopped the reader, if not a Close.
	err error
}

func newCapture(fd int, where string) *Capture {
	c := &Capture{
		where: where,
		file:  os.NewFile(uintptr(fd), where),
		done:  make(chan struct{}),
		grown: make(chan struct{}),
	}
	go c.read()
	return c
}

func (c *Capture) read() {
	defer close(c.done)
	rc, err := c.file.SyscallConn()
	if err != nil {
		c.fail(err)
		return
	}
	buf := make([]byte, maxFrame)
	oob := make([]byte, unix.CmsgSpace(auxdataLen))
	for {
		var n, oobn int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		if c.closing.Load() {
			return
		}
		if err == nil {
			err = rerr
		}
		if err != nil {
			c.fail(err)
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		c.add(restoreTag(buf[:n], oob[:oobn]))
	}
}

// restoreTag returns a copy of frame with the VLAN tag that auxdata reports
// stripped put back after the MAC addresses.
func restoreTag(frame, oob []byte) []byte {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < auxdataLen {
				continue
			}
			status := binary.NativeEndian.Uint32(m.Data[0:4])
			tci := binary.NativeEndian.Uint16(m.Data[16:18])
			tpid := binary.NativeEndian.Uint16(m.Data[18:20])
			if status&unix.TP_STATUS_VLAN_VALID == 0 && tci == 0 {
				break
			}
			if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
				tpid = unix.ETH_P_8021Q
			}
			return Tag(frame, tpid, tci)
		}
	}
	return append([]byte(nil), frame...)
}

func (c *Capture) add(frame []byte) {
	c.mu.Lock()
	c.frames = append(c.frames, frame)
	close(c.grown)
	c.grown = make(chan struct{})
	c.mu.Unlock()
}

func (c *Capture) fail(err error) {
	c.mu.Lock()
	c.err = fmt.Errorf("topo: capture on %s: %w", c.where, err)
	c.mu.Unlock()
}

// Frames returns copies of the frames received so far, in order.
func (c *Capture) Frames() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(c.frames))
	for i, f := range c.frames {
		out[i] = append([]byte(nil), f...)
	}
	return out
}

// Count returns how many frames received so far match; a nil match counts
// them all. match must not modify the frame.
func (c *Capture) Count(match func([]byte) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return countFrom(c.frames, match)
}

func countFrom(frames [][]byte, match func([]byte) bool) int {
	n := 0
	for _, f := range frames {
		if match == nil || match(f) {
			n++
		}
	}
	return n
}

// WaitFor waits until at least n received frames match (nil matches all).
// It fails when timeout passes first, or when the capture stops.
func (c *Capture) WaitFor(match func([]byte) bool, n int, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	seen, matched := 0, 0
	for {
		c.mu.Lock()
		matched += countFrom(c.frames[seen:], match)
		seen = len(c.frames)
		grown, err := c.grown, c.err
		c.mu.Unlock()
		if matched >= n {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-grown:
		case <-c.done:
			c.mu.Lock()
			stopped := len(c.frames) == seen
			c.mu.Unlock()
			if stopped {
				return fmt.Errorf("topo: capture on %s stopped after %d of %d matching frames", c.where, matched, n)
			}
		case <-timer.C:
			return fmt.Errorf("topo: capture on %s: %d of %d matching frames within %v (%d frames in all)", c.where, matched, n, timeout, seen)
		}
	}
}

// Close stops the capture; the frames stay readable. It may be called
// more than once.
func (c *Capture) Close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.closeErr = c.file.Close()
		<-c.done
		if c.onClose != nil {
			c.onClose()
		}
	})
	return c.closeErr
}

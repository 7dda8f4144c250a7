package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Direction says whether a captured frame entered or left its port.
type Direction uint8

const (
	In  Direction = iota // received on the port
	Out                  // sent out of the port
)

func (d Direction) String() string {
	if d == Out {
		return "out"
	}
	return "in"
}

// CapturedFrame is one frame of a Capture: a copy, as on the port's wire
// (an 802.1Q tag in band).
type CapturedFrame struct {
	Time time.Time
	Port string
	Dir  Direction
	// Path is what forwarded the frame: "userspace", or the fast path's
	// mode ("tc", "xdp") for a frame the kernel forwarded or dropped
	// without userspace.
	Path string
	Data []byte
}

// CaptureFilter selects the frames a Capture keeps; its zero value keeps
// all.
type CaptureFilter struct {
	// MAC, if set, is the source or destination MAC.
	MAC net.HardwareAddr
	// VLAN, if set, is the VID of the frame's outer tag on the wire; 0
	// selects untagged frames.
	VLAN *uint16
	// EtherType, if not 0, is the ethertype after the tags.
	EtherType uint16
}

// match reports whether f keeps the frame d (a wire frame, tag in band).
func (f *CaptureFilter) match(d []byte) bool {
	if len(d) < EthHdrLen {
		return f.MAC == nil && f.VLAN == nil && f.EtherType == 0
	}
	if f.MAC != nil && !bytes.Equal(d[0:6], f.MAC) && !bytes.Equal(d[6:12], f.MAC) {
		return false
	}
	et := binary.BigEndian.Uint16(d[12:14])
	var vid uint16
	tagged := false
	off := 12
	for (et == EtherTypeVLAN || et == EtherTypeQinQ) && len(d) >= off+VLANTagLen+2 {
		if !tagged {
			vid, tagged = binary.BigEndian.Uint16(d[off+2:])&0xfff, true
		}
		off += VLANTagLen
		et = binary.BigEndian.Uint16(d[off:])
	}
	if f.VLAN != nil && (*f.VLAN == 0 && tagged || *f.VLAN != 0 && (!tagged || vid != *f.VLAN)) {
		return false
	}
	return f.EtherType == 0 || et == f.EtherType
}

// Capture receives copies of the frames one port receives and sends,
// whichever path forwarded them, until Close. Capturing costs the port's
// workers one atomic load per batch while no capture runs.
type Capture struct {
	b      *Bridge
	q      *port
	filter CaptureFilter
	ch     chan CapturedFrame
	done   chan struct{}
	lost   atomic.Uint64
	close  sync.Once
}

// Capture starts a capture of the named port, which queues up to queue
// frames for its reader; what comes while the queue is full is lost and
// counted in Lost. The bridge tells OnCapture (BridgeConfig) when a port's
// first capture starts and its last ends, so that a fast path can copy the
// frames it forwards (through CaptureFrame).
func (b *Bridge) Capture(name string, filter CaptureFilter, queue int) (*Capture, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var q *port
	for _, p := range b.ports.Load().list {
		if p.info.Name == name {
			q = p
		}
	}
	if q == nil {
		return nil, fmt.Errorf("bridge %s: capture on %s: %w", b.name, name, ErrNoPort)
	}
	c := &Capture{b: b, q: q, filter: filter, ch: make(chan CapturedFrame, max(queue, 1)), done: make(chan struct{})}
	old := q.caps.Load()
	var list []*Capture
	if old != nil {
		list = slices.Clone(*old)
	}
	list = append(list, c)
	q.caps.Store(&list)
	if old == nil && b.onCapture != nil {
		b.onCapture(q.info, true)
	}
	return c, nil
}

// Frames returns the captured frames. It is never closed: read until Done.
func (c *Capture) Frames() <-chan CapturedFrame { return c.ch }

// Done is closed by Close, and when the port goes.
func (c *Capture) Done() <-chan struct{} { return c.done }

// Lost returns the number of frames dropped because the queue was full.
func (c *Capture) Lost() uint64 { return c.lost.Load() }

// Close ends the capture.
func (c *Capture) Close() {
	c.close.Do(func() {
		b, q := c.b, c.q
		b.mu.Lock()
		if old := q.caps.Load(); old != nil {
			list := slices.DeleteFunc(slices.Clone(*old), func(x *Capture) bool { return x == c })
			if len(list) == 0 {
				q.caps.Store(nil)
				if b.onCapture != nil && b.ports.Load().get(q.id) == q {
					b.onCapture(q.info, false)
				}
			} else {
				q.caps.Store(&list)
			}
		}
		b.mu.Unlock()
		close(c.done)
	})
}

// offer queues a copy of the frame f (tag out of band if Tagged) for c.
func (c *Capture) offer(f *Frame, dir Direction, path string, now time.Time) {
	d := f.Data
	if f.Tagged && len(d) >= 12 {
		w := make([]byte, 0, len(d)+VLANTagLen)
		w = append(w, d[:12]...)
		w = binary.BigEndian.AppendUint16(w, f.TPID)
		w = binary.BigEndian.AppendUint16(w, f.VLAN)
		d = append(w, d[12:]...)
	} else {
		d = slices.Clone(d)
	}
	c.offerWire(d, dir, path, now)
}

// offerWire queues d, a wire frame c may keep, if the filter takes it.
func (c *Capture) offerWire(d []byte, dir Direction, path string, now time.Time) {
	if !c.filter.match(d) {
		return
	}
	select {
	case <-c.done:
	case c.ch <- CapturedFrame{Time: now, Port: c.q.info.Name, Dir: dir, Path: path, Data: d}:
	default:
		c.lost.Add(1)
	}
}

// capture offers frames of port q to its captures, if any: one atomic
// load while there is none.
func (q *port) capture(frames []Frame, dir Direction) {
	if cs := q.caps.Load(); cs != nil {
		captureAll(*cs, frames, dir)
	}
}

func captureAll(cs []*Capture, frames []Frame, dir Direction) {
	now := time.Now()
	for i := range frames {
		for _, c := range cs {
			c.offer(&frames[i], dir, "userspace", now)
		}
	}
}

// CaptureFrame offers a frame that the fast path forwarded or dropped
// without userspace to the captures of the port with that ifindex: data is
// the frame as on the port's wire. It reports whether the port has a
// capture.
func (b *Bridge) CaptureFrame(ifindex int, dir Direction, path string, data []byte, at time.Time) bool {
	for _, q := range b.ports.Load().list {
		if q.info.Ifindex != ifindex {
			continue
		}
		cs := q.caps.Load()
		if cs == nil {
			return false
		}
		for _, c := range *cs {
			c.offerWire(slices.Clone(data), dir, path, at)
		}
		return true
	}
	return false
}

// endCaptures ends the captures of q, which is leaving the bridge. Under
// b.mu.
func (q *port) endCaptures() {
	cs := q.caps.Swap(nil)
	if cs == nil {
		return
	}
	for _, c := range *cs {
		c.close.Do(func() { close(c.done) })
	}
}

package daemon

import (
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
)

// captureSource is a fast path that copies the frames it forwards or drops
// for the captures of a port (*bpf.FastPath).
type captureSource interface {
	SetCapture(ifindex int, on bool) error
	CaptureReader() (*bpf.CaptureReader, error)
}

// fastCaptures hands the frames the fast path copies to the captures of
// their bridges.
type fastCaptures struct {
	src     captureSource
	rd      *bpf.CaptureReader
	done    chan struct{} // closed when read returns
	bridges atomic.Pointer[[]*dataplane.Bridge]
}

// startFastCaptures opens the fast path's capture ring and reads it; nil
// if the fast path cannot copy frames.
func (d *Daemon) startFastCaptures() *fastCaptures {
	src, ok := d.fp.(captureSource)
	if !ok {
		return nil
	}
	rd, err := src.CaptureReader()
	if err != nil {
		d.log.Warn("captures will not see the frames the fast path forwards", "err", err)
		return nil
	}
	c := &fastCaptures{src: src, rd: rd, done: make(chan struct{})}
	c.bridges.Store(&[]*dataplane.Bridge{})
	go c.read(d)
	return c
}

// addBridge lets the captures of b see the fast path's frames; under the
// daemon's mu.
func (c *fastCaptures) addBridge(b *dataplane.Bridge) {
	if c == nil {
		return
	}
	list := append(append([]*dataplane.Bridge(nil), *c.bridges.Load()...), b)
	c.bridges.Store(&list)
}

// onCapture is a bridge's OnCapture: the fast path copies a port's frames
// while it has a capture.
func (c *fastCaptures) onCapture(d *Daemon) func(dataplane.PortInfo, bool) {
	if c == nil {
		return nil
	}
	return func(p dataplane.PortInfo, on bool) {
		if p.Ifindex <= 0 {
			return
		}
		if err := c.src.SetCapture(p.Ifindex, on); err != nil {
			d.log.Warn("capture: the fast path's frames of the port are not copied", "port", p.Name, "err", err)
		}
	}
}

func (c *fastCaptures) read(d *Daemon) {
	defer close(c.done)
	for {
		f, err := c.rd.Read()
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				d.log.Warn("reading the fast path's captured frames failed: captures see what userspace forwards only", "err", err)
			}
			return
		}
		dir := dataplane.In
		if f.Out {
			dir = dataplane.Out
		}
		now := time.Now()
		for _, b := range *c.bridges.Load() {
			if b.CaptureFrame(f.Ifindex, dir, f.Path, f.Data, now) {
				break
			}
		}
	}
}

// stop closes the ring and waits for the reader.
func (c *fastCaptures) stop() {
	if c == nil {
		return
	}
	c.rd.Close()
	<-c.done
}

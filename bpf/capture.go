package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/perf"
)

// Captures of fast-path frames: while a port has PORT_CAPTURE, the programs
// copy the frames they forward from or to it, and those they drop, to the
// xs_capture perf ring; a CaptureReader hands them over as on the wire.
// Frames they punt are not copied: userspace captures those.

// captureRingBytes is each CPU's share of the perf ring.
const captureRingBytes = 1 << 20

// portCapture is PORT_CAPTURE.
const portCapture = uint32(xswitchPortFlagPORT_CAPTURE)

// CapturedFrame is a frame the programs forwarded or dropped, copied for a
// capture of the port Ifindex.
type CapturedFrame struct {
	Ifindex int
	Out     bool   // redirected to the port; false: received from it
	Path    string // "tc" or "xdp"
	// Data is the frame as on the wire, a tag the kernel held out of band
	// put back after the MAC addresses. It is valid until the next Read.
	Data []byte
}

// SetCapture turns the copying of a port's frames on or off. It holds
// while the port stays attached, and a port attached again starts without
// it: a flag an earlier daemon left does not survive adoption.
func (fp *FastPath) SetCapture(ifindex int, on bool) error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	pl, ok := fp.ports[ifindex]
	if !ok {
		return nil
	}
	pl.capture = on
	var v xswitchPort
	if err := fp.objs.XsPorts.Lookup(uint32(ifindex), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		return fmt.Errorf("%s: fast path: port entry: %w", pl.name, err)
	}
	v.Flags &^= portCapture
	if on {
		v.Flags |= portCapture
	}
	if err := fp.writePort(uint32(ifindex), v, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("%s: fast path: capture flag: %w", pl.name, err)
	}
	return nil
}

// CaptureReader reads the frames the programs copy for captures.
type CaptureReader struct {
	rd   *perf.Reader
	rec  perf.Record // reused
	buf  []byte      // reused: the frame with its tag put back
	lost uint64      // frames the ring had no room for
}

// CaptureReader opens the ring the programs copy captured frames to. One
// reader at a time.
func (fp *FastPath) CaptureReader() (*CaptureReader, error) {
	rd, err := perf.NewReader(fp.objs.XsCapture, captureRingBytes)
	if err != nil {
		return nil, fmt.Errorf("fast path: capture ring: %w", err)
	}
	return &CaptureReader{rd: rd}, nil
}

// Read waits for the next captured frame. Once Close is called it returns
// an error wrapping os.ErrClosed.
func (r *CaptureReader) Read() (CapturedFrame, error) {
	for {
		if err := r.rd.ReadInto(&r.rec); err != nil {
			return CapturedFrame{}, err
		}
		r.lost += r.rec.LostSamples
		if f, ok := r.decode(r.rec.RawSample); ok {
			return f, nil
		}
	}
}

// Lost returns how many frames the programs could not copy because the
// ring was full.
func (r *CaptureReader) Lost() uint64 { return r.lost }

// Close ends a Read in progress and releases the ring.
func (r *CaptureReader) Close() error { return r.rd.Close() }

// decode reads a struct capture_event and the frame after it; false for a
// short sample.
func (r *CaptureReader) decode(b []byte) (CapturedFrame, bool) {
	n := binary.Size(xswitchCaptureEvent{})
	if len(b) < n {
		return CapturedFrame{}, false
	}
	ne := binary.NativeEndian
	size := int(ne.Uint32(b[4:]))
	if len(b) < n+size {
		return CapturedFrame{}, false
	}
	f := CapturedFrame{Ifindex: int(ne.Uint32(b[0:])), Out: b[8] == uint8(xswitchCaptureDirCAPTURE_OUT), Path: "tc"}
	if b[9] == uint8(xswitchCapturePathCAPTURE_XDP) {
		f.Path = "xdp"
	}
	data := b[n : n+size]
	tpid := binary.BigEndian.Uint16(b[10:]) // network order in the event
	if tpid == 0 || len(data) < 12 {
		f.Data = data
		return f, true
	}
	r.buf = append(r.buf[:0], data[:12]...)
	r.buf = binary.BigEndian.AppendUint16(r.buf, tpid)
	r.buf = binary.BigEndian.AppendUint16(r.buf, ne.Uint16(b[12:]))
	r.buf = append(r.buf, data[12:]...)
	f.Data = r.buf
	return f, true
}

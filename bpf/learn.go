package bpf

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/xswitch/xswitch/fdb"
)

// Learned is a MAC the programs learned, or moved, on their own: the map
// already points it at Ifindex.
type Learned struct {
	Bridge  uint32
	Key     fdb.Key
	Ifindex int
}

// LearnReader reads what the programs learn, in the order they learned it.
// Events left unread when it closes wait in the pinned ring for the next
// reader.
type LearnReader struct {
	rd  *ringbuf.Reader
	rec ringbuf.Record // reused: Read allocates nothing
}

// LearnReader opens the ring the programs report learned MACs on. One
// reader at a time.
func (fp *FastPath) LearnReader() (*LearnReader, error) {
	rd, err := ringbuf.NewReader(fp.objs.XsLearned)
	if err != nil {
		return nil, fmt.Errorf("fast path: learn ring: %w", err)
	}
	return &LearnReader{rd: rd}, nil
}

// Read waits for the next learned MAC. Once Close is called it returns an
// error wrapping os.ErrClosed.
func (r *LearnReader) Read() (Learned, error) {
	for {
		if err := r.rd.ReadInto(&r.rec); err != nil {
			return Learned{}, err
		}
		if l, ok := decodeLearned(r.rec.RawSample); ok {
			return l, nil
		}
	}
}

// Close ends a Read in progress and releases the ring.
func (r *LearnReader) Close() error { return r.rd.Close() }

// decodeLearned reads a struct learn_event; false for a short sample.
func decodeLearned(b []byte) (Learned, bool) {
	if len(b) < binary.Size(xswitchLearnEvent{}) {
		return Learned{}, false
	}
	ne := binary.NativeEndian
	bridge := ne.Uint32(b[0:])
	vid := ne.Uint16(b[4:])
	return Learned{
		Bridge:  bridge,
		Key:     fdb.MakeKey(vid, b[6:12]),
		Ifindex: int(ne.Uint32(b[12:])),
	}, true
}

package afxdp

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ring is one of a socket's four rings, shared with the kernel. Either the
// kernel produces and the switch consumes (RX, completion) or the other way
// round (fill, TX). The producer writes entries, then publishes its index;
// the consumer reads the index, then the entries, then publishes its own
// index. Go's atomic loads and stores order those accesses at least as
// strongly as the kernel's acquire and release.
type ring struct {
	mem   []byte  // the mapping; nil once unmapped
	prod  *uint32 // producer index, free running
	cons  *uint32 // consumer index, free running
	flags *uint32 // XDP_RING_NEED_WAKEUP
	descs *byte   // the first entry: a uint64 (fill, completion) or an XDPDesc (RX, TX)
	mask  uint32
	size  uint32

	// local is the switch's own index (producer or consumer); cached is
	// the last index read of the other side.
	local  uint32
	cached uint32
}

// Producer side (fill and TX rings).

// free returns how many entries the switch may produce, reading the
// kernel's consumer index only when the cached one does not show n free.
func (r *ring) free(n uint32) uint32 {
	f := r.size - (r.local - r.cached)
	if f >= n {
		return f
	}
	r.cached = atomic.LoadUint32(r.cons)
	return r.size - (r.local - r.cached)
}

// submit publishes the entries produced so far.
func (r *ring) submit() { atomic.StoreUint32(r.prod, r.local) }

// pending returns how many produced entries the kernel has not consumed.
func (r *ring) pending() uint32 { return r.local - atomic.LoadUint32(r.cons) }

// Consumer side (RX and completion rings).

// avail returns how many entries the kernel has produced that the switch
// has not consumed, reading the producer index only when the cached one
// shows none.
func (r *ring) avail() uint32 {
	if n := r.cached - r.local; n > 0 {
		return n
	}
	r.cached = atomic.LoadUint32(r.prod)
	return r.cached - r.local
}

// release hands the consumed entries back.
func (r *ring) release() { atomic.StoreUint32(r.cons, r.local) }

func (r *ring) needWakeup() bool { return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0 }

func (r *ring) unmap() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
}

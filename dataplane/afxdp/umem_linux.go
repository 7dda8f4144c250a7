package afxdp

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ownerFree marks a frame in the pool. A socket's frames are marked
// id<<1|roleRx (fill ring, RX ring, returned by Receive) or id<<1|roleTx (TX
// and completion rings, the sender's spare frames).
const (
	ownerFree = 0
	roleRx    = 0
	roleTx    = 1
)

// UMEM is a region of frame buffers that AF_XDP sockets share. Ports opened
// on the same UMEM pass frames to each other without copies. Its methods are
// safe for concurrent use.
type UMEM struct {
	mem       []byte // the mapping; unmapped by Close
	frameSize uint64 // a power of two
	shift     uint   // log2(frameSize)
	// owner[i] is the owner of frame i: ownerFree while the frame is in
	// the pool (or on its way out of it), else a socket's rxOwner or
	// txOwner. Changed by the frame's owner, by the sender that takes it
	// without a copy, or by reclaim once the owner is closed.
	owner []atomic.Uint32
	// nsocks is len(socks), read without the lock by floor on every
	// refill.
	nsocks atomic.Int32
	// inFill counts the frames posted on the sockets' fill rings that the
	// kernel has not been seen to take: what the rings hold, give or take
	// what was taken since each socket's last refill.
	inFill atomic.Int64
	// nwaiting is len(waiting), read without the lock by put.
	nwaiting atomic.Int32

	mu    sync.Mutex
	free  []uint64 // addresses of the frames in the pool; under mu
	socks []*xsk   // bound sockets; a new one shares the UMEM through any of them; under mu
	// waiting are the ports whose fill rings ran dry with the pool empty;
	// put wakes them. Under mu.
	waiting []*Port
	nextID  uint32 // owner id of the next socket; under mu
	// multiBuffer: the sockets are bound with XDP_USE_SG, so a frame may
	// span several UMEM frames. The first socket bound decides it for
	// those that share the UMEM with it; under mu.
	multiBuffer bool
	closed      bool // unmapped; under mu
}

// NewUMEM maps and locks a UMEM. Zero fields of cfg take their value from
// DefaultUMEMConfig.
func NewUMEM(cfg UMEMConfig) (*UMEM, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("afxdp: umem: %w", err)
	}
	mem, err := unix.Mmap(-1, 0, cfg.FrameSize*cfg.Frames, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("afxdp: umem: mmap %d bytes: %w", cfg.FrameSize*cfg.Frames, err)
	}
	u := &UMEM{
		mem:       mem,
		frameSize: uint64(cfg.FrameSize),
		shift:     uint(bits.TrailingZeros(uint(cfg.FrameSize))),
		owner:     make([]atomic.Uint32, cfg.Frames),
		free:      make([]uint64, cfg.Frames),
		nextID:    1,
	}
	for i := range u.free {
		u.free[i] = uint64(len(u.free)-1-i) << u.shift // frame 0 on top
	}
	return u, nil
}

// Frames returns the number of frame buffers.
func (u *UMEM) Frames() int { return len(u.owner) }

// FrameSize returns the size of one frame buffer.
func (u *UMEM) FrameSize() int { return int(u.frameSize) }

// Free returns the number of frames in the pool: not given to any socket.
// With no port open, every frame is free.
func (u *UMEM) Free() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.free)
}

// Close unmaps the UMEM. It fails while ports are open on it.
func (u *UMEM) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	if len(u.socks) > 0 {
		return errors.New("afxdp: umem: close: ports are still open on it")
	}
	u.closed = true
	return unix.Munmap(u.mem)
}

// get takes up to len(dst) frames out of the pool and returns how many it
// took, leaving at least keep frames there: fill rings must not take the
// frames senders need. The pool's lock is taken once per call, so callers
// ask for a batch, not a frame. The frames come out marked ownerFree: the
// caller marks each with its owner (an atomic store per frame, which is
// what lets reclaim find a closed socket's frames wherever they are) before
// anyone else can see it.
func (u *UMEM) get(dst []uint64, keep int) int {
	u.mu.Lock()
	n := max(min(len(dst), len(u.free)-keep), 0)
	copy(dst, u.free[len(u.free)-n:])
	u.free = u.free[:len(u.free)-n]
	u.mu.Unlock()
	return n
}

// put returns frames to the pool; addrs may point anywhere in their frames.
// Like get, it takes the lock once for the batch.
func (u *UMEM) put(addrs []uint64) {
	for i, a := range addrs {
		addrs[i] = a &^ (u.frameSize - 1)
		u.owner[a>>u.shift].Store(ownerFree)
	}
	u.mu.Lock()
	u.free = append(u.free, addrs...)
	var wake []*Port
	if u.nwaiting.Load() > 0 {
		wake = u.waiting
		u.waiting = nil
		u.nwaiting.Store(0)
	}
	u.mu.Unlock()
	for _, p := range wake {
		p.wake()
	}
}

// wakeWhenFree has p woken by the next put: p's fill rings ran dry and the
// pool had nothing for them.
func (u *UMEM) wakeWhenFree(p *Port) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.free) > u.Frames()/16 {
		p.rx.woken.Store(true) // frames came back meanwhile
		return
	}
	if !slices.Contains(u.waiting, p) {
		u.waiting = append(u.waiting, p)
		u.nwaiting.Store(int32(len(u.waiting)))
	}
}

// join gives a bound socket its owner ids and adds it; under mu.
func (u *UMEM) join(s *xsk) {
	s.id = u.nextID
	u.nextID++
	s.rxOwner, s.txOwner = s.id<<1|roleRx, s.id<<1|roleTx
	// A socket that has not received yet aims at firstFill frames, or at
	// an equal share of a quarter of the UMEM among the sockets so far when
	// that is more: on a bridge of a few ports a first burst then finds
	// the ring full, while refill's budget for such sockets keeps the
	// ports of a big bridge from parking the UMEM.
	s.target = min(max(firstFill, uint32(u.Frames()/(4*(len(u.socks)+1)))), s.fill.size)
	u.socks = append(u.socks, s)
	u.nsocks.Store(int32(len(u.socks)))
}

// leave removes the sockets of a port that closes, and the port from the
// ones waiting for frames.
func (u *UMEM) leave(p *Port) {
	gone := p.queues
	u.mu.Lock()
	defer u.mu.Unlock()
	if i := slices.Index(u.waiting, p); i >= 0 {
		u.waiting = slices.Delete(u.waiting, i, i+1)
		u.nwaiting.Store(int32(len(u.waiting)))
	}
	socks := u.socks[:0]
	for _, s := range u.socks {
		if !slices.Contains(gone, s) {
			socks = append(socks, s)
			continue
		}
		u.inFill.Add(-int64(s.fill.local - s.cons))
	}
	clear(u.socks[len(socks):])
	u.socks = socks
	u.nsocks.Store(int32(len(u.socks)))
}

// shared reports whether sockets are bound to the UMEM.
func (u *UMEM) shared() bool { return u.nsocks.Load() > 0 }

// sharedMultiBuffer reports whether sockets are bound to the UMEM with
// XDP_USE_SG; false when none are bound.
func (u *UMEM) sharedMultiBuffer() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.socks) > 0 && u.multiBuffer
}

// reclaim returns to the pool every frame a closed socket owned, wherever
// the socket left it.
func (u *UMEM) reclaim(id uint32) int {
	rx, tx := id<<1|roleRx, id<<1|roleTx
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for i := range u.owner {
		if o := u.owner[i].Load(); o == rx || o == tx {
			u.owner[i].Store(ownerFree)
			u.free = append(u.free, uint64(i)<<u.shift)
			n++
		}
	}
	return n
}

// take moves a frame the dataplane received on some socket of this UMEM to
// the sending socket with owner to, provided it is still where Receive left
// it; addr is the frame's offset in the UMEM. The compare-and-swap, one per
// frame sent without a copy, is the handover itself and stays per frame:
// it is what keeps a frame from ever having two owners.
func (u *UMEM) take(addr uint64, to uint32) bool {
	o := &u.owner[addr>>u.shift]
	cur := o.Load()
	return cur != ownerFree && cur&1 == roleRx && o.CompareAndSwap(cur, to)
}

// frame returns n bytes of the UMEM at addr.
func (u *UMEM) frame(addr uint64, n int) []byte {
	return u.mem[addr : addr+uint64(n) : (addr|(u.frameSize-1))+1]
}

// floor is the fill depth a socket that has received is sure of: an equal
// share of a quarter of the UMEM, at least minFill frames, at most the ring.
func (u *UMEM) floor(ring uint32) uint32 {
	socks := max(int(u.nsocks.Load()), 1)
	return max(min(uint32(len(u.owner)/(4*socks)), ring), minFill)
}

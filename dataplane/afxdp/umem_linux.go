package afxdp

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	// senders are the open ports, whose idle senders collect may ask for
	// their completed frames; replaced (never changed) under mu.
	senders atomic.Pointer[[]*Port]
	// owed is what the fill rings lack of their floors, summed over the
	// sockets as their ports' refills found it (rxState.owes).
	owed atomic.Int64
	// collected is when collect last ran, in Unix nanoseconds: it runs at
	// most once a millisecond.
	collected atomic.Int64

	mu     sync.Mutex
	free   []uint64 // addresses of the frames in the pool; under mu
	socks  []*xsk   // bound sockets; a new one shares the UMEM through any of them; under mu
	nextID uint32   // owner id of the next socket; under mu
	closed bool     // unmapped; under mu
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
	u.mu.Unlock()
}

// join gives a bound socket its owner ids and adds it; under mu.
func (u *UMEM) join(s *xsk) {
	s.id = u.nextID
	u.nextID++
	s.rxOwner, s.txOwner = s.id<<1|roleRx, s.id<<1|roleTx
	u.socks = append(u.socks, s)
	u.nsocks.Store(int32(len(u.socks)))
}

// enlist adds a port whose sockets are bound to the senders collect asks.
func (u *UMEM) enlist(p *Port) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var ps []*Port
	if old := u.senders.Load(); old != nil {
		ps = slices.Clone(*old)
	}
	ps = append(ps, p)
	u.senders.Store(&ps)
}

// leave removes a port that closes: its sockets and its sender.
func (u *UMEM) leave(p *Port) {
	u.mu.Lock()
	defer u.mu.Unlock()
	socks := u.socks[:0]
	for _, s := range u.socks {
		if !slices.Contains(p.queues, s) {
			socks = append(socks, s)
		}
	}
	clear(u.socks[len(socks):])
	u.socks = socks
	u.nsocks.Store(int32(len(u.socks)))
	if old := u.senders.Load(); old != nil {
		ps := slices.DeleteFunc(slices.Clone(*old), func(q *Port) bool { return q == p })
		u.senders.Store(&ps)
	}
}

// shared reports whether sockets are bound to the UMEM.
func (u *UMEM) shared() bool { return u.nsocks.Load() > 0 }

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

// maxFloor bounds a socket's floor: enough for the first frames of a
// burst, whose arrival wakes the socket's Receive to ask for more.
const maxFloor = 32

// floor is how many frames a socket keeps in its fill ring while idle: a
// quarter of the UMEM shared out among the sockets, at most maxFloor and
// the ring, at least one. A socket that joins later gets a smaller floor;
// the earlier ones give up the difference the next time they receive.
func (u *UMEM) floor(ring uint32) uint32 {
	socks := max(int(u.nsocks.Load()), 1)
	return max(min(uint32(len(u.owner)/(4*socks)), maxFloor, ring), 1)
}

// fillMax bounds what one busy socket keeps in its fill ring: the ring, and
// a quarter of the UMEM.
func (u *UMEM) fillMax(ring uint32) uint32 {
	return max(min(ring, uint32(len(u.owner)/4)), u.floor(ring))
}

// lendReserve is what loans above the floors leave in the pool: what the
// floors are known to lack, and a sixteenth of the UMEM for the floors of
// sockets that receive before they refill.
func (u *UMEM) lendReserve() int { return len(u.owner)/16 + int(u.owed.Load()) }

// sendReserve is what senders' copies leave in the pool: what the floors
// are known to lack.
func (u *UMEM) sendReserve() int { return int(u.owed.Load()) }

// lend takes frames out of the pool for fill rings, under one lock: the
// first floor of len(dst) down to the pool's last frame, the rest only while
// lendReserve frames stay. It returns how many it took, marked ownerFree
// like get's.
func (u *UMEM) lend(dst []uint64, floor int) int {
	u.mu.Lock()
	free := len(u.free)
	loans := max(min(len(dst)-floor, free-floor-u.lendReserve()), 0)
	n := min(floor, free, len(dst)) + loans
	copy(dst, u.free[free-n:])
	u.free = u.free[:free-n]
	u.mu.Unlock()
	return n
}

// collect brings back to the pool the frames senders hold while they are
// not sending: their spares and what their completion rings gave back since
// their last Send, which a port that is no longer sent to would hold for
// good. A sender that is sending is skipped: it gives them back at the end
// of its Send. It runs at most once a millisecond and reports whether it
// ran; self is a port whose sender the caller holds.
func (u *UMEM) collect(self *Port) bool {
	now := time.Now().UnixNano()
	last := u.collected.Load()
	if now-last < int64(time.Millisecond) || !u.collected.CompareAndSwap(last, now) {
		return false
	}
	ps := u.senders.Load()
	if ps == nil {
		return false
	}
	for _, p := range *ps {
		if p == self || !p.tx.mu.TryLock() {
			continue
		}
		p.releaseSpares()
		p.tx.mu.Unlock()
	}
	return true
}

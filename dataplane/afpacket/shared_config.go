package afpacket

import (
	"fmt"
	"math"
	"os"
)

// SharedConfig sizes the ring of a Shared receiver. A zero field takes its
// value from DefaultSharedConfig.
type SharedConfig struct {
	// Frames is the number of frame slots in the ring: how many punted
	// frames of all ports together may wait for the switch. Rounded up to
	// whole ring blocks.
	Frames int
	// FrameSize is the size in bytes of one slot, a multiple of 16. The
	// kernel stores a frame with about 80 bytes of headers in one slot;
	// a longer frame (a GSO super-frame, a jumbo frame) it queues on the
	// socket instead, whole, which costs a copy. The default holds a
	// 1500-byte frame with a tag.
	FrameSize int
	// BatchSize is the number of frames the dataplane should pass to
	// Receive; at most 1024.
	BatchSize int
	// PuntEtherType is the ethertype the socket is bound to, whose 4-byte
	// header Receive removes.
	PuntEtherType uint16
}

const (
	// maxPuntedLen is the longest punted frame: the longest frame a port
	// receives, with the punt header and a tag moved inline by the fast
	// path.
	maxPuntedLen = maxFrameLen + PuntHeaderLen + 4
	// minFrameSize is the smallest slot the switch accepts.
	minFrameSize = 256
	// slotsPerBlock is how many slots a ring block is sized for: blocks
	// are a power of two pages (what the kernel allocates anyway), so
	// several slots to a block waste less of it.
	slotsPerBlock = 16
)

// DefaultSharedConfig returns the defaults: 1024 slots of 2 KiB, a 2 MiB
// ring in 64 blocks of 32 KiB, enough for a burst of a thousand punts.
func DefaultSharedConfig() SharedConfig {
	return SharedConfig{
		Frames:    1024,
		FrameSize: 2048,
		BatchSize: 64,
	}
}

// withDefaults returns c with its zero fields from DefaultSharedConfig, or
// an error naming the first field out of range.
func (c SharedConfig) withDefaults() (SharedConfig, error) {
	d := DefaultSharedConfig()
	if c.Frames == 0 {
		c.Frames = d.Frames
	}
	if c.FrameSize == 0 {
		c.FrameSize = d.FrameSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	switch {
	case c.FrameSize < minFrameSize || c.FrameSize%16 != 0 || c.FrameSize > 1<<30:
		return c, fmt.Errorf("FrameSize %d: must be a multiple of 16 between %d and 1 GiB", c.FrameSize, minFrameSize)
	case c.Frames < 2:
		return c, fmt.Errorf("Frames %d: must be at least 2", c.Frames)
	case c.BatchSize < 1 || c.BatchSize > maxBatchSize:
		return c, fmt.Errorf("BatchSize %d: must be between 1 and %d", c.BatchSize, maxBatchSize)
	}
	g := c.geometry(os.Getpagesize())
	if int64(g.blockSize)*int64(g.blocks) > math.MaxUint32 {
		return c, fmt.Errorf("Frames %d × FrameSize %d: the ring must be smaller than 4 GiB", c.Frames, c.FrameSize)
	}
	return c, nil
}

// Validate reports the first field of c, after defaults, that OpenShared
// would refuse.
func (c SharedConfig) Validate() error {
	_, err := c.withDefaults()
	return err
}

// ringGeometry is how a SharedConfig lays out the kernel's ring.
type ringGeometry struct {
	blockSize int // a power of two pages
	perBlock  int // slots per block
	blocks    int
}

func (c SharedConfig) geometry(pageSize int) ringGeometry {
	want := c.FrameSize * min(c.Frames, slotsPerBlock)
	bs := pageSize
	for bs < want {
		bs *= 2
	}
	per := bs / c.FrameSize
	return ringGeometry{blockSize: bs, perBlock: per, blocks: (c.Frames + per - 1) / per}
}

// RingBytes returns the kernel memory the ring of c takes, after defaults.
func (c SharedConfig) RingBytes() int {
	c, err := c.withDefaults()
	if err != nil {
		return 0
	}
	g := c.geometry(os.Getpagesize())
	return g.blockSize * g.blocks
}

package afxdp

import (
	"fmt"
	"math/bits"
	"time"
)

// BindMode says how a socket is bound to its queue.
type BindMode string

// Bind modes.
const (
	// BindAuto tries zero-copy and falls back to copy mode.
	BindAuto BindMode = "auto"
	// BindZeroCopy needs a driver that DMAs straight into the UMEM.
	BindZeroCopy BindMode = "zerocopy"
	// BindCopy has the kernel copy frames between its buffers and the UMEM;
	// every driver with XDP can.
	BindCopy BindMode = "copy"
)

// Config configures a Port. Zero fields take their value from DefaultConfig.
type Config struct {
	// RxRingSize is the number of entries of each socket's RX and fill
	// rings, a power of two.
	RxRingSize int
	// TxRingSize is the number of entries of the TX and completion rings,
	// a power of two.
	TxRingSize int
	// BatchSize is the number of frames the dataplane should pass to
	// Receive and Send.
	BatchSize int
	// Mode is the bind mode; "" means BindAuto.
	Mode BindMode
	// SpinTime is how long Receive keeps looking at the rings after a
	// full batch before it sleeps. Negative: never spin.
	SpinTime time.Duration
	// CompleteChecksums has Receive finish the TCP and UDP checksums a
	// local stack left pending (dataplane.CompletePendingChecksum): a guest
	// behind a veth or vif leaves them to offload, and the metadata that
	// says so does not survive XDP. Frames from a physical NIC carry
	// complete checksums and need no such pass.
	CompleteChecksums bool
	// Queues is the number of receive queues to open sockets on, from
	// queue 0; 0 means QueueCount of the interface.
	Queues int
	// Register, if set, is called with each socket once it is bound, to put
	// it in the XSKMAP of the XDP program that feeds it. An error fails
	// Open.
	Register func(queue, fd int) error
}

// DefaultConfig returns the defaults: rings of 2048 entries, batches of 256,
// automatic bind mode, 20 µs of spinning.
func DefaultConfig() Config {
	return Config{RxRingSize: 2048, TxRingSize: 2048, BatchSize: 256, Mode: BindAuto, SpinTime: 20 * time.Microsecond}
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.RxRingSize == 0 {
		c.RxRingSize = d.RxRingSize
	}
	if c.TxRingSize == 0 {
		c.TxRingSize = d.TxRingSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.Mode == "" {
		c.Mode = d.Mode
	}
	if c.SpinTime == 0 {
		c.SpinTime = d.SpinTime
	}
	switch {
	case bits.OnesCount(uint(c.RxRingSize)) != 1 || c.RxRingSize > 1<<16:
		return c, fmt.Errorf("RxRingSize %d: must be a power of two up to 65536", c.RxRingSize)
	case bits.OnesCount(uint(c.TxRingSize)) != 1 || c.TxRingSize > 1<<16:
		return c, fmt.Errorf("TxRingSize %d: must be a power of two up to 65536", c.TxRingSize)
	case c.BatchSize < 1 || c.BatchSize > c.RxRingSize || c.BatchSize > c.TxRingSize:
		return c, fmt.Errorf("BatchSize %d: must be between 1 and the ring sizes", c.BatchSize)
	case c.Queues < 0:
		return c, fmt.Errorf("Queues %d: must not be negative", c.Queues)
	case c.Mode != BindAuto && c.Mode != BindZeroCopy && c.Mode != BindCopy:
		return c, fmt.Errorf("Mode %q: must be auto, zerocopy or copy", c.Mode)
	}
	return c, nil
}

// Validate reports the first field of c, after defaults, that Open would
// refuse.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// UMEMConfig sizes a UMEM.
type UMEMConfig struct {
	// FrameSize is the size of one frame buffer: 2048 or 4096 bytes. The
	// kernel keeps 256 bytes of it as headroom; a longer frame spans
	// several buffers, on multi-buffer sockets (see MaxMTU).
	FrameSize int
	// Frames is the number of frame buffers, shared by every port of the
	// UMEM: their fill rings, and the frames in flight.
	Frames int
}

// DefaultUMEMConfig returns 8192 frames of 4 KiB (32 MiB, locked in memory).
func DefaultUMEMConfig() UMEMConfig { return UMEMConfig{FrameSize: 4096, Frames: 8192} }

func (c UMEMConfig) withDefaults() (UMEMConfig, error) {
	d := DefaultUMEMConfig()
	if c.FrameSize == 0 {
		c.FrameSize = d.FrameSize
	}
	if c.Frames == 0 {
		c.Frames = d.Frames
	}
	switch {
	case c.FrameSize != 2048 && c.FrameSize != 4096:
		return c, fmt.Errorf("FrameSize %d: must be 2048 or 4096", c.FrameSize)
	case c.Frames < 64 || c.Frames > 1<<20:
		return c, fmt.Errorf("Frames %d: must be between 64 and %d", c.Frames, 1<<20)
	}
	return c, nil
}

// Validate reports the first field of c, after defaults, that NewUMEM
// would refuse.
func (c UMEMConfig) Validate() error {
	_, err := c.withDefaults()
	return err
}

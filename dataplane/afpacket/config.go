package afpacket

import (
	"fmt"
	"math"
	"math/bits"
	"os"
	"time"
)

// Config sizes the receive ring, the send batches and the send buffer of a
// Port. A zero field takes its value from VifConfig.
type Config struct {
	// BlockSize is the size in bytes of one TPACKET_V3 ring block: a
	// power-of-two multiple of the page size that holds at least one 64 KiB
	// GSO super-frame with its headers (so at least 128 KiB with 4 KiB pages).
	BlockSize int
	// BlockCount is the number of blocks in the ring, at least 2: one the
	// kernel fills while the switch reads another.
	BlockCount int
	// BlockTimeout is how long the kernel keeps a partly filled block before
	// handing it over. A reader wakes only when a block is handed over, so
	// this bounds the latency at low packet rates. Rounded up to whole
	// milliseconds, at most 65535 ms.
	BlockTimeout time.Duration
	// BatchSize is the number of frames the dataplane should pass to Receive
	// and Send, and the number of messages per sendmmsg call; at most 1024.
	BatchSize int
	// SndBuf is the socket send buffer in bytes (SO_SNDBUF, which the kernel
	// doubles): how much the port may have queued in the device before Send
	// reports the device busy. It holds at least one 64 KiB super-frame.
	SndBuf int
	// PuntEtherType, if not 0, binds the socket to this ethertype instead
	// of ETH_P_ALL: the port then receives only the frames the eBPF fast
	// path punts to userspace, each with a 4-byte punt header after its MAC
	// addresses (this ethertype, then a reason), which Receive removes. The
	// fast path forwards the other frames in the kernel. (An ETH_P_ALL
	// socket is a tap: it would see those too, before TC ingress runs.)
	PuntEtherType uint16
}

const (
	// maxFrameLen is the longest frame a port must receive whole: a 64 KiB
	// GSO super-frame with its Ethernet header and one VLAN tag.
	maxFrameLen = 65536 + 14 + 4
	// ringOverhead is what a ring block spends besides the frame: the block
	// descriptor (48 bytes) and, per packet, the tpacket3_hdr and
	// sockaddr_ll (68 bytes) and the virtio-net header, with alignment.
	ringOverhead = 48 + 128
	// minBlockSize is the smallest BlockSize that holds maxFrameLen.
	minBlockSize = maxFrameLen + ringOverhead
	// maxBatchSize is the kernel's limit on messages per sendmmsg (UIO_MAXIOV).
	maxBatchSize = 1024
	// maxBlockTimeout is the largest retire timeout: the kernel keeps it in
	// an unsigned short of milliseconds.
	maxBlockTimeout = 65535 * time.Millisecond
)

// VifConfig returns the defaults for a guest's vif: a 1 MiB ring
// (8 blocks of 128 KiB) so that hundreds of vifs stay cheap.
func VifConfig() Config {
	return Config{
		BlockSize:    128 << 10,
		BlockCount:   8,
		BlockTimeout: time.Millisecond,
		BatchSize:    64,
		SndBuf:       1 << 20,
	}
}

// UplinkConfig returns the defaults for a physical uplink, which carries
// the traffic of every guest: an 8 MiB ring (32 blocks of 256 KiB).
func UplinkConfig() Config {
	return Config{
		BlockSize:    256 << 10,
		BlockCount:   32,
		BlockTimeout: time.Millisecond,
		BatchSize:    256,
		SndBuf:       4 << 20,
	}
}

// withDefaults returns c with its zero fields taken from VifConfig and its
// BlockTimeout rounded up to whole milliseconds, or an error naming the
// first field that is out of range.
func (c Config) withDefaults() (Config, error) {
	d := VifConfig()
	if c.BlockSize == 0 {
		c.BlockSize = d.BlockSize
	}
	if c.BlockCount == 0 {
		c.BlockCount = d.BlockCount
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = d.BlockTimeout
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.SndBuf == 0 {
		c.SndBuf = d.SndBuf
	}
	if c.BlockTimeout > 0 {
		c.BlockTimeout = (c.BlockTimeout + time.Millisecond - 1).Truncate(time.Millisecond)
	}
	return c, c.validate(os.Getpagesize())
}

func (c Config) validate(pageSize int) error {
	switch {
	case c.BlockSize < minBlockSize:
		return fmt.Errorf("BlockSize %d: must be at least %d bytes to hold a 64 KiB GSO super-frame with its ring headers", c.BlockSize, minBlockSize)
	case c.BlockSize%pageSize != 0 || bits.OnesCount(uint(c.BlockSize/pageSize)) != 1:
		return fmt.Errorf("BlockSize %d: must be a power-of-two multiple of the page size (%d)", c.BlockSize, pageSize)
	case c.BlockCount < 2:
		return fmt.Errorf("BlockCount %d: must be at least 2, so the kernel can fill one block while the switch reads another", c.BlockCount)
	case int64(c.BlockSize)*int64(c.BlockCount) > math.MaxUint32:
		return fmt.Errorf("BlockSize %d × BlockCount %d: the ring must be smaller than 4 GiB", c.BlockSize, c.BlockCount)
	case c.BlockTimeout < time.Millisecond || c.BlockTimeout > maxBlockTimeout:
		return fmt.Errorf("BlockTimeout %v: must be between 1ms and %v", c.BlockTimeout, maxBlockTimeout)
	case c.BatchSize < 1 || c.BatchSize > maxBatchSize:
		return fmt.Errorf("BatchSize %d: must be between 1 and %d (the kernel's limit per sendmmsg)", c.BatchSize, maxBatchSize)
	case c.SndBuf < maxFrameLen || c.SndBuf > math.MaxInt32/2:
		return fmt.Errorf("SndBuf %d: must be between %d (one 64 KiB super-frame) and %d", c.SndBuf, maxFrameLen, math.MaxInt32/2)
	}
	return nil
}

// Validate reports the first field of c, after defaults, that Open would
// refuse, naming the field and the reason.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

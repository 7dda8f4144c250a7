package afxdp

import (
	"sync/atomic"

	"github.com/xswitch/xswitch/dataplane"
)

var _ dataplane.Port = (*Port)(nil)
var _ dataplane.KernelDropper = (*Port)(nil)

// Port is a dataplane.Port on the AF_XDP sockets of one interface, one per
// receive queue. Its state is split by who uses it: rx belongs to the
// Receive goroutine, tx to the Send caller, h to whoever closes the
// sockets; the rest is set by Open and read-only after.
type Port struct {
	name    string
	ifindex int
	cfg     Config // with its defaults
	umem    *UMEM  // the UMEM the port's frames belong to
	ownUMEM bool   // umem is the port's alone (sharing was refused): teardown closes it
	queues  []*xsk // one socket per receive queue; closed (fd -1) by teardown

	maxLen atomic.Int64 // the longest frame Send takes: the MTU plus the Ethernet header
	closed atomic.Bool  // set once, by Close

	rx rxState
	tx txState
	h  handles
	c  counters
}

// Name implements dataplane.Port.
func (p *Port) Name() string { return p.name }

// BatchSize implements dataplane.Port.
func (p *Port) BatchSize() int { return p.cfg.BatchSize }

// ZeroCopy reports whether the port's sockets are bound in zero-copy mode.
func (p *Port) ZeroCopy() bool { return p.queues[0].zeroCopy }

// SharesUMEM reports whether the port uses the UMEM it was opened with, so
// frames pass between it and the other ports of that UMEM without copies.
func (p *Port) SharesUMEM() bool { return !p.ownUMEM }

// MultiBuffer reports whether the port's sockets are bound with
// XDP_USE_SG: a frame may span several UMEM frames.
func (p *Port) MultiBuffer() bool { return p.queues[0].multiBuffer }

// MaxMTU returns the largest link MTU the port carries; a longer one needs
// the port opened again (see Open).
func (p *Port) MaxMTU() int { return MaxMTU(p.umem.FrameSize(), p.MultiBuffer()) }

// Queues returns the number of sockets, one per receive queue.
func (p *Port) Queues() int { return len(p.queues) }

// SetMTU sets the MTU Send checks frames against; Open reads it from the
// interface.
func (p *Port) SetMTU(mtu int) { p.maxLen.Store(int64(mtu + dataplane.EthHdrLen)) }

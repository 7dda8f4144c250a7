package afpacket

import (
	"sync/atomic"
	"syscall"
)

// Stats are the counters of a port since Open. They only grow.
type Stats struct {
	RxPackets uint64 // frames returned by Receive
	RxBytes   uint64 // bytes of those frames (Data, without the out-of-band tag)
	// RxDropped counts frames the kernel could not put in the ring because
	// it was full (tpacket_stats_v3.tp_drops).
	RxDropped uint64
	// RxFreezes counts the times the ring ran full and the kernel stopped
	// filling it until the switch handed a block back (tp_freeze_q_cnt).
	RxFreezes uint64
	// RxTruncated counts frames too long for a ring block: the kernel
	// stored only their start, and Receive skipped them.
	RxTruncated uint64
	// SocketErrors counts asynchronous socket errors taken from SO_ERROR
	// while Receive waited, e.g. ENETDOWN when the link went down; the port
	// goes on working when the link comes back.
	SocketErrors    uint64
	LastSocketError syscall.Errno // the latest of those errors; 0 if none

	TxPackets uint64 // frames handed to the device by Send
	TxBytes   uint64 // bytes of those frames as sent (with inline tags)
	TxTooBig  uint64 // frames refused with EMSGSIZE: longer than the MTU and not GSO
	TxBusy    uint64 // frames refused with EAGAIN or ENOBUFS: send buffer or device queue full
	TxDown    uint64 // frames refused with ENETDOWN, ENXIO or ENODEV: the link is down or gone
	TxInvalid uint64 // malformed frames: EINVAL, or a Tagged frame shorter than its two MACs
	TxOther   uint64 // frames refused with any other error
}

// counters are the Stats being counted: written by the Receive and Send
// goroutines, read by Stats from any goroutine.
type counters struct {
	rxPackets, rxBytes, rxDropped, rxFreezes, rxTruncated atomic.Uint64
	socketErrors                                          atomic.Uint64
	lastSocketError                                       atomic.Uint32 // a syscall.Errno
	txPackets, txBytes                                    atomic.Uint64
	txTooBig, txBusy, txDown, txInvalid, txOther          atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		RxPackets:       c.rxPackets.Load(),
		RxBytes:         c.rxBytes.Load(),
		RxDropped:       c.rxDropped.Load(),
		RxFreezes:       c.rxFreezes.Load(),
		RxTruncated:     c.rxTruncated.Load(),
		SocketErrors:    c.socketErrors.Load(),
		LastSocketError: syscall.Errno(c.lastSocketError.Load()),
		TxPackets:       c.txPackets.Load(),
		TxBytes:         c.txBytes.Load(),
		TxTooBig:        c.txTooBig.Load(),
		TxBusy:          c.txBusy.Load(),
		TxDown:          c.txDown.Load(),
		TxInvalid:       c.txInvalid.Load(),
		TxOther:         c.txOther.Load(),
	}
}

// countTxError counts one frame that Send could not send because of errno.
func (c *counters) countTxError(errno syscall.Errno) {
	switch errno {
	case syscall.EMSGSIZE:
		c.txTooBig.Add(1)
	case syscall.EAGAIN, syscall.ENOBUFS:
		c.txBusy.Add(1)
	case syscall.ENETDOWN, syscall.ENXIO, syscall.ENODEV:
		c.txDown.Add(1)
	case syscall.EINVAL:
		c.txInvalid.Add(1)
	default:
		c.txOther.Add(1)
	}
}

// KernelDrops implements dataplane.KernelDropper.
func (p *Port) KernelDrops() (ringFull, truncated uint64) {
	st := p.Stats()
	return st.RxDropped, st.RxTruncated
}

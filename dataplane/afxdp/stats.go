package afxdp

import "sync/atomic"

// Stats are the counters of a port since Open. They only grow.
type Stats struct {
	RxPackets uint64 // frames returned by Receive
	RxBytes   uint64
	// RxChecksumsCompleted counts received frames whose pending TCP or UDP
	// checksum Receive finished (Config.CompleteChecksums).
	RxChecksumsCompleted uint64

	TxPackets   uint64 // descriptors posted: frames, or segments of super-frames
	TxBytes     uint64
	TxZeroCopy  uint64 // frames sent without a copy, their buffer taken from the receiving port
	TxSegmented uint64 // GSO super-frames cut in software
	TxSegments  uint64 // the segments they gave
	TxTooBig    uint64 // frames refused with EMSGSIZE: longer than a UMEM frame or the MTU
	TxNoBuffer  uint64 // frames refused with ENOBUFS: no free UMEM frame or TX ring entry
	TxInvalid   uint64 // frames refused with EINVAL: malformed, or GSO the port cannot cut
	// TxDeviceBusy, TxDown and TxOther count wake-ups of the kernel that
	// failed: the device queue was full, the link down, another error.
	// The frames stay on the TX ring for the next wake-up.
	TxDeviceBusy uint64
	TxDown       uint64
	TxOther      uint64
}

type counters struct {
	rxPackets, rxBytes, rxCsumCompleted atomic.Uint64
	txPackets, txBytes, txZeroCopy      atomic.Uint64
	txSegmented, txSegments             atomic.Uint64
	txTooBig, txNoBuffer, txInvalid     atomic.Uint64
	txDeviceBusy, txDown, txOther       atomic.Uint64
}

// txCounts are the counters of one Send, kept in plain integers so that a
// frame costs no atomic operation.
type txCounts struct {
	packets, bytes, zeroCopy, segmented, segments uint64
	tooBig, noBuffer, invalid                     uint64
	deviceBusy, down, other                       uint64
}

// addTx adds n to the port's counters and clears it.
func (c *counters) addTx(n *txCounts) {
	for _, f := range [...]struct {
		n *uint64
		c *atomic.Uint64
	}{
		{&n.packets, &c.txPackets}, {&n.bytes, &c.txBytes}, {&n.zeroCopy, &c.txZeroCopy},
		{&n.segmented, &c.txSegmented}, {&n.segments, &c.txSegments},
		{&n.tooBig, &c.txTooBig}, {&n.noBuffer, &c.txNoBuffer}, {&n.invalid, &c.txInvalid},
		{&n.deviceBusy, &c.txDeviceBusy}, {&n.down, &c.txDown}, {&n.other, &c.txOther},
	} {
		if *f.n != 0 {
			f.c.Add(*f.n)
			*f.n = 0
		}
	}
}

// Stats returns the port's counters. It may be called from any goroutine,
// also after Close.
func (p *Port) Stats() Stats {
	c := &p.c
	return Stats{
		RxPackets:            c.rxPackets.Load(),
		RxBytes:              c.rxBytes.Load(),
		RxChecksumsCompleted: c.rxCsumCompleted.Load(),
		TxPackets:            c.txPackets.Load(),
		TxBytes:              c.txBytes.Load(),
		TxZeroCopy:           c.txZeroCopy.Load(),
		TxSegmented:          c.txSegmented.Load(),
		TxSegments:           c.txSegments.Load(),
		TxTooBig:             c.txTooBig.Load(),
		TxNoBuffer:           c.txNoBuffer.Load(),
		TxInvalid:            c.txInvalid.Load(),
		TxDeviceBusy:         c.txDeviceBusy.Load(),
		TxDown:               c.txDown.Load(),
		TxOther:              c.txOther.Load(),
	}
}

package dataplane

import "sync/atomic"

// DropReason says why the dataplane discarded a frame.
type DropReason int

// Drop reasons, in the order of the Counters.Drops array.
const (
	DropRunt         DropReason = iota // shorter than an Ethernet header
	DropMulticastSrc                   // source MAC has the group bit set
	DropLocal                          // destination learned on the ingress port
	DropMTU                            // egress refused the size (EMSGSIZE)
	DropTxError                        // egress refused the frame for another reason
	DropPortRemoved                    // egress went away while the frame was in flight
	DropSpoofed                        // the ingress port's anti-spoofing refused the source
	DropVLAN                           // not in a VLAN of the ingress port (e.g. tagged on an access port)
	DropIsolated                       // from an isolated port to another isolated port
	DropMirrorPort                     // received on a mirror's destination, which only sends the copies
	DropBlocked                        // received on a port blocked against a loop
	DropStorm                          // flooded traffic over the ingress port's storm-control limit
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	DropRunt:         "runt",
	DropMulticastSrc: "multicast_source",
	DropLocal:        "local_destination",
	DropMTU:          "mtu",
	DropTxError:      "tx_error",
	DropPortRemoved:  "port_removed",
	DropSpoofed:      "spoofed",
	DropVLAN:         "vlan",
	DropIsolated:     "isolated",
	DropMirrorPort:   "mirror_destination",
	DropBlocked:      "blocked",
	DropStorm:        "storm",
}

func (r DropReason) String() string { return dropReasonNames[r] }

// DropReasons lists every reason, for exporters.
func DropReasons() []DropReason {
	rs := make([]DropReason, numDropReasons)
	for i := range rs {
		rs[i] = DropReason(i)
	}
	return rs
}

// Counters of one port. The receive half is written only by the goroutine
// that receives the port's frames (its own worker's, or its Shared's), once
// per batch, so it is never contended. The transmit half is
// written by every worker that sends to the port, under the port's transmit
// lock (or, for a port its bridge's MultiSender reaches, atomically only),
// once per batch it sends there. Readers load atomically, without the
// lock.
type Counters struct {
	rxPackets atomic.Uint64 // frames received from the port, valid or not
	rxBytes   atomic.Uint64 // bytes of those frames
	flooded   atomic.Uint64 // received frames sent to every other port
	rxGSO     atomic.Uint64 // received super-frames (segmentation offload pending)
	rxDrops   [numDropReasons]atomic.Uint64
	_         [64]byte // keeps the transmit half off the receive half's cache line

	txPackets atomic.Uint64 // frames the port's Send accepted; a super-frame counts once
	txBytes   atomic.Uint64 // bytes of those frames, as the dataplane handed them over
	txDrops   [numDropReasons]atomic.Uint64
}

// CounterValues is a consistent-enough copy of Counters for exporters.
type CounterValues struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	Flooded            uint64
	// RxGSO counts received super-frames: frames carrying segmentation
	// offload metadata, which may be far longer than the MTU.
	RxGSO uint64
	// Drops counts frames dropped by reason. Ingress reasons (runt, multicast
	// source, local destination) are counted on the port the frame came from;
	// egress reasons (mtu, tx error, port removed) on the port it was bound for.
	Drops [numDropReasons]uint64
}

// Load copies the counters.
func (c *Counters) Load() CounterValues {
	v := CounterValues{
		RxPackets: c.rxPackets.Load(),
		RxBytes:   c.rxBytes.Load(),
		TxPackets: c.txPackets.Load(),
		TxBytes:   c.txBytes.Load(),
		Flooded:   c.flooded.Load(),
		RxGSO:     c.rxGSO.Load(),
	}
	for i := range v.Drops {
		v.Drops[i] = c.rxDrops[i].Load() + c.txDrops[i].Load()
	}
	return v
}

// Dropped is the sum of all drops.
func (v CounterValues) Dropped() uint64 {
	var n uint64
	for _, d := range v.Drops {
		n += d
	}
	return n
}

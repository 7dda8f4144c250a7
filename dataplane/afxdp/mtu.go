package afxdp

import (
	"errors"

	"github.com/xswitch/xswitch/dataplane"
)

// ErrMTU is the error of a port whose link's MTU is longer than what its
// sockets can carry (see MaxMTU); Open returns it wrapped, with the MTU and
// the limit.
var ErrMTU = errors.New("the MTU is longer than an AF_XDP port carries")

const (
	// xdpHeadroom is what the kernel keeps at the head of every UMEM frame
	// it receives into (XDP_PACKET_HEADROOM).
	xdpHeadroom = 256
	// maxSegments is the most UMEM frames a multi-buffer frame may span:
	// in copy mode the kernel builds what it sends from at most
	// MAX_SKB_FRAGS (17) descriptors, and veth hands XDP at most that many
	// pages of a frame.
	maxSegments = 16
	// frameOverhead is what a frame carries beyond its MTU: the Ethernet
	// header and an in-band VLAN tag.
	frameOverhead = dataplane.EthHdrLen + dataplane.VLANTagLen
)

// MaxMTU returns the largest link MTU a port on a UMEM of frames of
// frameSize bytes carries: a frame fits in one UMEM frame, after the
// kernel's headroom, or, where the sockets are bound with XDP_USE_SG
// (multi-buffer; Linux 6.6 and later), spans up to 16 of them.
func MaxMTU(frameSize int, multiBuffer bool) int {
	n := 1
	if multiBuffer {
		n = maxSegments
	}
	return n*(frameSize-xdpHeadroom) - frameOverhead
}

// Segments returns how many UMEM frames of frameSize bytes the longest
// frame of a link of the given MTU spans as received.
func Segments(frameSize, mtu int) int {
	per := frameSize - xdpHeadroom
	return (mtu + frameOverhead + per - 1) / per
}

package dataplane

// Checksums left for someone else to finish: the partial checksum a frame's
// offload metadata announces, and the pending one a frame lost its metadata
// for. Ports that cannot hand such frames to their device as they are
// (AF_XDP) finish them here.

import (
	"encoding/binary"
	"errors"
)

var errCsumRange = errors.New("checksum: csum start or offset out of range")

// FinishChecksum completes the partial checksum of a frame whose VNet.Flags
// has VNetHdrFNeedsCsum (the checksum field at CsumStart+CsumOffset already
// holds the pseudo-header sum, as the kernel leaves it for CHECKSUM_PARTIAL):
// it sums Data[CsumStart:], stores the folded complement in the field, and
// clears the flag. Frames without the flag are left alone. It returns an error,
// and leaves the frame untouched, when the offsets are out of range.
func FinishChecksum(f *Frame) error {
	if f.VNet.Flags&VNetHdrFNeedsCsum == 0 {
		return nil
	}
	if !csumInRange(f) {
		return errCsumRange
	}
	finishCsum(f.Data, int(f.VNet.CsumStart), int(f.VNet.CsumOffset))
	f.VNet.Flags &^= VNetHdrFNeedsCsum
	return nil
}

// CompletePendingChecksum is for frames that arrive without offload metadata
// (AF_XDP): a guest's stack may have left a TCP or UDP checksum to be
// finished, and the metadata that said so was lost. If the L4 checksum of an
// unfragmented IPv4 or IPv6 (without extension headers) TCP or UDP packet in
// data does not verify, and the field holds exactly the folded pseudo-header
// sum (what a pending checksum holds), it writes the correct checksum and
// returns true. Everything else (correct checksums, really corrupt ones, UDP
// over IPv4 without checksum, non-IP) is left as is, and it returns false.
//
// The L4 length comes from the IP header, so Ethernet padding is not summed.
func CompletePendingChecksum(data []byte) bool {
	h, err := parseIP(data)
	if err != nil {
		return false
	}
	var (
		seg    []byte
		pseudo uint64
	)
	if h.v6 {
		end := h.l4 + int(binary.BigEndian.Uint16(data[h.l3+4:]))
		if end > len(data) {
			return false
		}
		seg = data[h.l4:end]
		pseudo = csumAdd(0, data[h.l3+8:h.l3+40])
	} else {
		total := int(binary.BigEndian.Uint16(data[h.l3+2:]))
		if h.l3+total < h.l4 || h.l3+total > len(data) {
			return false
		}
		seg = data[h.l4 : h.l3+total]
		pseudo = csumAdd(0, data[h.l3+12:h.l3+20])
	}

	var off int
	switch h.proto {
	case ipProtoTCP:
		if len(seg) < tcpHdrLen {
			return false
		}
		off = 16
	case ipProtoUDP:
		if len(seg) < udpHdrLen || int(binary.BigEndian.Uint16(seg[4:])) != len(seg) {
			return false
		}
		off = 6
		if !h.v6 && binary.BigEndian.Uint16(seg[off:]) == 0 {
			return false // sent without checksum
		}
	default:
		return false
	}

	pseudo = csumAddUint(pseudo, uint64(h.proto)+uint64(len(seg)))
	if csumFold(csumAdd(pseudo, seg)) == 0xffff {
		return false // verifies
	}
	if binary.BigEndian.Uint16(seg[off:]) != csumFold(pseudo) {
		return false // corrupt, and not by us to hide
	}
	binary.BigEndian.PutUint16(seg[off:], 0)
	c := ^csumFold(csumAdd(pseudo, seg))
	if c == 0 && h.proto == ipProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:], c)
	return true
}

func csumInRange(f *Frame) bool {
	return int(f.VNet.CsumStart)+int(f.VNet.CsumOffset)+2 <= len(f.Data)
}

// finishCsum completes the partial checksum at b[start+off:] over b[start:].
func finishCsum(b []byte, start, off int) {
	c := ^csumFold(csumAdd(0, b[start:]))
	if c == 0 {
		c = 0xffff // as the kernel does: for UDP, 0 would mean "no checksum"
	}
	binary.BigEndian.PutUint16(b[start+off:], c)
}

package afpacket

import (
	"encoding/binary"

	"github.com/xswitch/xswitch/dataplane"
)

// The virtio_net_hdr of a packet socket is in host byte order: af_packet uses
// vio_le() = virtio_legacy_is_little_endian(), which is the host's order.

// decodeVNetHdr reads the struct virtio_net_hdr at the start of b.
func decodeVNetHdr(b []byte) dataplane.VNetHdr {
	_ = b[dataplane.VNetHdrLen-1]
	return dataplane.VNetHdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.NativeEndian.Uint16(b[2:]),
		GSOSize:    binary.NativeEndian.Uint16(b[4:]),
		CsumStart:  binary.NativeEndian.Uint16(b[6:]),
		CsumOffset: binary.NativeEndian.Uint16(b[8:]),
	}
}

// encodeVNetHdr writes h for a frame that goes out with tagLen bytes of VLAN
// tag inserted after the MACs (0 or dataplane.VLANTagLen).
//
// Offsets move with the tag. On receive, tpacket_rcv calls
// virtio_net_hdr_from_skb(..., vlan_hlen=0) after the tag was stripped into
// skb metadata (skb_vlan_untag), so CsumStart and HdrLen count from the
// untagged frame, which is Frame.Data. On send, virtio_net_hdr_to_skb calls
// skb_partial_csum_set(skb, csum_start, ...) relative to the bytes as sent,
// which carry the tag inline. So a Tagged frame's CsumStart and HdrLen grow by
// the tag length here; without that, a checksum finished in software would be
// written 4 bytes too early, into the IP header.
func encodeVNetHdr(b []byte, h dataplane.VNetHdr, tagLen uint16) {
	_ = b[dataplane.VNetHdrLen-1]
	if h.HdrLen != 0 {
		h.HdrLen += tagLen
	}
	if h.Flags&dataplane.VNetHdrFNeedsCsum != 0 {
		h.CsumStart += tagLen
	}
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.NativeEndian.PutUint16(b[2:], h.HdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.GSOSize)
	binary.NativeEndian.PutUint16(b[6:], h.CsumStart)
	binary.NativeEndian.PutUint16(b[8:], h.CsumOffset)
}

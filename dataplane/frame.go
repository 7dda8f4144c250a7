// Package dataplane owns bridges and ports and the loop that forwards frames between them.
package dataplane

// VNetHdr is the offload metadata that travels with a frame: the fields of the
// kernel's struct virtio_net_hdr. A zero VNetHdr means a plain frame with a
// complete checksum and no segmentation pending.
type VNetHdr struct {
	Flags      uint8  // VNetHdrFNeedsCsum, VNetHdrFDataValid
	GSOType    uint8  // VNetHdrGSONone, VNetHdrGSOTCPv4, ...; | VNetHdrGSOECN
	HdrLen     uint16 // length of the headers up to the end of the L4 header
	GSOSize    uint16 // payload bytes per segment
	CsumStart  uint16 // offset from the frame start where checksumming begins
	CsumOffset uint16 // offset after CsumStart where the checksum is stored
}

// Values of VNetHdr.Flags and VNetHdr.GSOType (include/uapi/linux/virtio_net.h).
const (
	VNetHdrFNeedsCsum = 1
	VNetHdrFDataValid = 2

	VNetHdrGSONone  = 0
	VNetHdrGSOTCPv4 = 1
	VNetHdrGSOUDP   = 3
	VNetHdrGSOTCPv6 = 4
	VNetHdrGSOUDPL4 = 5
	VNetHdrGSOECN   = 0x80
)

// VNetHdrLen is the size of struct virtio_net_hdr on the wire.
const VNetHdrLen = 10

// Ethernet and 802.1Q framing, shared by the worker, the offload code and the
// port packages.
const (
	EthHdrLen     = 14     // destination, source, ethertype
	VLANTagLen    = 4      // TPID and TCI of one tag
	EtherTypeVLAN = 0x8100 // 802.1Q
	EtherTypeQinQ = 0x88a8 // 802.1ad
)

// Frame is one Ethernet frame in a batch.
//
// Data starts at the destination MAC. A port that receives 802.1Q tags out of
// band (AF_PACKET strips them into metadata) reports the tag in VLAN with
// Tagged set, and Data then holds the frame without it; a port that transmits
// a Tagged frame puts the tag back after the source MAC.
type Frame struct {
	Data   []byte
	VNet   VNetHdr
	VLAN   uint16 // TCI (priority, DEI and VID) of an out-of-band tag; valid when Tagged
	TPID   uint16 // ethertype of the out-of-band tag (0x8100 or 0x88a8); valid when Tagged
	Tagged bool
	// Exclusive is set by the dataplane on a frame it sends to one port
	// only. That port's Send may then keep Data's buffer instead of copying
	// it, when the buffer is its own kind: AF_XDP ports sharing a UMEM pass
	// descriptors between their rings. Ports that receive such frames
	// account for buffers a Send kept.
	Exclusive bool
}

// Port is anything that receives and sends frames in batches. The rest of the
// dataplane never sees a socket.
//
// Receive blocks until at least one frame is available and fills frames[:n].
// The Data of the returned frames stays valid until the next Receive on the
// same port. Receive is called by one goroutine at a time. Once the port is
// closed, Receive returns an error that satisfies errors.Is(err, net.ErrClosed).
//
// Send transmits frames in order until one fails. It returns n, the number
// handed to the device; when n < len(frames), err says why frames[n] failed
// and the caller decides whether to retry the rest (the dataplane skips the
// failed frame, counts it and sends frames[n+1:]). The dataplane never calls
// Send concurrently on one port, and Send does not keep frames (or their Data)
// after it returns, except an Exclusive frame's buffer as Frame.Exclusive
// says.
type Port interface {
	Name() string
	BatchSize() int
	Receive(frames []Frame) (n int, err error)
	Send(frames []Frame) (n int, err error)
	Close() error
}

// KernelDropper is implemented by ports whose kernel side drops frames before
// the dataplane sees them, so exporters can show those drops beside the
// dataplane's own.
type KernelDropper interface {
	// KernelDrops returns the frames dropped because the receive ring was
	// full, and those too long for it.
	KernelDrops() (ringFull, truncated uint64)
}

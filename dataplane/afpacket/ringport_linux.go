package afpacket

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// RingPort is a dataplane.Port that receives on a TPACKET_V2 ring of its
// own, which hands each frame over as soon as the kernel has written it (no
// retire timer), and sends as a SendOnly. It is the port of an interface
// that neither the fast path's punt receiver nor the userspace ports'
// receiver (OpenTap) can serve.
type RingPort struct {
	*SendOnly         // sends; keeps the interface promiscuous
	rx        *Shared // the ring, bound to the one interface
	ifindex   []int32 // scratch for rx.Receive, as long as a batch; used only by the Receive goroutine
}

var (
	_ dataplane.Port           = (*RingPort)(nil)
	_ dataplane.KernelDropper  = (*RingPort)(nil)
	_ dataplane.StatusReporter = (*RingPort)(nil)
)

// OpenRing opens a RingPort on the network interface ifname, in the network
// namespace of the calling thread. Its ring holds as many 2 KiB slots as
// cfg's blocks have room for; longer frames (GSO super-frames) are copied
// from the socket's queue, as for a Shared. With cfg.PuntEtherType it
// receives only the fast path's punts, as Open does.
func OpenRing(ifname string, cfg Config) (*RingPort, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, opError(ifname, "config", err)
	}
	ifindex, err := interfaceIndex(ifname)
	if err != nil {
		return nil, opError(ifname, "ioctl SIOCGIFINDEX", err)
	}
	rc := SharedConfig{FrameSize: DefaultSharedConfig().FrameSize, BatchSize: cfg.BatchSize, PuntEtherType: cfg.PuntEtherType}
	rc.Frames = max(cfg.BlockSize*cfg.BlockCount/rc.FrameSize, 2)
	proto := uint16(unix.ETH_P_ALL)
	if cfg.PuntEtherType != 0 {
		proto = cfg.PuntEtherType
	}
	rx, err := openReceiver(ifname, rc, binding{proto: proto, ifindex: ifindex, filter: -1, ignoreOutgoing: true})
	if err != nil {
		return nil, err
	}
	tx, err := OpenSendOnly(ifname, cfg)
	if err != nil {
		rx.Close()
		return nil, err
	}
	return &RingPort{SendOnly: tx, rx: rx, ifindex: make([]int32, cfg.BatchSize)}, nil
}

// Receive waits until at least one frame is in the ring and fills
// frames[:n], as Port.Receive.
func (p *RingPort) Receive(frames []dataplane.Frame) (int, error) {
	if len(frames) > len(p.ifindex) {
		p.ifindex = make([]int32, len(frames))
	}
	return p.rx.Receive(frames, p.ifindex)
}

// Stats returns the port's counters, received and sent.
func (p *RingPort) Stats() Stats {
	st := p.SendOnly.Stats()
	rx := p.rx.Stats()
	st.RxPackets, st.RxBytes, st.RxDropped, st.RxTruncated = rx.RxPackets, rx.RxBytes, rx.RxDropped, rx.RxTruncated
	st.SocketErrors, st.LastSocketError = rx.SocketErrors, rx.LastSocketError
	return st
}

// KernelDrops returns the frames the kernel dropped because the ring was
// full, and those too long to keep.
func (p *RingPort) KernelDrops() (ringFull, truncated uint64) { return p.rx.KernelDrops() }

// ReportStatus implements dataplane.StatusReporter.
func (p *RingPort) ReportStatus(s *dataplane.PortStatus) {
	st := p.Stats()
	s.AFPacket = &dataplane.AFPacketStatus{SocketErrors: st.SocketErrors, LastSocketError: st.LastSocketError}
	s.TxErrors = txErrors(st)
}

// Close closes both sockets; a blocked Receive returns net.ErrClosed.
func (p *RingPort) Close() error {
	return errors.Join(p.rx.Close(), p.SendOnly.Close())
}

package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/dataplane/afxdp"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// FastPath is what the daemon and its mirror use of the eBPF fast path
// (*bpf.FastPath); tests give the daemon a fake (package fastpathtest).
type FastPath interface {
	AttachPort(p bpf.Port) (bpf.Mode, error)
	DetachPort(ifindex int, name string)
	Refresh(p bpf.Port) error
	// SetPolicy changes the VLANs, isolation and anti-spoofing of an
	// attached port in place.
	SetPolicy(ifindex int, p policy.Policy) error
	Stats(ifindex int) (bpf.PortStats, bool)
	// Sweep removes what an earlier run left for ports that did not come
	// back.
	Sweep()

	ReserveXSK(n int) (uint32, error)
	RegisterXSK(key uint32, fd int) error
	ReleaseXSK(base uint32, n int)

	PutFDB(bridge uint32, k fdb.Key, ifindex int, static bool, seen int64) error
	DeleteFDB(bridge uint32, k fdb.Key) error
	LastSeen(bridge uint32, k fdb.Key) (int64, bool)
	FDB() []bpf.FDBEntry

	Close() error
}

var _ FastPath = (*bpf.FastPath)(nil)

// links looks up the network namespace's links.
type links interface {
	LinkByIndex(index int) (netlink.Link, error)
	LinkByName(name string) (netlink.Link, error)
	LinkList() ([]netlink.Link, error)
}

// xskPort is an AF_XDP port as the daemon holds it: the bridge forwards
// through it, the daemon keeps its MTU.
type xskPort interface {
	dataplane.Port
	SetMTU(mtu int)
	// MaxMTU is the longest link MTU the port's sockets carry.
	MaxMTU() int
	Queues() int
	ZeroCopy() bool
	SharesUMEM() bool
}

var _ xskPort = (*afxdp.Port)(nil)

// sockets opens the sockets of ports.
type sockets interface {
	AFPacket(ifname string, cfg afpacket.Config) (dataplane.Port, error)
	// AFPacketSendOnly opens an AF_PACKET port that only sends: the
	// shared receiver takes its punts.
	AFPacketSendOnly(ifname string, cfg afpacket.Config) (dataplane.Port, error)
	// Shared opens the receiver of the punts of every fast-path
	// AF_PACKET port.
	Shared(cfg afpacket.SharedConfig) (dataplane.Receiver, error)
	// AFXDP opens an AF_XDP port on the UMEM of its bridge.
	AFXDP(bridge, ifname string, cfg afxdp.Config) (xskPort, error)
	QueueCount(ifname string) int
	// Close releases what the ports shared (the UMEMs), once they are closed.
	Close() error
}

// system is what the daemon asks of the kernel. New uses the real one;
// tests replace the parts they fake.
type system struct {
	loadFastPath  func(bpf.Options) (FastPath, error)
	cleanup       func(pinDir string) error // detaches what an earlier run pinned
	nativeXDP     func(ifindex int) bool
	watchFeatures func(ctx context.Context, changed func(ifindex int)) error
	links         links
	sockets       sockets
	// openTaps opens the n receivers of the AF_PACKET ports without the
	// fast path and their filter; nil: each such port has a ring of its own.
	openTaps  func(cfg afpacket.SharedConfig, n int) ([]dataplane.Receiver, portFilter, error)
	hostPorts hostPortOps // nil: host ports are not made (tests on fakes)
}

// kernel is the real system; umem sizes the UMEMs of AF_XDP ports.
func kernel(umem afxdp.UMEMConfig) system {
	return system{
		loadFastPath: func(o bpf.Options) (FastPath, error) {
			fp, err := bpf.Load(o)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return fp, nil
		},
		cleanup:       bpf.Cleanup,
		nativeXDP:     bpf.NativeXDP,
		watchFeatures: bpf.WatchXDPFeatures,
		links:         netlinkLinks{},
		hostPorts:     kernelHostPorts{},
		sockets:       &kernelSockets{umem: umem, umems: map[string]*afxdp.UMEM{}},
		openTaps:      openTaps,
	}
}

type netlinkLinks struct{}

func (netlinkLinks) LinkByIndex(index int) (netlink.Link, error)  { return netlink.LinkByIndex(index) }
func (netlinkLinks) LinkByName(name string) (netlink.Link, error) { return netlink.LinkByName(name) }
func (netlinkLinks) LinkList() ([]netlink.Link, error)            { return netlink.LinkList() }

// kernelSockets opens real sockets. Its methods run under the daemon's mu.
type kernelSockets struct {
	umem  afxdp.UMEMConfig
	umems map[string]*afxdp.UMEM // by bridge: the UMEM its AF_XDP ports share
}

// AFPacket opens a port with a ring of its own: TPACKET_V2, which hands
// frames over with no timer.
func (s *kernelSockets) AFPacket(ifname string, cfg afpacket.Config) (dataplane.Port, error) {
	p, err := afpacket.OpenRing(ifname, cfg)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (s *kernelSockets) AFPacketSendOnly(ifname string, cfg afpacket.Config) (dataplane.Port, error) {
	p, err := afpacket.OpenSendOnly(ifname, cfg)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (s *kernelSockets) Shared(cfg afpacket.SharedConfig) (dataplane.Receiver, error) {
	r, err := afpacket.OpenShared(cfg)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *kernelSockets) AFXDP(bridge, ifname string, cfg afxdp.Config) (xskPort, error) {
	u, ok := s.umems[bridge]
	if !ok {
		var err error
		if u, err = afxdp.NewUMEM(s.umem); err != nil {
			return nil, fmt.Errorf("%s: %w", ifname, err)
		}
		s.umems[bridge] = u
	}
	p, err := afxdp.Open(ifname, u, cfg)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (s *kernelSockets) QueueCount(ifname string) int { return afxdp.QueueCount(ifname) }

func (s *kernelSockets) Close() error {
	var errs []error
	for _, u := range s.umems {
		errs = append(errs, u.Close())
	}
	return errors.Join(errs...)
}

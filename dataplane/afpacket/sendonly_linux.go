package afpacket

import (
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/packetsock"
)

// SendOnly is a dataplane.Port that only sends: a port whose frames reach
// the switch through a Shared receiver. It holds one ring-less socket, which
// also keeps the interface promiscuous while the port is open.
type SendOnly struct {
	name  string
	batch int           // Config.BatchSize; immutable
	tx    *transmitter  // closed by Close
	done  chan struct{} // closed by Close; wakes Receive
	once  sync.Once
	err   error // what closing the socket returned; set in once

	stats counters // Tx* only
}

var (
	_ dataplane.Port           = (*SendOnly)(nil)
	_ dataplane.StatusReporter = (*SendOnly)(nil)
)

// OpenSendOnly opens a port on the network interface ifname, in the network
// namespace of the calling thread, that sends as a Port does and receives
// nothing: its Receive waits until Close. The interface is promiscuous
// while the port is open. Only cfg.BatchSize and cfg.SndBuf matter.
func OpenSendOnly(ifname string, cfg Config) (*SendOnly, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, opError(ifname, "config", err)
	}
	ifindex, err := interfaceIndex(ifname)
	if err != nil {
		return nil, opError(ifname, "ioctl SIOCGIFINDEX", err)
	}
	fd, op, err := openSender(ifindex, cfg)
	if err != nil {
		return nil, opError(ifname, op, err)
	}
	// The fast path sees only what reaches the interface: an uplink NIC
	// must not filter other hosts' MACs.
	if err := packetsock.AddPromiscuous(fd, ifindex); err != nil {
		unix.Close(fd)
		return nil, opError(ifname, "setsockopt PACKET_ADD_MEMBERSHIP", err)
	}
	p := &SendOnly{name: ifname, batch: cfg.BatchSize, done: make(chan struct{})}
	if p.tx, err = newTransmitter(ifname, cfg.BatchSize, os.NewFile(uintptr(fd), "afpacket-tx:"+ifname), &p.stats); err != nil {
		return nil, err
	}
	return p, nil
}

// interfaceIndex looks ifname up with one ioctl, not a dump of every link.
func interfaceIndex(ifname string) (int, error) {
	ifr, err := unix.NewIfreq(ifname)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}

// Name returns the interface name.
func (p *SendOnly) Name() string { return p.name }

// BatchSize returns Config.BatchSize.
func (p *SendOnly) BatchSize() int { return p.batch }

// Receive waits until Close, then returns an error satisfying
// errors.Is(err, net.ErrClosed).
func (p *SendOnly) Receive([]dataplane.Frame) (int, error) {
	<-p.done
	return 0, opError(p.name, "receive", net.ErrClosed)
}

// Send transmits frames as Port.Send does.
func (p *SendOnly) Send(frames []dataplane.Frame) (int, error) {
	select {
	case <-p.done:
		return 0, opError(p.name, "send", net.ErrClosed)
	default:
	}
	return p.tx.send(frames)
}

// Stats returns the port's counters; the Rx ones stay 0.
func (p *SendOnly) Stats() Stats { return p.stats.snapshot() }

// ReportStatus implements dataplane.StatusReporter.
func (p *SendOnly) ReportStatus(s *dataplane.PortStatus) {
	st := p.Stats()
	s.AFPacket = &dataplane.AFPacketStatus{}
	s.TxErrors = txErrors(st)
}

// Close closes the socket, which ends the promiscuous mode, and wakes
// Receive. It may be called from any goroutine, more than once.
func (p *SendOnly) Close() error {
	p.once.Do(func() {
		close(p.done)
		if err := p.tx.close(); err != nil {
			p.err = opError(p.name, "close", err)
		}
	})
	return p.err
}

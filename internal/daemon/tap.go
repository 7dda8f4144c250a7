package daemon

import (
	"fmt"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
)

// The userspace AF_PACKET ports (no fast path) receive on one socket, the
// tap: bound to every protocol on every interface of the namespace, with a
// socket filter that lets through only what enters on one of those ports,
// into one TPACKET_V2 ring that hands each frame over at once. The ports
// themselves only send. So a port costs a map entry and a sending socket,
// not a ring and a goroutine, and no timer runs anywhere.
//
// The tap is open while at least one such port is attached. Where it cannot
// open (no eBPF socket filters, say), each port gets a ring of its own.

// portFilter is the tap's socket filter as the daemon keeps it up to date
// (*bpf.SockFilter).
type portFilter interface {
	Add(ifindex int) error
	Delete(ifindex int) error
	Close() error
}

var _ portFilter = (*bpf.SockFilter)(nil)

// openTap loads the socket filter and opens the tap with it.
func openTap(cfg afpacket.SharedConfig) (dataplane.Receiver, portFilter, error) {
	f, err := bpf.LoadSockFilter()
	if err != nil {
		return nil, nil, err
	}
	r, err := afpacket.OpenTap(cfg, f.FD())
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, f, nil
}

// tapState is the tap of the daemon; under mu.
type tapState struct {
	shared *dataplane.Shared  // forwards the tap's frames; nil while closed
	rx     dataplane.Receiver // shared's socket
	filter portFilter         // rx's filter, with the ifindexes of ports
	ports  int                // ports attached through the tap
	failed bool               // opening failed and was logged: ports get rings of their own from now on
}

// userspaceAFPacket opens the sockets of an AF_PACKET port without the fast
// path: a sending socket and a place in the tap, when the tap can be had
// (shared is then set), or a port with a ring of its own; under mu.
func (d *Daemon) userspaceAFPacket(name string, idx int, cfg afpacket.Config) (p dataplane.Port, shared *dataplane.Shared, err error) {
	if t := d.tapOpen(name); t != nil {
		if err := t.filter.Add(idx); err != nil {
			return nil, nil, fmt.Errorf("port %s: userspace receiver: %w", name, err)
		}
		if p, err = d.sys.sockets.AFPacketSendOnly(name, cfg); err != nil {
			t.filter.Delete(idx)
			d.tapRelease()
			return nil, nil, err
		}
		t.ports++
		return p, t.shared, nil
	}
	p, err = d.sys.sockets.AFPacket(name, cfg)
	return p, nil, err
}

// tapOpen returns the open tap, opening it for port name if need be, or
// nil if there is none to be had; under mu.
func (d *Daemon) tapOpen(name string) *tapState {
	t := &d.tap
	if t.shared != nil {
		return t
	}
	if t.failed || d.sys.openTap == nil {
		return nil
	}
	r, f, err := d.sys.openTap(sharedConfig(d.cfg.PuntRing))
	if err != nil {
		t.failed = true
		d.log.Error("cannot open the receiver of the userspace AF_PACKET ports: each gets a receive ring of its own", "port", name, "err", err)
		return nil
	}
	t.shared, t.rx, t.filter = dataplane.NewShared(r, d.log), r, f
	d.log.Info("userspace AF_PACKET receiver opened", "port", name)
	return t
}

// tapDetached takes the port of ifindex idx out of the tap's filter, once
// the bridge no longer has it, and closes the tap with its last port; under
// mu.
func (d *Daemon) tapDetached(idx int, name string) {
	t := &d.tap
	if t.shared == nil {
		return
	}
	if err := t.filter.Delete(idx); err != nil {
		d.log.Warn("userspace receiver: the filter keeps a removed port's frames", "port", name, "err", err)
	}
	t.ports--
	d.tapRelease()
}

// tapRelease closes the tap if no port uses it; under mu.
func (d *Daemon) tapRelease() {
	t := &d.tap
	if t.shared == nil || t.ports > 0 {
		return
	}
	if err := t.close(); err != nil {
		d.log.Warn("userspace AF_PACKET receiver closed", "err", err)
	}
}

// close closes the tap's socket, its goroutine and its filter.
func (t *tapState) close() error {
	if t.shared == nil {
		return nil
	}
	err := t.shared.Close()
	if ferr := t.filter.Close(); err == nil {
		err = ferr
	}
	t.shared, t.rx, t.filter, t.ports = nil, nil, nil, 0
	return err
}

// TapStats returns the figures of the userspace ports' receiver, if open.
func (d *Daemon) TapStats() (dataplane.SharedStats, dataplane.KernelDrops, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := &d.tap
	if t.shared == nil {
		return dataplane.SharedStats{}, dataplane.KernelDrops{}, false
	}
	var kd dataplane.KernelDrops
	if k, ok := t.rx.(dataplane.KernelDropper); ok {
		kd.RingFull, kd.Truncated = k.KernelDrops()
	}
	return t.shared.Stats(), kd, true
}

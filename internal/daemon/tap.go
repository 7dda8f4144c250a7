package daemon

import (
	"errors"
	"fmt"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/internal/config"
)

// The userspace AF_PACKET ports (no fast path) receive on a few sockets, the
// taps (config.PuntRing.Taps): each bound to every protocol on every
// interface of the namespace, with a TPACKET_V2 ring that hands each frame
// over at once, and a goroutine that forwards what it receives. They form
// one PACKET_FANOUT group whose eBPF program sends each frame to the tap its
// ingress port is given to, whose socket filter then keeps only the frames
// of ports. The ports themselves only send. So a port costs a map entry and
// a sending socket, not a ring and a goroutine, and no timer runs anywhere.
//
// A port is given to one tap for as long as it is attached: the kernel
// hands each of its frames to that tap only. A guest that sends faster than
// its tap forwards fills that tap's ring, so the kernel drops the frames of
// the ports that share it, not those of every port; and the taps forward on
// as many cores. A port goes to the tap with the least load, where an
// uplink, which carries the traffic of many, outweighs any number of
// guests: uplinks get taps of their own while there are enough.
//
// The taps are open while at least one port is given to them; they open and
// close together, since a fanout group renumbers its sockets when one
// leaves. Where they cannot open (no eBPF socket filters, a kernel without
// PACKET_FANOUT_FLAG_IGNORE_OUTGOING), each port gets a ring of its own.

// uplinkLoad is what an uplink weighs in a tap, against 1 for a guest.
const uplinkLoad = 1 << 20

// portFilter is the taps' socket filter and fanout program as the daemon
// keeps them up to date (*bpf.SockFilter).
type portFilter interface {
	Add(ifindex, tap int) error
	Delete(ifindex int) error
	Close() error
}

var _ portFilter = (*bpf.SockFilter)(nil)

// openTaps loads the programs and opens n taps with them.
func openTaps(cfg afpacket.SharedConfig, n int) ([]dataplane.Receiver, portFilter, error) {
	f, err := bpf.LoadSockFilter()
	if err != nil {
		return nil, nil, err
	}
	taps, err := afpacket.OpenTaps(cfg, n, f.FD(), f.FanoutFD())
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	rs := make([]dataplane.Receiver, len(taps))
	for i, t := range taps {
		rs[i] = t
	}
	return rs, f, nil
}

// tapCount returns how many taps r asks for.
func tapCount(r config.PuntRing) int {
	if r.Taps == 0 {
		return config.DefaultTaps
	}
	return r.Taps
}

// tapState is the taps of the daemon; under mu.
type tapState struct {
	taps   []tap       // all open, or none
	filter portFilter  // the taps' programs, with the ifindexes of their ports; nil while closed
	of     map[int]int // by ifindex: the tap each port is given to
	failed bool        // the taps could not open, which was logged: ports get rings of their own from now on
}

// tap is one socket of the userspace ports and its goroutine.
type tap struct {
	shared  *dataplane.Shared  // forwards the tap's frames
	rx      dataplane.Receiver // shared's socket
	ports   int                // ports given to the tap
	uplinks int                // of ports, the uplinks
}

// load is what the tap carries, as pickTap weighs it.
func (t *tap) load() int { return t.ports - t.uplinks + t.uplinks*uplinkLoad }

// pickTap returns the index of the tap with the least load, the first of
// equals, or -1 if there is none.
func pickTap(taps []tap) int {
	best := -1
	for i := range taps {
		if best < 0 || taps[i].load() < taps[best].load() {
			best = i
		}
	}
	return best
}

// userspaceAFPacket opens the sockets of an AF_PACKET port without the fast
// path: a sending socket and a place in a tap, when the taps can be had
// (shared is then set), or a port with a ring of its own; under mu.
func (d *Daemon) userspaceAFPacket(name string, idx int, cfg afpacket.Config) (p dataplane.Port, shared *dataplane.Shared, err error) {
	if !d.tapsOpen(name) {
		p, err = d.sys.sockets.AFPacket(name, cfg)
		return p, nil, err
	}
	s := &d.tap
	i := pickTap(s.taps)
	if err := s.filter.Add(idx, i); err != nil {
		d.tapsRelease()
		return nil, nil, fmt.Errorf("port %s: userspace receiver: %w", name, err)
	}
	if p, err = d.sys.sockets.AFPacketSendOnly(name, cfg); err != nil {
		s.filter.Delete(idx)
		d.tapsRelease()
		return nil, nil, err
	}
	t := &s.taps[i]
	t.ports++
	if _, uplink, _ := matchPort(d.cfg, name); uplink {
		t.uplinks++
	}
	s.of[idx] = i
	return p, t.shared, nil
}

// tapsOpen reports whether the taps are open, opening them for port name if
// need be; under mu.
func (d *Daemon) tapsOpen(name string) bool {
	s := &d.tap
	if s.filter != nil {
		return true
	}
	if s.failed || d.sys.openTaps == nil {
		return false
	}
	n := tapCount(d.cfg.PuntRing)
	rs, f, err := d.sys.openTaps(sharedConfig(d.cfg.PuntRing), n)
	if err != nil {
		s.failed = true
		d.log.Error("cannot open the receivers of the userspace AF_PACKET ports: each gets a receive ring of its own", "port", name, "err", err)
		return false
	}
	s.taps, s.filter, s.of = make([]tap, len(rs)), f, map[int]int{}
	for i, r := range rs {
		s.taps[i] = tap{shared: dataplane.NewShared(r, d.log.With("tap", i)), rx: r}
	}
	d.log.Info("userspace AF_PACKET receivers opened", "port", name, "taps", len(rs))
	return true
}

// tapDetached takes the port of ifindex idx out of the taps' filter, once
// the bridge no longer has it, and closes the taps with their last port;
// under mu.
func (d *Daemon) tapDetached(idx int, name string) {
	s := &d.tap
	i, ok := s.of[idx]
	if !ok {
		return
	}
	delete(s.of, idx)
	if err := s.filter.Delete(idx); err != nil {
		d.log.Warn("userspace receiver: the filter keeps a removed port's frames", "port", name, "err", err)
	}
	t := &s.taps[i]
	t.ports--
	if _, uplink, _ := matchPort(d.cfg, name); uplink {
		t.uplinks--
	}
	d.tapsRelease()
}

// tapsRelease closes the taps if no port uses them; under mu.
func (d *Daemon) tapsRelease() {
	if d.tap.filter == nil || len(d.tap.of) > 0 {
		return
	}
	if err := d.tap.close(); err != nil {
		d.log.Warn("userspace AF_PACKET receivers closed", "err", err)
	}
}

// close closes the taps' sockets, their goroutines and their filter.
func (s *tapState) close() error {
	if s.filter == nil {
		return nil
	}
	var errs []error
	for i := range s.taps {
		errs = append(errs, s.taps[i].shared.Close())
	}
	errs = append(errs, s.filter.Close())
	s.taps, s.filter, s.of = nil, nil, nil
	return errors.Join(errs...)
}

// TapStats returns the figures of the userspace ports' receivers summed over
// the taps, while they are open.
func (d *Daemon) TapStats() (dataplane.SharedStats, dataplane.KernelDrops, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &d.tap
	if s.filter == nil {
		return dataplane.SharedStats{}, dataplane.KernelDrops{}, false
	}
	var (
		sum dataplane.SharedStats
		kd  dataplane.KernelDrops
	)
	for i := range s.taps {
		t := &s.taps[i]
		st := t.shared.Stats()
		sum.Ports += st.Ports
		sum.Frames += st.Frames
		sum.Batches += st.Batches
		sum.Unknown += st.Unknown
		if k, ok := t.rx.(dataplane.KernelDropper); ok {
			full, truncated := k.KernelDrops()
			kd.RingFull += full
			kd.Truncated += truncated
		}
	}
	return sum, kd, true
}

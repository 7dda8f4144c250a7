package daemon

import (
	"fmt"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/internal/config"
)

// The userspace AF_PACKET ports (no fast path) receive on a few sockets, the
// taps: each bound to every protocol on every interface of the namespace,
// with a socket filter of its own that lets through only what enters on the
// ports given to it, into a TPACKET_V2 ring that hands each frame over at
// once, forwarded by a goroutine of its own. The ports themselves only send.
// So a port costs a map entry and a sending socket, not a ring and a
// goroutine, and no timer runs anywhere.
//
// A port is given to one tap for as long as it is attached: its frames pass
// exactly one filter. A guest that sends faster than its tap forwards fills
// that tap's ring only, so the kernel drops the frames of the ports that
// share it, not those of every port; and the taps forward on as many cores.
// A port goes to the tap with the least load, where an uplink, which
// carries the traffic of many, outweighs any number of guests: uplinks get
// taps of their own while there are enough.
//
// A tap is open while at least one port is given to it. Where the first
// cannot open (no eBPF socket filters, say), each port gets a ring of its
// own.

// uplinkLoad is what an uplink weighs in a tap, against 1 for a guest.
const uplinkLoad = 1 << 20

// portFilter is a tap's socket filter as the daemon keeps it up to date
// (*bpf.SockFilter).
type portFilter interface {
	Add(ifindex int) error
	Delete(ifindex int) error
	Close() error
}

var _ portFilter = (*bpf.SockFilter)(nil)

// openTap loads a socket filter and opens a tap with it.
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

// tapState is the taps of the daemon; under mu.
type tapState struct {
	taps   []tap       // config.PuntRing.Taps of them, made with the first port
	of     map[int]int // by ifindex: the tap each attached port is given to
	failed bool        // no tap could open, which was logged: ports get rings of their own from now on
	// retired sums the counters of the taps closed so far, so that the
	// sums TapStats reports never go down.
	retired   dataplane.SharedStats
	retiredKD dataplane.KernelDrops
}

// tap is one socket of the userspace ports and its goroutine.
type tap struct {
	shared   *dataplane.Shared  // forwards the tap's frames; nil while closed
	rx       dataplane.Receiver // shared's socket
	filter   portFilter         // rx's filter, with the ifindexes of its ports
	ports    int                // ports given to the tap
	uplinks  int                // of ports, the uplinks
	unusable bool               // it did not open while others had, which was logged: no port is given to it
}

// tapCount returns how many taps r asks for.
func tapCount(r config.PuntRing) int {
	if r.Taps == 0 {
		return config.DefaultTaps
	}
	return r.Taps
}

// load is what the tap carries, as pickTap weighs it.
func (t *tap) load() int { return t.ports - t.uplinks + t.uplinks*uplinkLoad }

// pickTap returns the index of the usable tap with the least load, the
// first of equals, or -1 if none is usable.
func pickTap(taps []tap) int {
	best := -1
	for i := range taps {
		if taps[i].unusable {
			continue
		}
		if best < 0 || taps[i].load() < taps[best].load() {
			best = i
		}
	}
	return best
}

// userspaceAFPacket opens the sockets of an AF_PACKET port without the fast
// path: a sending socket and a place in a tap, when a tap can be had (shared
// is then set), or a port with a ring of its own; under mu.
func (d *Daemon) userspaceAFPacket(name string, idx int, cfg afpacket.Config) (p dataplane.Port, shared *dataplane.Shared, err error) {
	_, uplink, _ := matchPort(d.cfg, name)
	if i := d.tapFor(name, uplink); i >= 0 {
		t := &d.tap.taps[i]
		if err := t.filter.Add(idx); err != nil {
			d.tapRelease(i)
			return nil, nil, fmt.Errorf("port %s: userspace receiver: %w", name, err)
		}
		if p, err = d.sys.sockets.AFPacketSendOnly(name, cfg); err != nil {
			t.filter.Delete(idx)
			d.tapRelease(i)
			return nil, nil, err
		}
		t.ports++
		if uplink {
			t.uplinks++
		}
		if d.tap.of == nil {
			d.tap.of = map[int]int{}
		}
		d.tap.of[idx] = i
		return p, t.shared, nil
	}
	p, err = d.sys.sockets.AFPacket(name, cfg)
	return p, nil, err
}

// tapFor returns the index of the open tap port name goes to, opening it if
// need be, or -1 if there is none to be had; under mu.
func (d *Daemon) tapFor(name string, uplink bool) int {
	s := &d.tap
	if s.failed || d.sys.openTap == nil {
		return -1
	}
	if s.taps == nil {
		s.taps = make([]tap, tapCount(d.cfg.PuntRing))
	}
	for {
		i := pickTap(s.taps)
		if i < 0 {
			return -1
		}
		t := &s.taps[i]
		if t.shared != nil {
			return i
		}
		r, f, err := d.sys.openTap(sharedConfig(d.cfg.PuntRing))
		if err == nil {
			t.shared, t.rx, t.filter = dataplane.NewShared(r, d.log), r, f
			d.log.Info("userspace AF_PACKET receiver opened", "port", name, "tap", i, "uplink", uplink)
			return i
		}
		if s.open() == 0 {
			s.failed = true
			d.log.Error("cannot open the receiver of the userspace AF_PACKET ports: each gets a receive ring of its own", "port", name, "err", err)
			return -1
		}
		t.unusable = true
		d.log.Error("cannot open another receiver of the userspace AF_PACKET ports: those open take its ports", "port", name, "tap", i, "err", err)
	}
}

// open returns the number of open taps.
func (s *tapState) open() int {
	n := 0
	for i := range s.taps {
		if s.taps[i].shared != nil {
			n++
		}
	}
	return n
}

// tapDetached takes the port of ifindex idx out of its tap's filter, once
// the bridge no longer has it, and closes the tap with its last port; under
// mu.
func (d *Daemon) tapDetached(idx int, name string) {
	i, ok := d.tap.of[idx]
	if !ok {
		return
	}
	delete(d.tap.of, idx)
	t := &d.tap.taps[i]
	if t.shared == nil {
		return
	}
	if err := t.filter.Delete(idx); err != nil {
		d.log.Warn("userspace receiver: the filter keeps a removed port's frames", "port", name, "tap", i, "err", err)
	}
	t.ports--
	if _, uplink, _ := matchPort(d.cfg, name); uplink {
		t.uplinks--
	}
	d.tapRelease(i)
}

// tapRelease closes tap i if no port uses it; under mu.
func (d *Daemon) tapRelease(i int) {
	t := &d.tap.taps[i]
	if t.shared == nil || t.ports > 0 {
		return
	}
	if err := d.tap.closeTap(i); err != nil {
		d.log.Warn("userspace AF_PACKET receiver closed", "tap", i, "err", err)
	}
}

// closeTap closes tap i's socket, its goroutine and its filter, and keeps
// its figures in retired.
func (s *tapState) closeTap(i int) error {
	t := &s.taps[i]
	if t.shared == nil {
		return nil
	}
	err := t.shared.Close()
	if ferr := t.filter.Close(); err == nil {
		err = ferr
	}
	st, kd := t.stats()
	addStats(&s.retired, &s.retiredKD, st, kd)
	s.retired.Ports = 0
	for idx, j := range s.of {
		if j == i {
			delete(s.of, idx)
		}
	}
	s.taps[i] = tap{unusable: t.unusable}
	return err
}

// close closes every tap.
func (s *tapState) close() error {
	var first error
	for i := range s.taps {
		if err := s.closeTap(i); first == nil {
			first = err
		}
	}
	return first
}

// stats returns the figures of an open tap.
func (t *tap) stats() (dataplane.SharedStats, dataplane.KernelDrops) {
	var kd dataplane.KernelDrops
	if k, ok := t.rx.(dataplane.KernelDropper); ok {
		kd.RingFull, kd.Truncated = k.KernelDrops()
	}
	return t.shared.Stats(), kd
}

// addStats adds st and kd to *sum and *sumKD.
func addStats(sum *dataplane.SharedStats, sumKD *dataplane.KernelDrops, st dataplane.SharedStats, kd dataplane.KernelDrops) {
	sum.Ports += st.Ports
	sum.Frames += st.Frames
	sum.Batches += st.Batches
	sum.Unknown += st.Unknown
	sumKD.RingFull += kd.RingFull
	sumKD.Truncated += kd.Truncated
}

// TapStats returns the figures of the userspace ports' receivers while one
// is open, summed over the taps; the counters include those of taps closed
// before.
func (d *Daemon) TapStats() (dataplane.SharedStats, dataplane.KernelDrops, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &d.tap
	if s.open() == 0 {
		return dataplane.SharedStats{}, dataplane.KernelDrops{}, false
	}
	st, kd := s.retired, s.retiredKD
	for i := range s.taps {
		if t := &s.taps[i]; t.shared != nil {
			ts, tkd := t.stats()
			addStats(&st, &kd, ts, tkd)
		}
	}
	return st, kd, true
}

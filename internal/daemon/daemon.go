// Package daemon wires xswitchd together: it keeps the bridges of the
// configuration, follows interfaces as they appear and disappear, and attaches
// the matching ones as ports.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/dataplane/afxdp"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
)

// resyncEvery is how often the daemon compares its ports with the system's
// links, in case a netlink notification was lost (the socket overflowed).
const resyncEvery = 10 * time.Second

// Daemon owns the bridges and their ports.
type Daemon struct {
	cfg *config.Config
	log *slog.Logger

	mu       sync.Mutex
	bridges  map[string]*dataplane.Bridge // by name; bridges are never removed while running
	attached map[int]attachment           // by ifindex: the interfaces that are ports now
	failed   map[int]string               // by ifindex: the last attach error logged, so it is logged once
	closed   bool                         // Close ran: attach nothing more

	umems  map[string]*afxdp.UMEM // by bridge: the UMEM its AF_XDP ports share
	fp     *bpf.FastPath          // nil when no port may use it or loading failed
	fpErr  error                  // why fp is nil when a port wants it
	mirror *mirror                // keeps fp's MAC map in step; nil without fp
	warm   *warmCache             // fp's MAC map as an earlier run left it
}

// attachment is an interface attached to a bridge.
type attachment struct {
	name     string
	bridge   string
	fastPath bpf.Mode // effective: xdp, tc or off
	id       fdb.PortID
	mtu      int
	xsk      bool   // an AF_XDP port: its XDP program stays until it is detached
	xskBase  uint32 // its keys in the AF_XDP socket map
	xskN     int
	xskPort  *afxdp.Port // the AF_XDP port's own handle, for what the bridge does not do
}

// New creates the configured bridges. In auto mode there are none until
// their interfaces appear.
func New(cfg *config.Config, log *slog.Logger) *Daemon {
	d := &Daemon{
		cfg:      cfg,
		log:      log,
		bridges:  map[string]*dataplane.Bridge{},
		attached: map[int]attachment{},
		failed:   map[int]string{},
		umems:    map[string]*afxdp.UMEM{},
	}
	if cfg.WantsFastPath() || cfg.WantsAFXDP() {
		fp, err := bpf.Load(bpf.Options{PinDir: cfg.PinDir, TCHook: tcHook(cfg.TCHook), Log: log})
		if err != nil {
			d.fpErr = err
			log.Error("fast path unavailable: ports in auto mode use the userspace path only", "err", err)
			d.removeStaleFastPath()
		} else {
			d.fp = fp
			d.mirror = newMirror(fp, log)
			d.warm = newWarmCache(fp)
			log.Info("fast path loaded", "pin_dir", cfg.PinDir)
		}
	}
	if !cfg.WantsFastPath() && !cfg.WantsAFXDP() {
		d.removeStaleFastPath()
	}
	for _, b := range cfg.Bridges {
		d.bridge(b)
	}
	return d
}

// removeStaleFastPath detaches what an earlier run pinned, when this run
// has no fast path: those programs would forward behind the sockets' back.
func (d *Daemon) removeStaleFastPath() {
	if d.cfg.PinDir == "" {
		return
	}
	if _, err := os.Stat(d.cfg.PinDir); err != nil {
		return
	}
	d.log.Warn("removing the fast path an earlier run left, as this run has none", "pin_dir", d.cfg.PinDir)
	if err := bpf.Cleanup(d.cfg.PinDir); err != nil {
		d.log.Error("cannot remove the earlier fast path", "pin_dir", d.cfg.PinDir, "err", err)
	}
}

// bridge returns the dataplane bridge for b, creating it; under mu or before
// the daemon runs.
func (d *Daemon) bridge(b config.Bridge) *dataplane.Bridge {
	if br, ok := d.bridges[b.Name]; ok {
		return br
	}
	bc := dataplane.BridgeConfig{Name: b.Name, FDB: b.FDB}
	if d.fp != nil {
		id := bpf.BridgeID(b.Name)
		fp := d.fp
		// Entries the kernel refreshes must not age while traffic flows.
		bc.FDB.LastSeen = func(k fdb.Key) (int64, bool) { return fp.LastSeen(id, k) }
		bc.OnFDBEvent = d.mirror.onEvent(id)
	}
	br := dataplane.NewBridge(bc, d.log)
	if d.fp != nil {
		d.mirror.addBridge(bpf.BridgeID(b.Name), br.FDB())
	}
	d.bridges[b.Name] = br
	d.log.Info("bridge created", "bridge", b.Name, "uplink", b.Uplink, "ports", b.Ports, "aging", b.FDB.AgingTime)
	return br
}

// Bridges returns the bridges sorted by name.
func (d *Daemon) Bridges() []*dataplane.Bridge {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*dataplane.Bridge, 0, len(d.bridges))
	for _, b := range d.bridges {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Bridge returns the named bridge.
func (d *Daemon) Bridge(name string) (*dataplane.Bridge, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.bridges[name]
	return b, ok
}

// Run follows the links of the network namespace until ctx ends, then
// releases every port.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Close()
	if err := d.Resync(); err != nil {
		d.log.Warn("link listing failed", "err", err)
	} else if d.fp != nil {
		// Every interface that is still a port has adopted its state: the
		// rest of what an earlier run left is stale.
		d.fp.Sweep()
		d.warm.drop()
	}
	if d.fp != nil {
		go func() {
			if err := bpf.WatchXDPFeatures(ctx, d.refreshPorts); err != nil {
				d.log.Warn("not following changes of XDP features; the periodic resync catches them", "err", err)
			}
		}()
	}
	for {
		err := d.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d.log.Warn("link watch ended, subscribing again", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// watch subscribes to link changes (listing the existing links first) and
// handles them until ctx ends or the subscription fails.
func (d *Daemon) watch(ctx context.Context) error {
	updates := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	failed := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case failed <- err:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	resync := time.NewTicker(resyncEvery)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case u, ok := <-updates:
			if !ok {
				return errors.New("link subscription closed")
			}
			d.handle(u)
		case <-resync.C:
			if err := d.Resync(); err != nil {
				d.log.Warn("link resync failed", "err", err)
			}
		}
	}
}

// handle reacts to one link notification.
func (d *Daemon) handle(u netlink.LinkUpdate) {
	attrs := u.Link.Attrs()
	idx, name := attrs.Index, attrs.Name
	if u.Header.Type == unix.RTM_DELLINK {
		d.detach(idx, "interface removed")
		// A link that failed to attach because its name was still taken by
		// the removed one (deleted and recreated quickly) can attach now.
		d.mu.Lock()
		retry := len(d.failed) > 0
		d.mu.Unlock()
		if retry {
			if err := d.Resync(); err != nil {
				d.log.Warn("link resync failed", "err", err)
			}
		}
		return
	}
	d.linkPresent(idx, name)
}

// linkPresent attaches a link that matches a bridge, and detaches an attached
// one whose name no longer matches (it was renamed).
func (d *Daemon) linkPresent(idx int, name string) {
	d.mu.Lock()
	a, isPort := d.attached[idx]
	d.mu.Unlock()
	if isPort {
		if a.name == name {
			d.refresh(idx, a)
			return
		}
		d.detach(idx, "interface renamed to "+name)
	}
	d.attach(idx, name)
}

// Resync attaches links that match but are not ports and detaches ports
// whose links are gone.
func (d *Daemon) Resync() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	present := map[int]bool{}
	for _, l := range links {
		present[l.Attrs().Index] = true
		d.linkPresent(l.Attrs().Index, l.Attrs().Name)
	}
	d.mu.Lock()
	var gone []int
	for idx := range d.attached {
		if !present[idx] {
			gone = append(gone, idx)
		}
	}
	d.mu.Unlock()
	for _, idx := range gone {
		d.detach(idx, "interface removed")
	}
	return nil
}

// attach makes the interface a port of its bridge, if it has one. A failure
// is logged once with the interface and the cause; the other ports go on.
func (d *Daemon) attach(idx int, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	b, uplink, ok := d.cfg.Match(name)
	if !ok {
		return
	}
	br := d.bridge(b)
	ring := ringConfig(b.Rings.Vif)
	if uplink {
		ring = ringConfig(b.Rings.Uplink)
	}
	fail := func(err error) {
		if msg := err.Error(); d.failed[idx] != msg {
			d.failed[idx] = msg
			d.log.Error("cannot attach interface", "port", name, "bridge", b.Name, "err", err)
		}
	}
	fpp := bpf.Port{Name: name, Index: idx, Bridge: bpf.BridgeID(b.Name), MTU: 1500, Mode: fastPathMode(b.Mode(name, d.cfg.FastPath))}
	if l, err := netlink.LinkByIndex(idx); err == nil {
		fpp.MTU, fpp.Kind, fpp.PeerElsewhere = l.Attrs().MTU, l.Type(), l.Attrs().NetNsID >= 0
	}
	bid := fpp.Bridge
	typ := b.Type(name, d.cfg.PortType)
	if typ == config.PortTypeAuto {
		typ = config.PortTypeAFPacket
		// An AF_XDP port's fast path is XDP: not for a port set to tc.
		if uplink && d.fp != nil && fpp.Mode != bpf.ModeTC && bpf.NativeXDP(idx) {
			typ = config.PortTypeAFXDP
		}
	}
	if typ == config.PortTypeAFXDP {
		if err := d.attachXSK(br, b, fpp, uplink); err != nil {
			fail(err)
			return
		}
		delete(d.failed, idx)
		return
	}
	// The order matters at the edges. A fast-path port's socket, bound to
	// the punt ethertype, receives nothing until TC punts: opened first, it
	// loses none of the first punts. A socket bound to every protocol would
	// see what a program left by an earlier run still forwards: that goes
	// first.
	var (
		p    *afpacket.Port
		mode bpf.Mode
		err  error
	)
	if fpp.Mode != bpf.ModeOff && d.fp != nil {
		punting := ring
		punting.PuntEtherType = bpf.PuntEtherType
		if p, err = afpacket.Open(name, punting); err == nil {
			if mode, err = d.attachFastPath(fpp); err != nil || mode == bpf.ModeOff {
				p.Close()
				p = nil
			}
		}
	} else {
		mode, err = d.attachFastPath(fpp)
	}
	if err == nil && p == nil {
		p, err = afpacket.Open(name, ring) // no fast path after all
	}
	var id fdb.PortID
	if err == nil {
		id, err = br.AddPort(p, dataplane.PortInfo{Name: name, Uplink: uplink, Kind: "afpacket", FastPath: string(mode), Ifindex: idx})
	}
	if err != nil {
		if mode != bpf.ModeOff && mode != "" {
			d.fp.DetachPort(idx, name)
		}
		fail(err)
		return
	}
	delete(d.failed, idx)
	a := attachment{name: name, bridge: b.Name, fastPath: mode, id: id, mtu: fpp.MTU}
	d.attached[idx] = a
	if mode != bpf.ModeOff && a.id != 0 {
		d.mirror.addPort(bid, a.id, idx)
		// After a restart: the MACs the kernel learned behind this port
		// while no daemon ran, with the times it last saw them.
		for _, e := range d.warm.take(idx, bid) {
			br.FDB().Learn(e.Key, a.id, e.Seen)
		}
	}
	d.pinStatic(br, b, name, id)
}

// attachFastPath puts a port in the fast path as its mode asks, and returns
// the mode it got. A port in auto mode falls back to the userspace path
// when the fast path cannot take it; one that asked for xdp or tc fails.
func (d *Daemon) attachFastPath(p bpf.Port) (bpf.Mode, error) {
	idx, name, mode := p.Index, p.Name, p.Mode
	if mode == bpf.ModeOff {
		if d.fp != nil {
			d.fp.DetachPort(idx, name) // in case an earlier run had it in
		}
		return bpf.ModeOff, nil
	}
	if d.fp == nil {
		if mode == bpf.ModeAuto {
			return bpf.ModeOff, nil
		}
		return "", fmt.Errorf("%s: fast path mode %s: %w", name, mode, d.fpErr)
	}
	got, err := d.fp.AttachPort(p)
	if err != nil {
		if mode != bpf.ModeAuto {
			return "", err
		}
		d.log.Warn("fast path refused the port; it uses the userspace path only", "port", name, "err", err)
		return bpf.ModeOff, nil
	}
	return got, nil
}

// refresh updates what the fast path knows of a port that changed: its MTU,
// and whether it accepts XDP frames. It talks to the kernel: call it
// without holding d.mu.
func (d *Daemon) refresh(idx int, a attachment) {
	if a.xsk {
		// An AF_XDP port checks what it sends against the MTU itself.
		if l, err := netlink.LinkByIndex(idx); err == nil {
			a.xskPort.SetMTU(l.Attrs().MTU)
		}
	}
	if d.fp == nil || a.fastPath == bpf.ModeOff {
		return
	}
	p := bpf.Port{Name: a.name, Index: idx, Bridge: bpf.BridgeID(a.bridge), MTU: a.mtu}
	if l, err := netlink.LinkByIndex(idx); err == nil {
		p.MTU, p.Kind, p.PeerElsewhere = l.Attrs().MTU, l.Type(), l.Attrs().NetNsID >= 0
	}
	if err := d.fp.Refresh(p); err != nil {
		d.log.Warn("cannot refresh the fast path of a port", "port", a.name, "err", err)
	}
}

// refreshPorts refreshes what the fast path knows of the attached port with
// the given ifindex, or of every attached port when ifindex is 0.
func (d *Daemon) refreshPorts(ifindex int) {
	d.mu.Lock()
	var todo []int
	for idx := range d.attached {
		if ifindex == 0 || idx == ifindex {
			todo = append(todo, idx)
		}
	}
	d.mu.Unlock()
	for _, idx := range todo {
		d.mu.Lock()
		a, ok := d.attached[idx]
		closed := d.closed
		d.mu.Unlock()
		if ok && !closed {
			d.refresh(idx, a)
		}
	}
}

// FastPathLoaded reports whether the fast path is in use.
func (d *Daemon) FastPathLoaded() bool { return d.fp != nil }

// FastPathStats returns the fast-path counters of a port, if it has the
// fast path.
func (d *Daemon) FastPathStats(ifindex int) (bpf.PortStats, bool) {
	if d.fp == nil {
		return bpf.PortStats{}, false
	}
	return d.fp.Stats(ifindex)
}

// pinStatic installs the static MACs of a port that just attached; they go
// with the port's other entries when it is removed.
func (d *Daemon) pinStatic(br *dataplane.Bridge, b config.Bridge, port string, id fdb.PortID) {
	for _, st := range b.Static {
		if st.Port != port {
			continue
		}
		if err := br.FDB().AddStatic(fdb.MakeKey(st.VLAN, st.MAC), id); err != nil {
			d.log.Error("cannot pin static MAC", "port", port, "bridge", b.Name, "mac", st.MAC.String(), "vlan", st.VLAN, "err", err)
		}
	}
}

// detach removes an attached interface from its bridge, which flushes its MAC
// entries.
func (d *Daemon) detach(idx int, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.failed, idx)
	a, ok := d.attached[idx]
	if !ok {
		return
	}
	delete(d.attached, idx)
	d.log.Info("detaching port", "port", a.name, "bridge", a.bridge, "why", why)
	if a.fastPath != bpf.ModeOff {
		// First out of the fast path's maps, so the kernel never
		// redirects to a port that is gone.
		d.mirror.removePort(bpf.BridgeID(a.bridge), a.id)
	}
	if a.fastPath != bpf.ModeOff || a.xsk {
		d.fp.DetachPort(idx, a.name)
	}
	if err := d.bridges[a.bridge].RemovePort(a.name); err != nil {
		d.log.Warn("detach", "port", a.name, "bridge", a.bridge, "err", err)
	}
	if a.xsk {
		d.fp.ReleaseXSK(a.xskBase, a.xskN)
	}
}

// Close releases every port of every bridge.
func (d *Daemon) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.mirror != nil {
		// The fast path outlives the daemon: removing the ports below must
		// not empty its MAC map.
		d.mirror.stop()
	}
	var errs []error
	for _, b := range d.bridges {
		errs = append(errs, b.Close())
	}
	d.attached = map[int]attachment{}
	for _, u := range d.umems {
		errs = append(errs, u.Close())
	}
	if d.fp != nil {
		errs = append(errs, d.fp.Close())
	}
	return errors.Join(errs...)
}

// attachXSK attaches an AF_XDP port: its sockets on the bridge's UMEM, then
// the XDP program that feeds them (and is its fast path, unless that is
// off); under mu.
func (d *Daemon) attachXSK(br *dataplane.Bridge, b config.Bridge, fpp bpf.Port, uplink bool) error {
	name, idx := fpp.Name, fpp.Index
	if d.fp == nil {
		return fmt.Errorf("%s: an afxdp port needs the eBPF programs, which did not load: %w", name, d.fpErr)
	}
	u, ok := d.umems[b.Name]
	if !ok {
		var err error
		if u, err = afxdp.NewUMEM(umemConfig(d.cfg.UMEM)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d.umems[b.Name] = u
	}
	n := afxdp.QueueCount(name)
	base, err := d.fp.ReserveXSK(n)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	cfg := afxdpConfig(d.cfg.AFXDP)
	cfg.Queues = n
	cfg.Register = func(q, fd int) error { return d.fp.RegisterXSK(base+uint32(q), fd) }
	// Frames from a local stack (a guest's vif or veth) may carry checksums
	// left to offload; a physical NIC's never do.
	cfg.CompleteChecksums = !(uplink && fpp.Kind == "device")
	p, err := afxdp.Open(name, u, cfg)
	if err != nil {
		d.fp.ReleaseXSK(base, n)
		return err
	}
	fpp.XSK, fpp.XSKBase, fpp.XSKQueues = true, base, n
	mode, err := d.fp.AttachPort(fpp)
	if err != nil {
		p.Close()
		d.fp.ReleaseXSK(base, n)
		return err
	}
	info := dataplane.PortInfo{Name: name, Uplink: uplink, Kind: "afxdp", FastPath: string(mode), Ifindex: idx}
	id, err := br.AddPort(p, info)
	if err != nil {
		d.fp.DetachPort(idx, name)
		d.fp.ReleaseXSK(base, n)
		return err
	}
	d.log.Info("AF_XDP sockets bound", "port", name, "queues", p.Queues(), "zerocopy", p.ZeroCopy(), "shares_umem", p.SharesUMEM())
	if !p.SharesUMEM() {
		d.log.Warn("the kernel refused to share the bridge's UMEM with this port: its frames are copied", "port", name)
	}
	a := attachment{name: name, bridge: b.Name, fastPath: mode, id: id, mtu: fpp.MTU, xsk: true, xskBase: base, xskN: n, xskPort: p}
	d.attached[idx] = a
	if mode != bpf.ModeOff && a.id != 0 {
		d.mirror.addPort(fpp.Bridge, a.id, idx)
		for _, e := range d.warm.take(idx, fpp.Bridge) {
			br.FDB().Learn(e.Key, a.id, e.Seen)
		}
	}
	d.pinStatic(br, b, name, id)
	return nil
}

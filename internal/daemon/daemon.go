// Package daemon wires xswitchd together: it keeps the bridges of the
// configuration, follows interfaces as they appear and disappear, and attaches
// the matching ones as ports.
package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/policy"
)

// Daemon owns the bridges and their ports.
type Daemon struct {
	cfg *config.Config
	log *slog.Logger
	sys system

	mu        sync.Mutex
	bridges   map[string]*dataplane.Bridge // by name; bridges are never removed while running
	attached  map[int]attachment           // by ifindex: the interfaces that are ports now
	failed    map[int]string               // by ifindex: the last attach error logged, so it is logged once
	deleted   map[int]string               // by ifindex: interfaces removed through the control API, by name; not attached again while they stay
	closed    bool                         // Close ran: attach nothing more
	ready     readiness                    // set by the first full Resync
	hostPorts hostPorts                    // what was last logged of each host port
	tunnels   tunnels                      // the VXLAN devices made and attached (vxlan.go)
	takeovers takeovers                    // takes turns with link handling

	fp     FastPath           // nil when no port may use it or loading failed
	fpErr  error              // why fp is nil when a port wants it
	shared *dataplane.Shared  // receives the punts of every fast-path AF_PACKET port; nil without fp, or if it did not open
	puntRx dataplane.Receiver // shared's socket
	tap    tapState           // receives the frames of every AF_PACKET port without the fast path
	mirror *mirror            // keeps fp's MAC map in step; nil without fp
	fpCaps *fastCaptures      // copies of the frames fp forwards, for captures; nil without fp
	warm   *warmCache         // fp's MAC map as an earlier run left it; nil without fp
	multi  multiSends         // sends the frames of the AF_PACKET ports of every bridge
	loops  *loopGuard         // blocks a port of each loop (loop.go)
	evpn   evpnState          // the BGP EVPN speaker of the tunnel ports (evpn.go)
}

// attachment is an interface attached to a bridge.
type attachment struct {
	name     string
	bridge   string
	fastPath bpf.Mode // effective: xdp, tc or off
	id       fdb.PortID
	mtu      int
	policy   policy.Policy // as the bridge and the fast path have it
	xsk      xskPort       // an AF_XDP port: its XDP program stays until it is detached
	xskBase  uint32        // its keys in the AF_XDP socket map
	xskN     int
	tapped   bool // an AF_PACKET port without the fast path whose frames the tap receives
}

// New creates the configured bridges. In auto mode there are none until
// their interfaces appear.
func New(cfg *config.Config, log *slog.Logger) *Daemon {
	return newDaemon(cfg, log, kernel(umemConfig(cfg.UMEM)))
}

func newDaemon(cfg *config.Config, log *slog.Logger, sys system) *Daemon {
	d := &Daemon{
		cfg:      cfg,
		log:      log,
		sys:      sys,
		bridges:  map[string]*dataplane.Bridge{},
		attached: map[int]attachment{},
		failed:   map[int]string{},
		deleted:  map[int]string{},
	}
	if cfg.WantsFastPath() || cfg.WantsAFXDP() {
		fp, err := sys.loadFastPath(bpf.Options{PinDir: cfg.PinDir, TCHook: tcHook(cfg.TCHook), Log: log})
		if err != nil {
			d.fpErr = err
			log.Error("fast path unavailable: ports in auto mode use the userspace path only", "err", err)
			d.removeStaleFastPath()
		} else {
			d.fp = fp
			d.mirror = newMirror(fp, log)
			d.warm = newWarmCache(fp)
			d.fpCaps = d.startFastCaptures()
			log.Info("fast path loaded", "pin_dir", cfg.PinDir)
			d.openShared()
		}
	} else {
		d.removeStaleFastPath()
	}
	d.loops = newLoopGuard(d)
	for _, b := range cfg.Bridges {
		d.bridge(b)
	}
	return d
}

// openShared opens the one socket that receives what the fast path punts
// on any AF_PACKET port of this network namespace. From now on, punts of
// ports that an earlier run left in the fast path reach it; they are
// dropped (and counted) until their port is attached again.
func (d *Daemon) openShared() {
	r, err := d.sys.sockets.Shared(sharedConfig(d.cfg.PuntRing))
	if err != nil {
		d.log.Error("cannot open the shared punt receiver: each fast-path port gets a receive ring of its own", "err", err)
		return
	}
	d.shared, d.puntRx = dataplane.NewShared(r, d.log), r
}

// SharedStats returns the figures of the shared punt receiver, if there is
// one.
func (d *Daemon) SharedStats() (dataplane.SharedStats, bool) {
	if d.shared == nil {
		return dataplane.SharedStats{}, false
	}
	return d.shared.Stats(), true
}

// SharedKernelDrops returns the punts the kernel dropped before the shared
// receiver saw them (its ring was full; too long to keep), for exporters.
func (d *Daemon) SharedKernelDrops() (dataplane.KernelDrops, bool) {
	kd, ok := d.puntRx.(dataplane.KernelDropper)
	if d.shared == nil || !ok {
		return dataplane.KernelDrops{}, false
	}
	full, truncated := kd.KernelDrops()
	return dataplane.KernelDrops{RingFull: full, Truncated: truncated}, true
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
	if err := d.sys.cleanup(d.cfg.PinDir); err != nil {
		d.log.Error("cannot remove the earlier fast path", "pin_dir", d.cfg.PinDir, "err", err)
	}
}

// bridge returns the dataplane bridge for b, creating it; under mu or before
// the daemon runs.
func (d *Daemon) bridge(b config.Bridge) *dataplane.Bridge {
	if br, ok := d.bridges[b.Name]; ok {
		return br
	}
	bc := dataplane.BridgeConfig{Name: b.Name, FDB: b.FDB, MultiSender: d.multiSender()}
	if d.fp != nil {
		id := bpf.BridgeID(b.Name)
		fp := d.fp
		// Entries the kernel refreshes must not age while traffic flows.
		bc.FDB.LastSeen = func(k fdb.Key) (int64, bool) { return fp.LastSeen(id, k) }
		bc.OnFDBEvent = d.mirror.onEvent(id)
		bc.OnCapture = d.fpCaps.onCapture(d)
	}
	bc.OnFDBEvent = d.loops.add(b, bc.OnFDBEvent)
	br := dataplane.NewBridge(bc, d.log)
	if d.fp != nil {
		d.mirror.addBridge(bpf.BridgeID(b.Name), br.FDB())
		d.fpCaps.addBridge(br)
	}
	d.bridges[b.Name] = br
	if err := d.applyMirrors(b.Name); err != nil {
		d.log.Error("bridge mirrors not set", "bridge", b.Name, "err", err)
	}
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
	d.adopt()
	d.startEVPN(ctx)
	if d.fp != nil {
		go func() {
			if err := d.sys.watchFeatures(ctx, d.refreshPorts); err != nil {
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

// adopt attaches the links present at start. Once every interface that is
// still a port has taken its state over from the fast path an earlier run
// left, the rest of that state is stale: swept, and the warm cache dropped.
// Without a full listing nothing is swept.
func (d *Daemon) adopt() {
	var err error
	d.serialized(func() { err = d.Resync() })
	if err != nil {
		d.log.Warn("link listing failed", "err", err)
		return
	}
	if d.fp != nil {
		d.fp.Sweep()
		d.warm.drop()
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

// detach removes an attached interface from its bridge, which flushes its MAC
// entries.
func (d *Daemon) detach(idx int, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.detachLocked(idx, why)
}

// detachLocked is detach under mu.
func (d *Daemon) detachLocked(idx int, why string) {
	delete(d.failed, idx)
	a, ok := d.attached[idx]
	if !ok {
		return
	}
	delete(d.attached, idx)
	d.tunnelDetached(idx)
	d.log.Info("detaching port", "port", a.name, "bridge", a.bridge, "why", why)
	if a.fastPath != bpf.ModeOff {
		// First out of the fast path's maps, so the kernel never
		// redirects to a port that is gone.
		d.mirror.removePort(bpf.BridgeID(a.bridge), a.id)
	}
	if a.fastPath != bpf.ModeOff || a.xsk != nil {
		d.fp.DetachPort(idx, a.name)
	}
	if err := d.bridges[a.bridge].RemovePort(a.name); err != nil {
		d.log.Warn("detach", "port", a.name, "bridge", a.bridge, "err", err)
	}
	if a.tapped {
		d.tapDetached(idx, a.name)
	}
	if a.xsk != nil {
		d.fp.ReleaseXSK(a.xskBase, a.xskN)
	}
	d.syncFastMirrors(a.bridge)
}

// Close releases every port of every bridge.
func (d *Daemon) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.loops.stop()
	if d.mirror != nil {
		// The fast path outlives the daemon: removing the ports below must
		// not empty its MAC map.
		d.mirror.stop()
	}
	d.fpCaps.stop()
	var errs []error
	for _, b := range d.bridges {
		errs = append(errs, b.Close())
	}
	d.attached = map[int]attachment{}
	errs = append(errs, d.closeMultiSender())
	errs = append(errs, d.tap.close())
	if d.shared != nil {
		errs = append(errs, d.shared.Close())
	}
	errs = append(errs, d.sys.sockets.Close())
	if d.fp != nil {
		errs = append(errs, d.fp.Close())
	}
	return errors.Join(errs...)
}

package daemon

import (
	"errors"
	"fmt"
	"sort"

	"github.com/xswitch/xswitch/internal/config"
)

// ErrNoFile is Reload's answer in auto mode: there is no file to read again.
var ErrNoFile = errors.New("auto mode has no configuration file to reload")

// errNotLoaded is why a port that asks for the fast path after a reload
// cannot have it when the daemon started without one.
var errNotLoaded = errors.New("not loaded, as no port wanted it at start; restart xswitchd to load it")

// portPlan is everything an attached interface's attachment depends on
// under a configuration: an interface whose plan is the same under the old
// and the new configuration keeps its port untouched across a reload.
// A setting that shapes how a port attaches belongs here; its static MACs
// do not: a reload pins and unpins them in place (see syncStatics).
type portPlan struct {
	bridge string
	uplink bool
	mode   config.Mode     // as asked; the fast path may give less
	typ    config.PortType // as asked
	ring   config.Ring     // the vif or the uplink ring
	afxdp  config.AFXDP    // set only when the port may be an AF_XDP port
}

// planPort returns the plan of the interface under cfg, decided as attach
// decides; false when no bridge of cfg takes it.
func planPort(cfg *config.Config, ifname string) (portPlan, bool) {
	b, uplink, ok := matchPort(cfg, ifname)
	if !ok {
		return portPlan{}, false
	}
	p := portPlan{bridge: b.Name, uplink: uplink, ring: b.Rings.Vif,
		mode: hostPortMode(b, ifname, b.Mode(ifname, cfg.FastPath)),
		typ:  hostPortType(b, ifname, b.Type(ifname, cfg.PortType))}
	if uplink {
		p.ring = b.Rings.Uplink
	}
	if p.typ != config.PortTypeAFPacket {
		p.afxdp = cfg.AFXDP
	}
	return p, true
}

// change says what differs between two plans of one interface; "" when
// nothing does.
func (p portPlan) change(q portPlan) string {
	switch {
	case p.bridge != q.bridge:
		return fmt.Sprintf("moves from bridge %s to %s", p.bridge, q.bridge)
	case p.uplink != q.uplink:
		return fmt.Sprintf("uplink %t → %t", p.uplink, q.uplink)
	case p.mode != q.mode:
		return fmt.Sprintf("fast path mode %s → %s", p.mode, q.mode)
	case p.typ != q.typ:
		return fmt.Sprintf("port type %s → %s", p.typ, q.typ)
	case p.ring != q.ring:
		return "rings changed"
	case p.afxdp != q.afxdp:
		return "afxdp settings changed"
	}
	return ""
}

// sameTable says whether two bridges' forwarding tables are set up alike; a
// table is made with its bridge, so a change rebuilds the bridge.
func sameTable(a, b config.Bridge) bool {
	return a.FDB.AgingTime == b.FDB.AgingTime && a.FDB.MaxEntries == b.FDB.MaxEntries && a.FDB.MaxPerPort == b.FDB.MaxPerPort
}

// reattach is an attached interface that a reload detaches, to attach it
// again as the new configuration says (if it says anything).
type reattach struct {
	ifindex int
	name    string
	why     string
}

// reloadDiff is what going from one configuration to another changes.
type reloadDiff struct {
	detach []reattach      // by ifindex
	remove []string        // bridges to close: gone, or to rebuild
	create []config.Bridge // bridges to make: new, or rebuilt
}

// diff compares what the attached interfaces have under old with what they
// would get under new. Only interfaces whose plan changes, or whose bridge
// is removed or rebuilt, are detached; the others keep their ports.
func diff(old, new *config.Config, attached map[int]attachment) reloadDiff {
	var df reloadDiff
	rebuilt := map[string]bool{}
	oldList := bridgesOf(old)
	oldBridges := map[string]config.Bridge{}
	for _, b := range oldList {
		oldBridges[b.Name] = b
	}
	newBridges := map[string]bool{}
	for _, b := range bridgesOf(new) {
		newBridges[b.Name] = true
		ob, ok := oldBridges[b.Name]
		switch {
		case !ok:
			df.create = append(df.create, b)
		case !sameTable(ob, b):
			rebuilt[b.Name] = true
			df.remove = append(df.remove, b.Name)
			df.create = append(df.create, b)
		}
	}
	for _, b := range oldList {
		if !newBridges[b.Name] {
			df.remove = append(df.remove, b.Name)
		}
	}
	for idx, a := range attached {
		was, _ := planPort(old, a.name)
		now, ok := planPort(new, a.name)
		why := ""
		switch {
		case !newBridges[a.bridge]:
			why = "bridge " + a.bridge + " removed"
		case rebuilt[a.bridge]:
			why = "bridge " + a.bridge + "'s fdb settings changed"
		case !ok:
			why = "no bridge takes it any more"
		default:
			why = was.change(now)
		}
		if why != "" {
			df.detach = append(df.detach, reattach{ifindex: idx, name: a.name, why: why})
		}
	}
	sort.Slice(df.detach, func(i, j int) bool { return df.detach[i].ifindex < df.detach[j].ifindex })
	return df
}

// bridgesOf returns the bridges of cfg: the file's, each replaced by the
// runtime bridge of its name if there is one, then the other runtime
// bridges.
func bridgesOf(cfg *config.Config) []config.Bridge {
	runtime := map[string]config.Bridge{}
	for _, b := range cfg.Runtime {
		runtime[b.Name] = b
	}
	var out []config.Bridge
	for _, b := range cfg.Bridges {
		if rb, ok := runtime[b.Name]; ok {
			b = rb
			delete(runtime, b.Name)
		}
		out = append(out, b)
	}
	for _, b := range cfg.Runtime {
		if _, ok := runtime[b.Name]; ok {
			out = append(out, b)
		}
	}
	return out
}

// Reload applies a new configuration from a file to the running daemon:
// bridges the file no longer has are removed with their ports, new ones are
// made, a bridge whose table settings change is rebuilt, and an attached
// interface is detached and attached again only when what it gets from the
// configuration changes, its static MACs aside: those change in place. The
// other ports are not touched: frames keep flowing through them. cfg must
// have passed Check.
//
// The bridges a takeover made are not the file's: they stay as they are.
// A reload takes its turn with takeovers and link handling.
//
// What is fixed at start (the fast path's pin directory and TC hook, the
// AF_XDP UMEM size, the metrics and control endpoints, and loading the fast
// path at all) is left as it is and logged: it takes a restart.
func (d *Daemon) Reload(cfg *config.Config) error {
	var err error
	d.serialized(func() { err = d.reload(cfg) })
	return err
}

func (d *Daemon) reload(cfg *config.Config) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("the daemon is stopping")
	}
	if d.cfg.Auto || cfg.Auto {
		d.mu.Unlock()
		return ErrNoFile
	}
	old := d.cfg
	// Takeovers and what the control API added outlive the file.
	cfg.Runtime, cfg.RuntimePorts, cfg.RuntimeStatics, cfg.PortState = old.Runtime, old.RuntimePorts, old.RuntimeStatics, old.PortState
	cfg.RuntimeMirrors = old.RuntimeMirrors
	df := diff(old, cfg, d.attached)
	kept := len(d.attached) - len(df.detach)
	for _, what := range restartOnly(old, cfg, d.fp != nil) {
		d.log.Warn("configuration change needs a restart of xswitchd to take effect", "setting", what)
	}
	d.cfg = cfg
	if d.fp == nil && d.fpErr == nil {
		d.fpErr = errNotLoaded
	}
	// Attach errors under the new configuration are worth a log line again.
	clear(d.failed)
	for _, r := range df.detach {
		d.detachLocked(r.ifindex, "configuration changed: "+r.why)
	}
	for _, name := range df.remove {
		if br, ok := d.bridges[name]; ok {
			delete(d.bridges, name)
			if err := br.Close(); err != nil {
				d.log.Warn("closing a removed bridge", "bridge", name, "err", err)
			}
			d.log.Info("bridge removed", "bridge", name)
		}
	}
	for _, b := range df.create {
		d.bridge(b)
	}
	d.loops.configure(bridgesOf(cfg))
	// The ports kept take the VLANs, isolation, anti-spoofing and static
	// MACs of the new file in place.
	d.syncPolicies()
	d.syncStatics(old)
	d.syncStorms()
	for name := range d.bridges {
		if err := d.applyMirrors(name); err != nil {
			d.log.Error("bridge mirrors not set", "bridge", name, "err", err)
		}
	}
	d.mu.Unlock()
	d.log.Info("configuration reloaded", "file", cfg.Source, "bridges_removed", len(df.remove), "bridges_created", len(df.create),
		"ports_detached", len(df.detach), "ports_kept", kept)
	// Makes the new host ports, and attaches the detached interfaces
	// again and those the new configuration takes for the first time.
	if err := d.Resync(); err != nil {
		d.log.Warn("link listing failed after the reload; the periodic resync attaches the new ports", "err", err)
	}
	return nil
}

// restartOnly names the settings that differ between old and new but are
// fixed for the life of the process; fast says whether the fast path was
// loaded at start.
func restartOnly(old, new *config.Config, fast bool) []string {
	var out []string
	if old.Metrics != new.Metrics {
		out = append(out, "metrics")
	}
	if old.Control != new.Control {
		out = append(out, "control")
	}
	if old.ControlGroup != new.ControlGroup {
		out = append(out, "control-group")
	}
	if old.UMEM != new.UMEM {
		out = append(out, "afxdp frames and frame-size (the UMEM)")
	}
	if old.PuntRing != new.PuntRing {
		out = append(out, "punt-ring")
	}
	if !fast && !old.WantsFastPath() && !old.WantsAFXDP() && (new.WantsFastPath() || new.WantsAFXDP()) {
		out = append(out, "fastpath (not loaded at start: until a restart, ports fall back to the userspace path or, asking for xdp, tc or afxdp, fail)")
	}
	return out
}

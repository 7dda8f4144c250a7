package daemon

import (
	"fmt"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
)

// attach makes the interface a port of its bridge, if it has one. A failure
// is logged once with the interface and the cause; the other ports go on.
func (d *Daemon) attach(idx int, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.deleted[idx] == name {
		return
	}
	b, uplink, ok := matchPort(d.cfg, name)
	if !ok {
		return
	}
	br := d.bridge(b)
	fpp := bpf.Port{Name: name, Index: idx, Bridge: bpf.BridgeID(b.Name), MTU: 1500, Mode: fastPathMode(hostPortMode(b, name, b.Mode(name, d.cfg.FastPath))),
		Policy: b.Policy(name), MaxMACs: macLimit(b.FDB)}
	if l, err := d.sys.links.LinkByIndex(idx); err == nil {
		fpp.MTU, fpp.Kind, fpp.PeerElsewhere = l.Attrs().MTU, l.Type(), l.Attrs().NetNsID >= 0
	}
	fpp.Mode = tunnelPortMode(b, fpp)
	var (
		a   attachment
		err error
	)
	if d.portType(b, fpp, uplink) == config.PortTypeAFXDP {
		a, err = d.attachXSK(br, b.Name, fpp, uplink)
	} else {
		a, err = d.attachAFPacket(br, b, fpp, uplink)
	}
	if err != nil {
		if msg := err.Error(); d.failed[idx] != msg {
			d.failed[idx] = msg
			d.log.Error("cannot attach interface", "port", name, "bridge", b.Name, "err", err)
		}
		return
	}
	d.adopted(br, b, idx, a)
	d.tunnelAttached(b, fpp)
}

// portType resolves the port type of an interface about to attach.
func (d *Daemon) portType(b config.Bridge, fpp bpf.Port, uplink bool) config.PortType {
	typ := tunnelPortType(b, fpp, hostPortType(b, fpp.Name, b.Type(fpp.Name, d.cfg.PortType)))
	if typ != config.PortTypeAuto {
		return typ
	}
	// An AF_XDP port's fast path is XDP: not for a port set to tc; nor for
	// a link whose MTU its sockets cannot carry.
	if uplink && d.fp != nil && fpp.Mode != bpf.ModeTC && d.sys.nativeXDP(fpp.Index) && d.xskCarries(fpp.MTU) {
		return config.PortTypeAFXDP
	}
	return config.PortTypeAFPacket
}

// adopted records a port that attached and gives it what is its own: its
// place in the fast path's MAC map, the MACs the kernel learned behind it
// while no daemon ran (after a restart, with the times it last saw them),
// and its static MACs, the file's and those set at run time. Under mu.
func (d *Daemon) adopted(br *dataplane.Bridge, b config.Bridge, idx int, a attachment) {
	delete(d.failed, idx)
	a.policy = b.Policy(a.name)
	d.attached[idx] = a
	if a.fastPath != bpf.ModeOff {
		bid := bpf.BridgeID(b.Name)
		d.mirror.addPort(bid, a.id, idx)
		for _, e := range d.warm.take(idx, bid) {
			br.FDB().Learn(e.Key, a.id, e.Seen)
		}
	}
	d.pinStatics(br, b, a)
	d.syncFastMirrors(b.Name)
	d.applyStorm(idx, a, b)
	d.loops.attached(b.Name, a.name, a.id)
}

// pinStatics pins the static MACs of an attached port, the file's and those
// set at run time; under mu.
func (d *Daemon) pinStatics(br *dataplane.Bridge, b config.Bridge, a attachment) {
	statics := b.Static
	for _, st := range d.cfg.RuntimeStatics {
		if st.Bridge == b.Name {
			statics = append(statics[:len(statics):len(statics)], st.Static)
		}
	}
	for _, st := range statics {
		if st.Port != a.name {
			continue
		}
		if err := br.FDB().AddStatic(fdb.MakeKey(st.VLAN, st.MAC), a.id); err != nil {
			d.log.Error("cannot pin static MAC", "port", a.name, "bridge", b.Name, "mac", st.MAC.String(), "vlan", st.VLAN, "err", err)
		}
	}
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

package daemon

import (
	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/config"
)

// attachAFPacket attaches an AF_PACKET port and puts it in the fast path as
// its mode asks; under mu.
//
// A port without the fast path only sends too, where the tap can be had
// (tap.go): the tap receives its frames.
//
// A fast-path port only sends: its punts reach the shared receiver, opened
// at start, which forwards them once the bridge has the port (punts before
// that are dropped and counted, as while no daemon runs). Without a shared
// receiver it gets a ring of its own, bound to the punt ethertype: opened
// before TC punts, it loses none of the first punts. A socket bound to
// every protocol would see what a program left by an earlier run still
// forwards: that goes first.
func (d *Daemon) attachAFPacket(br *dataplane.Bridge, b config.Bridge, fpp bpf.Port, uplink bool) (attachment, error) {
	name, idx := fpp.Name, fpp.Index
	ring := ringConfig(b.Rings.Vif)
	if uplink {
		ring = ringConfig(b.Rings.Uplink)
	}
	var (
		p      dataplane.Port
		shared *dataplane.Shared
		tapped bool
		mode   bpf.Mode
		err    error
	)
	if fpp.Mode != bpf.ModeOff && d.fp != nil {
		if d.shared != nil {
			p, err = d.sys.sockets.AFPacketSendOnly(name, ring)
			shared = d.shared
		} else {
			punting := ring
			punting.PuntEtherType = bpf.PuntEtherType
			p, err = d.sys.sockets.AFPacket(name, punting)
		}
		if err == nil {
			if mode, err = d.attachFastPath(fpp); err != nil || mode == bpf.ModeOff {
				p.Close()
				p, shared = nil, nil
			}
		}
	} else {
		mode, err = d.attachFastPath(fpp)
	}
	if err == nil && p == nil { // no fast path after all
		p, shared, err = d.userspaceAFPacket(name, idx, ring)
		tapped = shared != nil
	}
	if err != nil {
		if mode != bpf.ModeOff && mode != "" {
			d.fp.DetachPort(idx, name)
		}
		return attachment{}, err
	}
	id, err := br.AddPort(p, dataplane.PortInfo{Name: name, Uplink: uplink, Kind: "afpacket", FastPath: string(mode), Ifindex: idx, Policy: fpp.Policy, Shared: shared})
	if err != nil {
		if mode != bpf.ModeOff {
			d.fp.DetachPort(idx, name)
		}
		if tapped {
			d.tapDetached(idx, name)
		}
		return attachment{}, err
	}
	return attachment{name: name, bridge: b.Name, fastPath: mode, id: id, mtu: fpp.MTU, tapped: tapped}, nil
}

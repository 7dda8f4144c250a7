package daemon

import (
	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/config"
)

// attachAFPacket attaches an AF_PACKET port and puts it in the fast path as
// its mode asks; under mu.
//
// The order matters at the edges. A fast-path port's socket, bound to the
// punt ethertype, receives nothing until TC punts: opened first, it loses
// none of the first punts. A socket bound to every protocol would see what a
// program left by an earlier run still forwards: that goes first.
func (d *Daemon) attachAFPacket(br *dataplane.Bridge, b config.Bridge, fpp bpf.Port, uplink bool) (attachment, error) {
	name, idx := fpp.Name, fpp.Index
	ring := ringConfig(b.Rings.Vif)
	if uplink {
		ring = ringConfig(b.Rings.Uplink)
	}
	var (
		p    dataplane.Port
		mode bpf.Mode
		err  error
	)
	if fpp.Mode != bpf.ModeOff && d.fp != nil {
		punting := ring
		punting.PuntEtherType = bpf.PuntEtherType
		if p, err = d.sys.sockets.AFPacket(name, punting); err == nil {
			if mode, err = d.attachFastPath(fpp); err != nil || mode == bpf.ModeOff {
				p.Close()
				p = nil
			}
		}
	} else {
		mode, err = d.attachFastPath(fpp)
	}
	if err == nil && p == nil {
		p, err = d.sys.sockets.AFPacket(name, ring) // no fast path after all
	}
	if err != nil {
		if mode != bpf.ModeOff && mode != "" {
			d.fp.DetachPort(idx, name)
		}
		return attachment{}, err
	}
	id, err := br.AddPort(p, dataplane.PortInfo{Name: name, Uplink: uplink, Kind: "afpacket", FastPath: string(mode), Ifindex: idx, Policy: fpp.Policy})
	if err != nil {
		if mode != bpf.ModeOff {
			d.fp.DetachPort(idx, name)
		}
		return attachment{}, err
	}
	return attachment{name: name, bridge: b.Name, fastPath: mode, id: id, mtu: fpp.MTU}, nil
}

package dataplane

import (
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// The decisions of forwarding one frame, shared by the workers and by
// Trace, so that what Trace says is what a worker does.

// checks says which policies frames from a port with policy from go
// through: VLANs (vlans: from is not transparent or the bridge has ports
// that are not), and the egress ports' policies at all (checked: VLANs, or
// from is isolated). A bridge without policies checks neither.
func (b *Bridge) checks(from *policy.Policy) (vlans, checked bool) {
	vlans = from.VLAN.Mode != policy.Transparent || b.vlanPorts.Load() != 0
	return vlans, vlans || from.Isolated
}

// admit is the ingress half: it checks f, which entered on a port with
// policy from, and places it in its VLAN inside the bridge (v, and qinq for
// an 802.1ad frame). ok false means the frame is dropped, for reason r.
// vlans says that from is not transparent or the bridge has ports that are
// not: only then are frames moved into VLANs by the port's policy.
func admit(f *Frame, from *policy.Policy, vlans bool) (v uint16, qinq bool, r DropReason, ok bool) {
	if len(f.Data) < EthHdrLen {
		return 0, false, DropRunt, false
	}
	if f.Data[6]&1 != 0 {
		return 0, false, DropMulticastSrc, false
	}
	if vlans {
		var in bool
		if v, qinq, in = ingress(f, &from.VLAN); !in {
			return 0, false, DropVLAN, false
		}
	} else {
		v = vid(f)
	}
	if from.AntiSpoof && from.Spoofed(f.Data) {
		return 0, false, DropSpoofed, false
	}
	return v, qinq, 0, true
}

// unicastTo returns the one port of set that a frame of VLAN v to MAC dst
// (the frame's first 6 bytes) from port in goes to, or nil when the frame is
// flooded: a group address, an unknown one, or one learned on a port that
// is gone or blocked. local says dst was learned on in itself: the frame is
// dropped.
func unicastTo(table *fdb.Table, set *portSet, in *port, v uint16, dst []byte) (e *port, local bool) {
	if dst[0]&1 != 0 {
		return nil, false
	}
	id, ok := table.Lookup(fdb.MakeKey(v, dst[:6]))
	if !ok {
		return nil, false
	}
	if id == in.id {
		return nil, true
	}
	if e := set.get(id); e != nil && !e.blocked.Load() {
		return e, false
	}
	return nil, false
}

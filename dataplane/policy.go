package dataplane

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/xswitch/xswitch/policy"
)

// clonePolicy returns a copy of p that shares no memory with it, so that
// what a port enforces cannot change under a worker.
func clonePolicy(p policy.Policy) policy.Policy {
	p.VLAN.Trunk = slices.Clone(p.VLAN.Trunk)
	p.MAC = bytes.Clone(p.MAC)
	p.Allowed = slices.Clone(p.Allowed)
	return p
}

// ingress places f, which arrived on a port with VLANs v, in its VLAN inside
// the bridge: ok is false when the port does not accept it. An in-band
// 802.1Q tag is moved out of band first, so that every frame's tag can be
// changed per egress port in its Frame alone. qinq says the frame carries an
// 802.1ad tag, which only transparent ports take (as their VLAN, the outer
// tag's).
func ingress(f *Frame, v *policy.VLANs) (inside uint16, qinq, ok bool) {
	if !f.Tagged {
		untagInBand(f)
	}
	if f.Tagged {
		qinq = f.TPID == EtherTypeQinQ
	} else {
		qinq = len(f.Data) >= EthHdrLen && binary.BigEndian.Uint16(f.Data[12:]) == EtherTypeQinQ
	}
	if v.Mode == policy.Transparent {
		return vid(f), qinq, true
	}
	if qinq {
		return 0, true, false
	}
	inside, ok = v.Ingress(f.Tagged, f.VLAN&0xfff)
	return inside, false, ok
}

// untagInBand moves an in-band 802.1Q tag of f into its metadata: the MACs
// move forward over the tag in the port's own buffer, and Data starts 4 bytes
// later. Offload offsets count from the frame start (and from the untagged
// frame when Tagged, as ports transmit them), so they shrink by the tag.
func untagInBand(f *Frame) {
	d := f.Data
	if len(d) < EthHdrLen+VLANTagLen || binary.BigEndian.Uint16(d[12:]) != EtherTypeVLAN {
		return
	}
	tci := binary.BigEndian.Uint16(d[14:])
	copy(d[VLANTagLen:EthHdrLen+2], d[:EthHdrLen-2])
	f.Data = d[VLANTagLen:]
	f.Tagged, f.VLAN, f.TPID = true, tci, EtherTypeVLAN
	if f.VNet.Flags&VNetHdrFNeedsCsum != 0 && f.VNet.CsumStart >= VLANTagLen {
		f.VNet.CsumStart -= VLANTagLen
	}
	if f.VNet.HdrLen >= VLANTagLen {
		f.VNet.HdrLen -= VLANTagLen
	}
}

// egress is what becomes of a frame at one egress port. The refusals come
// last: a frame leaves when its egress is below egressVLAN.
type egress uint8

const (
	egressAsIs     egress = iota // leaves as it came
	egressUntagged               // leaves without a tag
	egressTagged                 // leaves tagged with its VLAN
	egressVLAN                   // the port is not in the frame's VLAN
	egressIsolated               // both ports are isolated
)

// egressOf decides how a frame of VLAN inside (an 802.1ad one when qinq)
// from a port with policy from leaves on a port with policy to. Between two
// transparent ports a frame leaves as it came, whatever its tags.
func egressOf(from, to *policy.Policy, inside uint16, qinq bool) egress {
	if from.Isolated && to.Isolated {
		return egressIsolated
	}
	if to.VLAN.Mode == policy.Transparent && from.VLAN.Mode == policy.Transparent {
		return egressAsIs
	}
	if qinq {
		return egressVLAN
	}
	member, tagged := to.VLAN.Egress(inside)
	switch {
	case !member:
		return egressVLAN
	case tagged:
		return egressTagged
	}
	return egressUntagged
}

// setTag gives g, a frame queued for one egress port, the tag that e says.
// A frame retagged with the VLAN it arrived in keeps its priority.
func setTag(g *Frame, e egress, inside uint16) {
	switch e {
	case egressUntagged:
		g.Tagged, g.VLAN, g.TPID = false, 0, 0
	case egressTagged:
		tci := inside
		if g.Tagged && g.VLAN&0xfff == inside {
			tci = g.VLAN
		}
		g.Tagged, g.VLAN, g.TPID = true, tci, EtherTypeVLAN
	}
}

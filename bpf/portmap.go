package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// A port's entries in the maps: its xs_ports entry (bridge, flags, MTU,
// sockets, policy), its xs_tx_ports entry when it takes XDP frames, its
// counters, its policy's VLAN and address entries (policymap.go), and the
// MAC entries that point at it.

// putPort writes the port's entries in the ports, devmap, stats and policy
// maps.
func (fp *FastPath) putPort(p Port, feats uint64, pl *portLinks) error {
	v := xswitchPort{Bridge: p.Bridge, MaxLen: uint32(p.MTU + ethHdrLen)}
	if p.Kind == "veth" && p.PeerElsewhere {
		v.Flags |= portPeer
	}
	if p.XSK {
		v.Flags |= portXSK
		v.XskBase = p.XSKBase
		v.XskQueues = uint32(p.XSKQueues)
	}
	if pl.off {
		v.Flags |= portNoFast
	}
	if pl.capture {
		v.Flags |= portCapture
	}
	setMirror(&v, pl.mirror)
	if fp.blocked[p.Index] {
		v.Flags |= portBlocked
	}
	v.MaxMacs = uint32(max(pl.maxMACs, 0))
	if feats&xdpActNDOXmit != 0 {
		// The devmap refuses devices that cannot take XDP frames; then the
		// port is simply no XDP target.
		if err := fp.objs.XsTxPorts.Update(uint32(p.Index), uint32(p.Index), ebpf.UpdateAny); err == nil {
			v.Flags |= portXDPTx
		}
	} else {
		fp.objs.XsTxPorts.Delete(uint32(p.Index))
	}
	// Keep the counters of an adopted port; start others at zero.
	zero := make([]xswitchPortStats, ebpf.MustPossibleCPU())
	if err := fp.objs.XsStats.Update(uint32(p.Index), zero, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("%s: fast path: stats entry: %w", p.Name, err)
	}
	if err := fp.putMACCounts(uint32(p.Index)); err != nil {
		return fmt.Errorf("%s: fast path: %w", p.Name, err)
	}
	if err := fp.putStorm(uint32(p.Index)); err != nil {
		return fmt.Errorf("%s: fast path: %w", p.Name, err)
	}
	if err := fp.putPortEntry(uint32(p.Index), v, p.Policy); err != nil {
		return fmt.Errorf("%s: fast path: %w", p.Name, err)
	}
	return nil
}

// Refresh rereads what the maps know about an attached port that may have
// changed: its MTU and whether it accepts XDP frames (a veth does once its
// peer has GRO on or an XDP program). The port keeps the policy AttachPort
// or SetPolicy gave it; p.Policy is not read.
func (fp *FastPath) Refresh(p Port) error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	pl, ok := fp.ports[p.Index]
	if !ok {
		return nil
	}
	feats, _ := xdpFeatures(p.Index)
	p.XSK, p.XSKBase, p.XSKQueues = pl.xsk, pl.xskBase, pl.xskQueues
	p.Policy, p.MaxMACs = pl.policy, pl.maxMACs
	return fp.putPort(p, feats, pl)
}

// deletePort removes the port's entries, and every MAC entry that points at
// it, so the programs never redirect to it again.
func (fp *FastPath) deletePort(ifindex int) {
	idx := uint32(ifindex)
	fp.deletePortEntry(idx)
	fp.objs.XsTxPorts.Delete(idx)
	fp.objs.XsStats.Delete(idx)
	fp.objs.XsStorm.Delete(idx)
	fp.objs.XsMacs.Delete(idx)
	fp.objs.XsMacsUser.Delete(idx)
	fp.forgetUserMACs(idx)
	fp.deletePolicy(idx)
	var (
		k    xswitchFdbKey
		v    xswitchFdbEntry
		dead []xswitchFdbKey
	)
	it := fp.objs.XsFdb.Iterate()
	for it.Next(&k, &v) {
		if v.Ifindex == idx {
			dead = append(dead, k)
		}
	}
	for _, k := range dead {
		fp.objs.XsFdb.Delete(k)
	}
}

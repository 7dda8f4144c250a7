package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xswitch/xswitch/policy"
)

// Kernel flooding: the TC program clones a bridge's broadcast and multicast
// frames to the bridge's other ports itself, from the bridge's flood list
// (xs_flood), rather than punting them for userspace to flood. The list is
// on (its kernel bit set) only while that is what userspace would do, and
// no one needs userspace to see the frame:
//
//   - every port of the bridge, as the daemon lists them (SetFloodPorts), is
//     in the fast path with a TC program: no AF_XDP port, no port without
//     a fast path (userspace ports, tunnel ports), no port missing;
//   - no port has a capture or a mirror (from, to, or as its destination);
//   - every port is VLAN-transparent: a flood leaves every port as it came,
//     so no tag is pushed or popped per egress port.
//
// Isolation and blocked ports are followed per egress port, as userspace
// does: no flood from an isolated port to another, none to a blocked port.
// A frame longer than the smallest MTU of the bridge (not a GSO super-frame)
// is punted, so that userspace counts the ports it does not fit.
// Unknown unicast is flooded by userspace as before.
//
// The bit goes off before any port entry of the bridge changes and comes
// back once the entries are written, so a frame never meets a list that
// is on while a port already needs userspace.

// floodState is the loader's view of the flood lists; under FastPath.mu.
type floodState struct {
	// ports are the bridges' ports as SetFloodPorts last gave them, by
	// bridge id.
	ports map[uint32][]int
	// entries are the xs_ports entries as last written, by ifindex.
	entries map[uint32]xswitchPort
	// on are the bridges whose list has its kernel bit set.
	on map[uint32]bool
}

// floodUserFlags are the port flags that keep a bridge's floods in
// userspace (FLOOD_USER_FLAGS in xswitch.c, less PORT_BLOCKED, which the
// list follows per port).
const floodUserFlags = portNoFast | portXSK | portCapture | portMirrorIn | portMirrorOut | portMirrorDest

// SetFloodPorts gives the fast path the ports of a bridge, every one the
// userspace switch floods to, by ifindex; none forgets the bridge. TC
// floods the bridge's frames itself while they all qualify.
func (fp *FastPath) SetFloodPorts(bridge uint32, ifindexes []int) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if len(ifindexes) == 0 {
		delete(fp.flood.ports, bridge)
		fp.floodOff(bridge)
		fp.objs.XsFlood.Delete(bridge)
		return
	}
	fp.flood.ports[bridge] = append([]int(nil), ifindexes...)
	fp.floodRefresh(bridge)
}

// KernelFloods reports whether TC floods the bridge's frames itself.
func (fp *FastPath) KernelFloods(bridge uint32) bool {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.flood.on[bridge]
}

// writePort writes a port's xs_ports entry, turning kernel flooding off
// for the port's bridge (old and new) around the write.
func (fp *FastPath) writePort(ifindex uint32, v xswitchPort, flags ebpf.MapUpdateFlags) error {
	old, had := fp.flood.entries[ifindex]
	if had {
		fp.floodOff(old.Bridge)
	}
	fp.floodOff(v.Bridge)
	err := fp.objs.XsPorts.Update(ifindex, v, flags)
	if err == nil {
		fp.flood.entries[ifindex] = v
	}
	if had && old.Bridge != v.Bridge {
		fp.floodRefresh(old.Bridge)
	}
	fp.floodRefresh(v.Bridge)
	return err
}

// deletePortEntry deletes a port's xs_ports entry, turning kernel flooding
// off for its bridge: the daemon's list still has the port until
// SetFloodPorts says otherwise.
func (fp *FastPath) deletePortEntry(ifindex uint32) {
	old, had := fp.flood.entries[ifindex]
	if had {
		fp.floodOff(old.Bridge)
	}
	fp.objs.XsPorts.Delete(ifindex)
	delete(fp.flood.entries, ifindex)
	if had {
		fp.floodRefresh(old.Bridge)
	}
}

// floodOff clears the bridge's kernel bit.
func (fp *FastPath) floodOff(bridge uint32) {
	if !fp.flood.on[bridge] {
		return
	}
	if err := fp.objs.XsFlood.Update(bridge, xswitchFlood{}, ebpf.UpdateAny); err != nil {
		// The bit stays on: the entry cannot be rewritten, so take it away.
		fp.objs.XsFlood.Delete(bridge)
	}
	delete(fp.flood.on, bridge)
}

// floodRefresh writes the bridge's list with its kernel bit set when the
// bridge qualifies (the comment at the top), and clears the bit otherwise.
func (fp *FastPath) floodRefresh(bridge uint32) {
	l, ok := fp.floodList(bridge)
	if !ok {
		fp.floodOff(bridge)
		return
	}
	if err := fp.objs.XsFlood.Update(bridge, l, ebpf.UpdateAny); err != nil {
		fp.log.Warn("fast path: the bridge's floods stay in userspace", "bridge", bridge, "err", fmt.Errorf("flood list: %w", err))
		fp.floodOff(bridge)
		return
	}
	fp.flood.on[bridge] = true
}

// floodList builds the bridge's list; false when the bridge does not
// qualify.
func (fp *FastPath) floodList(bridge uint32) (*xswitchFlood, bool) {
	want := fp.flood.ports[bridge]
	if len(want) == 0 || len(want) > len(xswitchFlood{}.Ports) {
		return nil, false
	}
	in := 0
	for _, v := range fp.flood.entries {
		if v.Bridge == bridge {
			in++
		}
	}
	if in != len(want) {
		return nil, false // a port of the bridge that the daemon does not list, or not yet
	}
	l := &xswitchFlood{Kernel: 1, N: uint32(len(want)), MinLen: ^uint32(0)}
	for i, idx := range want {
		v, ok := fp.flood.entries[uint32(idx)]
		if !ok || v.Bridge != bridge || v.Flags&floodUserFlags != 0 || v.VlanMode != uint8(policy.Transparent) {
			return nil, false
		}
		l.Ports[i] = xswitchFloodPort{Ifindex: uint32(idx), Flags: v.Flags & (portIsolated | portBlocked)}
		l.MinLen = min(l.MinLen, v.MaxLen)
	}
	return l, true
}

// clearFloods takes every flood list away, which an earlier run may have
// left on: the bridges' floods are userspace's until their ports attach
// again and the daemon lists them.
func (fp *FastPath) clearFloods() {
	var (
		k    uint32
		v    xswitchFlood
		keys []uint32
	)
	it := fp.objs.XsFlood.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	for _, k := range keys {
		fp.objs.XsFlood.Delete(k)
	}
}

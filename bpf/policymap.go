package bpf

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/xswitch/xswitch/policy"
)

// A port's policy in the maps: the mode, PVID, MAC and flags in its xs_ports
// entry, its trunk VLANs in xs_vlans, and with anti-spoofing its allowed
// prefixes and the link-local address of its MAC in xs_allowed. A change
// puts the new VLAN and address entries in first, then flips the port
// entry, then removes what the old policy alone had: a frame never sees a
// port entry whose VLANs or addresses are missing.

// policyKeys are the xs_vlans and xs_allowed keys of one port.
type policyKeys struct {
	vlans []xswitchVlanKey
	addrs []xswitchAddrKey
}

// keysOf returns the entries policy p needs for port ifindex.
func keysOf(ifindex uint32, p policy.Policy) policyKeys {
	var k policyKeys
	if p.VLAN.Mode == policy.Trunk {
		for _, vid := range p.VLAN.Trunk {
			k.vlans = append(k.vlans, xswitchVlanKey{Ifindex: ifindex, Vid: vid})
		}
	}
	if p.AntiSpoof {
		for _, pr := range p.Allowed {
			k.addrs = append(k.addrs, addrKey(ifindex, pr))
		}
		ll := policy.LinkLocal(p.MAC)
		k.addrs = append(k.addrs, addrKey(ifindex, netip.PrefixFrom(ll, ll.BitLen())))
	}
	return k
}

// addrKey is the xs_allowed key of a prefix. IPv4 prefixes are of family
// ADDR_IPV4; the programs look IPv4-mapped IPv6 addresses up as IPv4, as
// policy.Policy.AllowsAddr unmaps them.
func addrKey(ifindex uint32, pr netip.Prefix) xswitchAddrKey {
	pr = pr.Masked()
	k := xswitchAddrKey{Ifindex: ifindex, Family: addrIPv6}
	if pr.Addr().Is4() {
		k.Family = addrIPv4
		a := pr.Addr().As4()
		copy(k.Addr[:], a[:])
	} else {
		a := pr.Addr().As16()
		copy(k.Addr[:], a[:])
	}
	k.Prefixlen = uint32(32 + 8 + pr.Bits()) // ifindex and family first
	return k
}

// setPolicy fills a port entry's policy fields.
func setPolicy(v *xswitchPort, p policy.Policy) {
	v.Flags &^= portIsolated | portAntiSpoof
	if p.Isolated {
		v.Flags |= portIsolated
	}
	if p.AntiSpoof {
		v.Flags |= portAntiSpoof
	}
	v.VlanMode = uint8(p.VLAN.Mode)
	v.Pvid = p.VLAN.PVID
	v.Mac = [6]uint8{}
	copy(v.Mac[:], p.MAC)
}

// putPortEntry writes port entry v of ifindex with policy p: the VLAN and
// address entries p needs go in before, those it no longer needs go after.
// On an error the port keeps its entries as they were.
func (fp *FastPath) putPortEntry(ifindex uint32, v xswitchPort, p policy.Policy) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	setPolicy(&v, p)
	old := fp.policyKeys[ifindex]
	keys := keysOf(ifindex, p)
	one := uint32(1)
	for i, k := range keys.vlans {
		if err := fp.objs.XsVlans.Update(k, one, ebpf.UpdateAny); err != nil {
			fp.deleteNew(keys.vlans[:i], nil, old)
			return fmt.Errorf("VLAN entry %d: %w", k.Vid, err)
		}
	}
	for i, k := range keys.addrs {
		if err := fp.objs.XsAllowed.Update(k, one, ebpf.UpdateAny); err != nil {
			fp.deleteNew(keys.vlans, keys.addrs[:i], old)
			return fmt.Errorf("allowed address entry: %w", err)
		}
	}
	if err := fp.writePort(ifindex, v, ebpf.UpdateAny); err != nil {
		fp.deleteNew(keys.vlans, keys.addrs, old)
		return fmt.Errorf("port entry: %w", err)
	}
	fp.deleteNew(old.vlans, old.addrs, keys)
	fp.setPolicyKeys(ifindex, keys)
	return nil
}

// deleteNew deletes the given entries that keep does not have.
func (fp *FastPath) deleteNew(vlans []xswitchVlanKey, addrs []xswitchAddrKey, keep policyKeys) {
	for _, k := range vlans {
		if !contains(keep.vlans, k) {
			fp.objs.XsVlans.Delete(k)
		}
	}
	for _, k := range addrs {
		if !contains(keep.addrs, k) {
			fp.objs.XsAllowed.Delete(k)
		}
	}
}

func contains[K comparable](keys []K, k K) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

func (fp *FastPath) setPolicyKeys(ifindex uint32, k policyKeys) {
	if len(k.vlans) == 0 && len(k.addrs) == 0 {
		delete(fp.policyKeys, ifindex)
		return
	}
	fp.policyKeys[ifindex] = k
}

// deletePolicy removes a port's VLAN and address entries.
func (fp *FastPath) deletePolicy(ifindex uint32) {
	fp.deleteNew(fp.policyKeys[ifindex].vlans, fp.policyKeys[ifindex].addrs, policyKeys{})
	delete(fp.policyKeys, ifindex)
}

// readPolicyKeys learns the VLAN and address entries of adopted maps, so
// that the first change of a port removes what an earlier run left.
func (fp *FastPath) readPolicyKeys() {
	fp.policyKeys = map[uint32]policyKeys{}
	var (
		vk xswitchVlanKey
		ak xswitchAddrKey
		v  uint32
	)
	for it := fp.objs.XsVlans.Iterate(); it.Next(&vk, &v); {
		k := fp.policyKeys[vk.Ifindex]
		k.vlans = append(k.vlans, vk)
		fp.policyKeys[vk.Ifindex] = k
	}
	for it := fp.objs.XsAllowed.Iterate(); it.Next(&ak, &v); {
		k := fp.policyKeys[ak.Ifindex]
		k.addrs = append(k.addrs, ak)
		fp.policyKeys[ak.Ifindex] = k
	}
}

// SetPolicy changes the VLANs, isolation and anti-spoofing of an attached
// port, without detaching it: frames in flight meet either the old policy
// or the new one. A port that is not in the fast path has nothing to
// change.
func (fp *FastPath) SetPolicy(ifindex int, p policy.Policy) error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	pl, ok := fp.ports[ifindex]
	if !ok {
		return nil
	}
	var v xswitchPort
	if err := fp.objs.XsPorts.Lookup(uint32(ifindex), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		return fmt.Errorf("%s: fast path: port entry: %w", pl.name, err)
	}
	if err := fp.putPortEntry(uint32(ifindex), v, p); err != nil {
		return fmt.Errorf("%s: fast path: %w", pl.name, err)
	}
	pl.policy = p
	return nil
}

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// The count of each port's dynamic MACs in xs_fdb, which the programs hold
// against the port's limit (Port.MaxMACs) before they learn: a guest that
// sends from ever new source MACs fills its share of the map and no more,
// and past it costs neither a learn event nor a punt. Each half of the
// count has one writer: the programs add what they learn and move to
// xs_macs, atomically; the loader adds what PutFDB and DeleteFDB change to
// xs_macs_user, under macsMu, from the copy in userMACs.

// putMACCounts gives a port both halves of its count, keeping those of an
// adopted port. Under fp.mu.
func (fp *FastPath) putMACCounts(idx uint32) error {
	if err := fp.objs.XsMacs.Update(idx, xswitchMacs{}, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("MAC count: %w", err)
	}
	if err := fp.objs.XsMacsUser.Update(idx, xswitchMacs{}, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("MAC count: %w", err)
	}
	return nil
}

// addUserMACs adds d to the loader's half of port idx's count. A port
// without a count (not in the maps, or gone) is left without one.
func (fp *FastPath) addUserMACs(idx uint32, d int64) {
	fp.macsMu.Lock()
	defer fp.macsMu.Unlock()
	n, ok := fp.userMACs[idx]
	if !ok {
		var v xswitchMacs
		if fp.objs.XsMacsUser.Lookup(idx, &v) != nil {
			return
		}
		n = v.N
	}
	n += d
	if fp.objs.XsMacsUser.Update(idx, xswitchMacs{N: n}, ebpf.UpdateExist) == nil {
		fp.userMACs[idx] = n
	} else {
		delete(fp.userMACs, idx)
	}
}

// forgetUserMACs drops the loader's copy of port idx's half, whose map
// entry is gone.
func (fp *FastPath) forgetUserMACs(idx uint32) {
	fp.macsMu.Lock()
	defer fp.macsMu.Unlock()
	delete(fp.userMACs, idx)
}

// MACCount returns the count of dynamic MACs the programs hold against port
// ifindex's limit.
func (fp *FastPath) MACCount(ifindex int) int64 {
	var k, u xswitchMacs
	fp.objs.XsMacs.Lookup(uint32(ifindex), &k)
	fp.objs.XsMacsUser.Lookup(uint32(ifindex), &u)
	return k.N + u.N
}

// RecountMACs sets every port's count to the dynamic entries xs_fdb holds
// for it: a count that drifted (a MAC the programs moved while the daemon
// deleted it) is right again.
func (fp *FastPath) RecountMACs() {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.recountMACs()
}

func (fp *FastPath) recountMACs() {
	have := map[uint32]int64{}
	var (
		k xswitchFdbKey
		v xswitchFdbEntry
	)
	it := fp.objs.XsFdb.Iterate()
	for it.Next(&k, &v) {
		if v.Flags&fdbStatic == 0 {
			have[v.Ifindex]++
		}
	}
	var (
		idx  uint32
		kern xswitchMacs
		ids  []uint32
	)
	mi := fp.objs.XsMacs.Iterate()
	for mi.Next(&idx, &kern) {
		ids = append(ids, idx)
	}
	fp.macsMu.Lock()
	defer fp.macsMu.Unlock()
	for _, idx := range ids {
		if fp.objs.XsMacs.Lookup(idx, &kern) != nil {
			continue
		}
		n := have[idx] - kern.N
		if fp.objs.XsMacsUser.Update(idx, xswitchMacs{N: n}, ebpf.UpdateAny) == nil {
			fp.userMACs[idx] = n
		}
	}
}

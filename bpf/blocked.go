package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// SetBlocked blocks a port against a loop, or unblocks it: the programs drop
// what a blocked port sends, counted as "blocked", without learning from
// it, and punt unicast to a MAC on it as to an unknown destination, which
// userspace floods past it. The block holds until SetBlocked clears it,
// whatever happens to the port meanwhile (Refresh, attached again, or not
// attached yet): the caller unblocks a port it forgets.
func (fp *FastPath) SetBlocked(ifindex int, blocked bool) error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if blocked {
		fp.blocked[ifindex] = true
	} else {
		delete(fp.blocked, ifindex)
	}
	var v xswitchPort
	if err := fp.objs.XsPorts.Lookup(uint32(ifindex), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil // putPort sets the flag when it is attached
		}
		return fmt.Errorf("ifindex %d: fast path: port entry: %w", ifindex, err)
	}
	v.Flags &^= portBlocked
	if blocked {
		v.Flags |= portBlocked
	}
	if err := fp.writePort(uint32(ifindex), v, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("ifindex %d: fast path: blocked flag: %w", ifindex, err)
	}
	return nil
}

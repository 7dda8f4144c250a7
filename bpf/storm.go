package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// StormLimits are the flooded frames per second a port may send, by kind;
// 0 is no limit. The TC program drops what is over a limit, counted as
// "storm", before it punts the frame to be flooded: a broadcast or
// multicast, or unicast to a MAC not learned (or on a blocked port). XDP
// leaves such frames to TC, or to an AF_XDP port's socket, whose userspace
// switch applies the limits itself.
type StormLimits struct {
	Broadcast      uint32
	Multicast      uint32
	UnknownUnicast uint32
}

// A bucket holds a tenth of a second's frames (at least 8, or the rate if
// less): short bursts pass, a storm is cut to the rate at once.
const stormBurstDiv = 10

// stormToken is STORM_TOKEN of maps.h: the tokens of one frame.
const stormToken = 1_000_000_000

// stormBucket is a full bucket for rate frames a second.
func stormBucket(rate uint32) xswitchStormBucket {
	if rate == 0 {
		return xswitchStormBucket{}
	}
	burst := max(uint64(rate)/stormBurstDiv, min(uint64(rate), 8))
	return xswitchStormBucket{Rate: uint64(rate), Burst: burst * stormToken, Tokens: burst * stormToken}
}

// SetStorm sets the storm-control limits of port ifindex. They hold until
// changed, whatever happens to the port meanwhile (Refresh, attached
// again, or not attached yet): the caller clears those of a port it
// forgets, with zero limits.
func (fp *FastPath) SetStorm(ifindex int, l StormLimits) error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if l == (StormLimits{}) {
		delete(fp.storms, ifindex)
	} else {
		fp.storms[ifindex] = l
	}
	if _, ok := fp.ports[ifindex]; !ok {
		if err := fp.objs.XsPorts.Lookup(uint32(ifindex), new(xswitchPort)); err != nil {
			return nil // putPort writes them when it is attached
		}
	}
	if err := fp.putStorm(uint32(ifindex)); err != nil {
		return fmt.Errorf("ifindex %d: fast path: %w", ifindex, err)
	}
	return nil
}

// putStorm writes the xs_storm entry of port idx from fp.storms, refilling
// its buckets. Under fp.mu.
func (fp *FastPath) putStorm(idx uint32) error {
	l, ok := fp.storms[int(idx)]
	if !ok {
		if err := fp.objs.XsStorm.Delete(idx); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("storm control: %w", err)
		}
		return nil
	}
	var v xswitchStorm
	if fp.objs.XsStorm.Lookup(idx, &v) == nil && v.Kinds[0].Rate == uint64(l.Broadcast) &&
		v.Kinds[1].Rate == uint64(l.Multicast) && v.Kinds[2].Rate == uint64(l.UnknownUnicast) {
		return nil // unchanged: its buckets stay as they are
	}
	v = xswitchStorm{}
	v.Kinds[xswitchStormKindSTORM_BROADCAST] = stormBucket(l.Broadcast)
	v.Kinds[xswitchStormKindSTORM_MULTICAST] = stormBucket(l.Multicast)
	v.Kinds[xswitchStormKindSTORM_UNKNOWN_UNICAST] = stormBucket(l.UnknownUnicast)
	if err := fp.objs.XsStorm.Update(idx, v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("storm control: %w", err)
	}
	return nil
}

package dataplane

import "fmt"

// Storm control in userspace: the flooded frames a port sends into its
// bridge are limited per kind, in frames per second, by a token bucket per
// kind. Only the goroutine that receives the port's frames (its worker, or
// its Shared's) reads and writes the buckets; SetStorm replaces them as a
// whole. The fast path enforces the same limits in TC on the frames it
// decides (bpf.StormLimits): the daemon gives a port limits here when its
// frames reach userspace undecided (no fast path, or an AF_XDP port).

// StormLimits are a port's limits; 0 is no limit.
type StormLimits struct {
	Broadcast      uint32 // frames/s to ff:ff:ff:ff:ff:ff
	Multicast      uint32 // frames/s to other group addresses
	UnknownUnicast uint32 // frames/s to unicast MACs not learned
}

// The kinds of flooded frames, indexing stormBuckets.
const (
	stormBroadcast = iota
	stormMulticast
	stormUnknownUnicast
	stormKinds
)

// stormToken is the tokens of one frame: a bucket counts in nanoframes, so
// rate times nanoseconds is its refill.
const stormToken = 1_000_000_000

// stormBucket limits one kind of frame to rate a second, with bursts of up
// to burst/stormToken frames.
type stormBucket struct {
	rate   uint64 // frames/s; 0: no limit
	burst  uint64 // the most tokens it holds
	tokens uint64 // never more than burst
	last   int64  // fdb.Now of the last refill
}

// stormBuckets are a port's buckets, one per kind.
type stormBuckets [stormKinds]stormBucket

// newStormBucket is a full bucket: a tenth of a second's frames, at least
// 8 (or the rate, if less), as the fast path's.
func newStormBucket(rate uint32) stormBucket {
	if rate == 0 {
		return stormBucket{}
	}
	burst := max(uint64(rate)/10, min(uint64(rate), 8)) * stormToken
	return stormBucket{rate: uint64(rate), burst: burst, tokens: burst}
}

// take takes a frame's token at now; false: over the limit.
func (b *stormBucket) take(now int64) bool {
	if b.rate == 0 {
		return true
	}
	if now > b.last {
		elapsed := uint64(min(now-b.last, stormToken)) // a second refills any bucket
		b.tokens = min(b.tokens+elapsed*b.rate, b.burst)
		b.last = now
	}
	if b.tokens < stormToken {
		return false
	}
	b.tokens -= stormToken
	return true
}

// stormKind says which kind of flood a frame to dst is.
func stormKind(dst []byte) int {
	switch {
	case dst[0]&1 == 0:
		return stormUnknownUnicast
	case dst[0]&dst[1]&dst[2]&dst[3]&dst[4]&dst[5] == 0xff:
		return stormBroadcast
	}
	return stormMulticast
}

// SetStorm sets the storm-control limits of the named port; zero limits
// lift them. Its buckets start full.
func (b *Bridge) SetStorm(name string, l StormLimits) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.ports.Load().list {
		if q.info.Name != name {
			continue
		}
		if l == (StormLimits{}) {
			q.storm.Store(nil)
			return nil
		}
		q.storm.Store(&stormBuckets{
			stormBroadcast:      newStormBucket(l.Broadcast),
			stormMulticast:      newStormBucket(l.Multicast),
			stormUnknownUnicast: newStormBucket(l.UnknownUnicast),
		})
		return nil
	}
	return fmt.Errorf("bridge %s: set storm control of %s: %w", b.name, name, ErrNoPort)
}

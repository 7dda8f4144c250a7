package bpf

import (
	"errors"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/fdb"
)

func fdbKey(bridge uint32, k fdb.Key) xswitchFdbKey {
	key := xswitchFdbKey{Bridge: bridge, Vid: k.VID()}
	for i := range 6 {
		key.Mac[i] = byte(uint64(k) >> (40 - 8*i))
	}
	return key
}

func (k xswitchFdbKey) fdbKey() fdb.Key { return fdb.MakeKey(k.Vid, k.Mac[:]) }

// ktime returns the kernel's bpf_ktime_get_ns clock (CLOCK_MONOTONIC).
func ktime() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// clockOffset measures fdb.Now minus the kernel clock; both tick at the same
// rate, so the offset is constant.
func clockOffset() int64 {
	best := int64(time.Hour)
	var off int64
	for range 5 {
		a := fdb.Now()
		k := ktime()
		b := fdb.Now()
		if b-a < best {
			best, off = b-a, (a+b)/2-k
		}
	}
	return off
}

// PutFDB points a MAC entry at a port, last seen at seen (on the fdb.Now
// clock). An entry already on that port keeps the kernel's time if it is
// newer.
func (fp *FastPath) PutFDB(bridge uint32, k fdb.Key, ifindex int, static bool, seen int64) error {
	key := fdbKey(bridge, k)
	v := xswitchFdbEntry{Ifindex: uint32(ifindex), Seen: uint64(max(seen-fp.offset, 1))}
	var old xswitchFdbEntry
	had := fp.objs.XsFdb.Lookup(key, &old) == nil
	if had && old.Ifindex == v.Ifindex && old.Seen > v.Seen {
		v.Seen = old.Seen
	}
	if static {
		v.Flags = fdbStatic
	}
	if err := fp.objs.XsFdb.Update(key, v, ebpf.UpdateAny); err != nil {
		return err
	}
	if had && old.Flags&fdbStatic == 0 {
		fp.addUserMACs(old.Ifindex, -1)
	}
	if !static {
		fp.addUserMACs(v.Ifindex, 1)
	}
	return nil
}

// DeleteFDB removes a MAC entry; a missing one is not an error.
func (fp *FastPath) DeleteFDB(bridge uint32, k fdb.Key) error {
	key := fdbKey(bridge, k)
	var old xswitchFdbEntry
	if fp.objs.XsFdb.Lookup(key, &old) != nil {
		return nil
	}
	err := fp.objs.XsFdb.Delete(key)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	if err == nil && old.Flags&fdbStatic == 0 {
		fp.addUserMACs(old.Ifindex, -1)
	}
	return err
}

// LastSeen returns when the fast path last forwarded a frame from the MAC,
// on the fdb.Now clock: the hook of fdb.Config.LastSeen.
func (fp *FastPath) LastSeen(bridge uint32, k fdb.Key) (int64, bool) {
	var v xswitchFdbEntry
	if err := fp.objs.XsFdb.Lookup(fdbKey(bridge, k), &v); err != nil || v.Seen == 0 {
		return 0, false
	}
	return int64(v.Seen) + fp.offset, true
}

// FDBEntry is an entry of the fast path's MAC map.
type FDBEntry struct {
	Bridge  uint32
	Key     fdb.Key
	Ifindex int
	Seen    int64 // on the fdb.Now clock
	Static  bool
}

// FDB returns the entries of the MAC map: after a restart, the daemon warms
// its tables from them.
func (fp *FastPath) FDB() []FDBEntry {
	var (
		k   xswitchFdbKey
		v   xswitchFdbEntry
		out []FDBEntry
	)
	it := fp.objs.XsFdb.Iterate()
	for it.Next(&k, &v) {
		out = append(out, FDBEntry{
			Bridge:  k.Bridge,
			Key:     k.fdbKey(),
			Ifindex: int(v.Ifindex),
			Seen:    int64(v.Seen) + fp.offset,
			Static:  v.Flags&fdbStatic != 0,
		})
	}
	return out
}

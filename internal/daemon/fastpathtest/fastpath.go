// Package fastpathtest provides an in-memory eBPF fast path, so the daemon's
// decisions (attach, detach, the MAC map's mirror, adoption after a restart)
// can be tested without root.
package fastpathtest

import (
	"fmt"
	"sort"
	"sync"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// FastPath records what the daemon asks of it and keeps a MAC map.
type FastPath struct {
	// Refuse, if set, is AttachPort's error for the ports it names.
	Refuse map[string]error
	// AutoXDP has AttachPort grant xdp to a port that asks for auto; it
	// grants tc otherwise. An AF_XDP port gets xdp, or off if it asked for
	// off.
	AutoXDP bool

	mu       sync.Mutex
	calls    []string                  // what was asked, in order; under mu
	attached map[int]bpf.Port          // by ifindex; under mu
	fdb      map[entryKey]bpf.FDBEntry // the MAC map; under mu
	xsk      map[uint32]int            // registered sockets: key → fd; under mu
	nextXSK  uint32                    // the next key ReserveXSK hands out; under mu
	drops    map[int]map[string]uint64 // by ifindex: what Stats reports as drops; under mu
}

type entryKey struct {
	bridge uint32
	key    fdb.Key
}

// New returns a fast path with an empty MAC map that grants every port.
func New() *FastPath {
	return &FastPath{Refuse: map[string]error{}, attached: map[int]bpf.Port{}, fdb: map[entryKey]bpf.FDBEntry{}, xsk: map[uint32]int{}, drops: map[int]map[string]uint64{}}
}

func (f *FastPath) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Calls returns what was asked so far, e.g. "attach vif1.0 tc",
// "detach vif1.0", "release 0+2", "sweep", "refresh vif1.0 mtu 9000",
// "policy vif1.0 access 10 isolated".
// MAC map writes are not in it: see FDB.
func (f *FastPath) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Attached returns the ports in the fast path by ifindex.
func (f *FastPath) Attached() map[int]bpf.Port {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int]bpf.Port{}
	for k, v := range f.attached {
		out[k] = v
	}
	return out
}

// Registered returns the AF_XDP sockets registered: key → fd.
func (f *FastPath) Registered() map[uint32]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[uint32]int{}
	for k, v := range f.xsk {
		out[k] = v
	}
	return out
}

// Seed puts entries in the MAC map, as an earlier run left it.
func (f *FastPath) Seed(entries ...bpf.FDBEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range entries {
		f.fdb[entryKey{e.Bridge, e.Key}] = e
	}
}

// AttachPort grants the port the mode it asks for, auto resolving as Auto
// says, unless Refuse names it.
func (f *FastPath) AttachPort(p bpf.Port) (bpf.Mode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Refuse[p.Name]; err != nil {
		f.record("refuse %s", p.Name)
		return "", err
	}
	mode := p.Mode
	switch {
	case p.XSK && mode != bpf.ModeOff:
		mode = bpf.ModeXDP
	case mode == bpf.ModeAuto && f.AutoXDP:
		mode = bpf.ModeXDP
	case mode == bpf.ModeAuto:
		mode = bpf.ModeTC
	}
	f.attached[p.Index] = p
	f.record("attach %s %s", p.Name, mode)
	return mode, nil
}

// DetachPort implements daemon.FastPath.
func (f *FastPath) DetachPort(ifindex int, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attached, ifindex)
	f.record("detach %s", name)
}

// Refresh implements daemon.FastPath.
func (f *FastPath) Refresh(p bpf.Port) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("refresh %s mtu %d", p.Name, p.MTU)
	return nil
}

// SetPolicy records the new policy of an attached port, e.g. "policy
// vif1.0 access 10 isolated antispoof"; Attached shows it.
func (f *FastPath) SetPolicy(ifindex int, p policy.Policy) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	port, ok := f.attached[ifindex]
	if !ok {
		return fmt.Errorf("ifindex %d: not in the fast path", ifindex)
	}
	port.Policy = p
	f.attached[ifindex] = port
	f.record("policy %s", PolicyString(port.Name, p))
	return nil
}

// PolicyString is how Calls shows a port's policy: "vif1.0 access 10
// isolated antispoof".
func PolicyString(name string, p policy.Policy) string {
	s := name + " " + p.VLAN.String()
	if p.Isolated {
		s += " isolated"
	}
	if p.AntiSpoof {
		s += " antispoof"
	}
	return s
}

// SetDrops sets the drops Stats reports for a port.
func (f *FastPath) SetDrops(ifindex int, drops map[string]uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drops[ifindex] = drops
}

// Stats returns the counters of an attached port: zero, but for the drops
// SetDrops set.
func (f *FastPath) Stats(ifindex int) (bpf.PortStats, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.attached[ifindex]
	return bpf.PortStats{Drops: f.drops[ifindex]}, ok
}

// Sweep implements daemon.FastPath.
func (f *FastPath) Sweep() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("sweep")
}

// ReserveXSK hands out keys from 0 on, never twice.
func (f *FastPath) ReserveXSK(n int) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	base := f.nextXSK
	f.nextXSK += uint32(n)
	f.record("reserve %d+%d", base, n)
	return base, nil
}

// RegisterXSK implements daemon.FastPath.
func (f *FastPath) RegisterXSK(key uint32, fd int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.xsk[key] = fd
	return nil
}

// ReleaseXSK implements daemon.FastPath.
func (f *FastPath) ReleaseXSK(base uint32, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := base; k < base+uint32(n); k++ {
		delete(f.xsk, k)
	}
	f.record("release %d+%d", base, n)
}

// PutFDB implements daemon.FastPath.
func (f *FastPath) PutFDB(bridge uint32, k fdb.Key, ifindex int, static bool, seen int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fdb[entryKey{bridge, k}] = bpf.FDBEntry{Bridge: bridge, Key: k, Ifindex: ifindex, Static: static, Seen: seen}
	return nil
}

// DeleteFDB implements daemon.FastPath.
func (f *FastPath) DeleteFDB(bridge uint32, k fdb.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.fdb, entryKey{bridge, k})
	return nil
}

// LastSeen implements daemon.FastPath.
func (f *FastPath) LastSeen(bridge uint32, k fdb.Key) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.fdb[entryKey{bridge, k}]
	return e.Seen, ok
}

// FDB returns the MAC map, sorted by bridge and key.
func (f *FastPath) FDB() []bpf.FDBEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]bpf.FDBEntry, 0, len(f.fdb))
	for _, e := range f.fdb {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bridge != out[j].Bridge {
			return out[i].Bridge < out[j].Bridge
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// Close implements daemon.FastPath.
func (f *FastPath) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("close")
	return nil
}

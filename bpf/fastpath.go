// Package bpf is xswitch's eBPF fast path: the programs of xswitch.c (built
// by bpf2go, committed), and the loader that attaches them to ports, keeps
// their maps in step with the userspace MAC tables and pins everything under
// a bpffs directory so that learned unicast keeps flowing while the daemon
// restarts.
package bpf

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xswitch/xswitch/policy"
)

// DefaultPinDir is where the daemon pins its maps and links.
const DefaultPinDir = "/sys/fs/bpf/xswitch"

// BridgeID is the number a bridge has in the maps: a hash of its name, so it
// is the same after a restart whatever the order of the configuration.
func BridgeID(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	if id := h.Sum32(); id != 0 {
		return id
	}
	return 1
}

// version identifies the compiled programs and the layout of their maps;
// pins made by another build are replaced.
func version() uint64 {
	h := fnv.New64a()
	h.Write(_XswitchBytes)
	return h.Sum64()
}

// Options configure Load.
type Options struct {
	// PinDir is the bpffs directory of the pinned maps and links. Empty:
	// nothing is pinned, and everything goes when the FastPath is closed.
	PinDir string
	// TCHook says how TC programs are attached; "" means TCHookAuto.
	TCHook TCHook
	Log    *slog.Logger
}

// FastPath is the loaded programs and maps, and the ports attached to them.
type FastPath struct {
	objs   xswitchObjects
	pinDir string
	tcHook TCHook
	log    *slog.Logger
	offset int64 // fdb clock minus kernel clock

	mu      sync.Mutex
	ports   map[int]*portLinks // by ifindex
	xskUsed []bool             // keys of xs_xsks reserved by ReserveXSK
	// policyKeys are the xs_vlans and xs_allowed entries of each ifindex:
	// every entry of those maps is here.
	policyKeys map[uint32]policyKeys
	// blocked are the ifindexes SetBlocked blocked: every entry putPort
	// writes for one of them has PORT_BLOCKED, attached again or not.
	blocked map[int]bool
	// storms are the limits SetStorm gave each ifindex, which putPort
	// writes to xs_storm.
	storms map[int]StormLimits

	// flood is what the flood lists are made of (floodmap.go).
	flood floodState

	// macsMu guards userMACs, the loader's half of each port's count of
	// dynamic MACs as written to xs_macs_user (macs.go).
	macsMu   sync.Mutex
	userMACs map[uint32]int64
}

// portLinks are the attachments of one port.
type portLinks struct {
	name      string
	xdp       link.Link
	tc        link.Link // nil with clsact
	clsact    bool      // the TC program is a clsact filter
	xsk       bool      // an AF_XDP port: XDP alone
	xskBase   uint32    // its first key in xs_xsks
	xskQueues int       // and how many
	off       bool      // an AF_XDP port whose fast path is off
	capture   bool      // its frames are copied for a capture (SetCapture)
	mirror    PortMirror
	policy    policy.Policy
	maxMACs   int // Port.MaxMACs
}

// Load loads the programs and their maps. With a PinDir it mounts bpffs on
// /sys/fs/bpf if nothing is mounted there, adopts the maps pinned by an
// earlier run of the same build, and replaces those of another build.
func Load(opts Options) (*FastPath, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	// Kernels before 5.11 charge BPF maps against RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("fast path: %w", err)
	}
	fp := &FastPath{pinDir: opts.PinDir, tcHook: opts.TCHook, log: log, ports: map[int]*portLinks{}, blocked: map[int]bool{}, storms: map[int]StormLimits{}, userMACs: map[uint32]int64{},
		flood: floodState{ports: map[uint32][]int{}, entries: map[uint32]xswitchPort{}, on: map[uint32]bool{}}}
	if fp.tcHook == "" {
		fp.tcHook = TCHookAuto
	}
	spec, err := loadXswitch()
	if err != nil {
		return nil, fmt.Errorf("fast path: %w", err)
	}
	var copts ebpf.CollectionOptions
	pinned := pinnedMaps(spec)
	if fp.pinDir != "" {
		if err := ensureBPFFS(fp.pinDir); err != nil {
			return nil, err
		}
		if stale, why := fp.stalePins(pinned); stale {
			log.Warn("replacing fast-path maps pinned by another build", "dir", fp.pinDir, "why", why)
			fp.removeMapPins(pinned)
		}
		copts.Maps.PinPath = fp.pinDir
	} else {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	}
	err = spec.LoadAndAssign(&fp.objs, &copts)
	if errors.Is(err, ebpf.ErrMapIncompatible) && fp.pinDir != "" {
		log.Warn("replacing incompatible fast-path maps", "dir", fp.pinDir, "err", err)
		fp.removeMapPins(pinned)
		err = spec.LoadAndAssign(&fp.objs, &copts)
	}
	if err != nil {
		return nil, fmt.Errorf("fast path: load programs: %w", verifierDetail(err))
	}
	if err := fp.objs.XsMeta.Update(uint32(0), xswitchMeta{Version: version()}, ebpf.UpdateAny); err != nil {
		fp.objs.Close()
		return nil, fmt.Errorf("fast path: write version: %w", err)
	}
	fp.readPolicyKeys()
	fp.clearFloods()
	fp.offset = clockOffset()
	return fp, nil
}

// verifierDetail adds the verifier's log to a load error.
func verifierDetail(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("%+v", ve)
	}
	return err
}

// Close releases the loader's handles. Pinned maps and links stay: the fast
// path keeps forwarding learned unicast until a daemon adopts it again or
// Cleanup removes it. Without a pin directory everything is detached.
func (fp *FastPath) Close() error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for idx, pl := range fp.ports {
		pl.close()
		if pl.clsact && fp.pinDir == "" {
			detachClsact("", idx) // nothing pinned: nothing may stay
		}
		delete(fp.ports, idx)
	}
	return fp.objs.Close()
}

func (pl *portLinks) close() {
	if pl.xdp != nil {
		pl.xdp.Close()
	}
	if pl.tc != nil {
		pl.tc.Close()
	}
}

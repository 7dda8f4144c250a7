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
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// DefaultPinDir is where the daemon pins its maps and links.
const DefaultPinDir = "/sys/fs/bpf/xswitch"

// Mode says how a port takes part in the fast path.
type Mode string

// The port modes.
const (
	ModeAuto Mode = "auto" // native XDP where the driver has it, TC otherwise
	ModeXDP  Mode = "xdp"  // native XDP (and TC for what XDP cannot redirect)
	ModeTC   Mode = "tc"   // TC ingress only
	ModeOff  Mode = "off"  // no fast path: userspace forwards every frame
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeXDP, ModeTC, ModeOff:
		return m, nil
	case "":
		return ModeAuto, nil
	}
	return "", fmt.Errorf("unknown fast path mode %q (want auto, xdp, tc or off)", s)
}

// PuntReasons name the reasons a frame is punted to userspace, indexed like
// PortStats.Punts (enum punt_reason in xswitch.c).
var PuntReasons = [...]string{
	"unknown_source",
	"moved_source",
	"flood",
	"unknown_destination",
	"local_destination",
	"egress_not_fastpath",
	"mtu",
	"unparsed",
	"xdp_limit",
}

// Flags of the maps' entries (PORT_* and FDB_* in xswitch.c).
const (
	portXDPTx  = 1
	portPeer   = 2
	portXSK    = 4
	portNoFast = 8
	fdbStatic  = 1
)

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
	fp := &FastPath{pinDir: opts.PinDir, tcHook: opts.TCHook, log: log, ports: map[int]*portLinks{}}
	if fp.tcHook == "" {
		fp.tcHook = TCHookAuto
	}
	spec, err := loadXswitch()
	if err != nil {
		return nil, fmt.Errorf("fast path: %w", err)
	}
	var copts ebpf.CollectionOptions
	if fp.pinDir != "" {
		if err := ensureBPFFS(fp.pinDir); err != nil {
			return nil, err
		}
		if stale, why := fp.stalePins(); stale {
			log.Warn("replacing fast-path maps pinned by another build", "dir", fp.pinDir, "why", why)
			fp.removeMapPins()
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
		fp.removeMapPins()
		err = spec.LoadAndAssign(&fp.objs, &copts)
	}
	if err != nil {
		return nil, fmt.Errorf("fast path: load programs: %w", verifierDetail(err))
	}
	if err := fp.objs.XsMeta.Update(uint32(0), xswitchMeta{Version: version()}, ebpf.UpdateAny); err != nil {
		fp.objs.Close()
		return nil, fmt.Errorf("fast path: write version: %w", err)
	}
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

// bpffsMagic is BPF_FS_MAGIC.
const bpffsMagic = 0xcafe4a11

// ensureBPFFS makes sure dir is a directory on a bpffs, mounting one on
// /sys/fs/bpf when dir is under it and nothing is mounted there.
func ensureBPFFS(dir string) error {
	parent := filepath.Dir(dir)
	var st unix.Statfs_t
	if err := unix.Statfs(parent, &st); err != nil {
		return fmt.Errorf("fast path: pin directory %s: %w", dir, err)
	}
	if st.Type != bpffsMagic {
		if parent != "/sys/fs/bpf" {
			return fmt.Errorf("fast path: pin directory %s: %s is not a bpf filesystem", dir, parent)
		}
		if err := unix.Mount("bpf", parent, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("fast path: mount bpffs on %s: %w", parent, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("fast path: pin directory: %w", err)
	}
	return nil
}

// stalePins reports whether the pinned maps come from another build.
func (fp *FastPath) stalePins() (bool, string) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(fp.pinDir, "xs_meta"), nil)
	if errors.Is(err, os.ErrNotExist) {
		if fp.hasMapPins() {
			return true, "no version map"
		}
		return false, ""
	}
	if err != nil {
		return true, err.Error()
	}
	defer m.Close()
	var meta xswitchMeta
	if err := m.Lookup(uint32(0), &meta); err != nil {
		return true, err.Error()
	}
	if meta.Version != version() {
		return true, fmt.Sprintf("version %016x, this build is %016x", meta.Version, version())
	}
	return false, ""
}

// mapNames are the pinned maps, as named in xswitch.c.
var mapNames = []string{"xs_fdb", "xs_ports", "xs_tx_ports", "xs_stats", "xs_meta"}

func (fp *FastPath) hasMapPins() bool {
	for _, n := range mapNames {
		if _, err := os.Stat(filepath.Join(fp.pinDir, n)); err == nil {
			return true
		}
	}
	return false
}

// removeMapPins unpins the maps; programs still attached keep theirs until
// they are replaced.
func (fp *FastPath) removeMapPins() {
	for _, n := range mapNames {
		os.Remove(filepath.Join(fp.pinDir, n))
	}
}

// PuntEtherType is the ethertype of the header the TC program puts in the
// frames it punts (PUNT_ETHERTYPE in xswitch.c): a fast-path port's socket
// binds to it (see afpacket.Config.PuntEtherType).
const PuntEtherType = 0x88b6

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

// Cleanup detaches every link pinned in dir, removes the clsact filters
// whose programs are pinned there (on the interfaces of the calling thread's
// network namespace), and removes the pins and the directory: the
// documented clean stop, run when no daemon uses dir.
func Cleanup(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fast path cleanup: %w", err)
	}
	var errs []error
	for path, ifname := range clsactPins(dir) {
		detachClsact(path, ifindexOf(ifname))
	}
	entries, err = os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("fast path cleanup: %w", err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if l, err := link.LoadPinnedLink(path, nil); err == nil {
			if err := l.Unpin(); err != nil {
				errs = append(errs, err)
			}
			l.Close() // the last reference: the program is detached
			continue
		}
		if err := os.Remove(path); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

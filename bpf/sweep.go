package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sweep removes what an earlier run left for interfaces that are not
// attached now: map entries of other ifindexes and pinned links of other
// names. The daemon calls it once its first look at the links is done.
func (fp *FastPath) Sweep() {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.sweepMaps()
	if fp.pinDir != "" {
		fp.sweepPins()
	}
}

// sweepMaps removes the map entries of ports not attached now.
func (fp *FastPath) sweepMaps() {
	var (
		idx  uint32
		port xswitchPort
		dead []uint32
	)
	it := fp.objs.XsPorts.Iterate()
	for it.Next(&idx, &port) {
		if _, ok := fp.ports[int(idx)]; !ok {
			dead = append(dead, idx)
		}
	}
	for _, idx := range dead {
		fp.log.Info("removing fast-path state of a port that is gone", "ifindex", idx)
		fp.deletePort(int(idx))
	}
	for idx := range fp.policyKeys {
		if _, ok := fp.ports[int(idx)]; !ok {
			fp.deletePolicy(idx)
		}
	}
	fp.recountMACs()
}

// sweepPins detaches and unpins the links and clsact filters pinned for
// interfaces that are not attached now.
func (fp *FastPath) sweepPins() {
	names := map[string]bool{}
	for _, pl := range fp.ports {
		names[pinName(pl.name, "tc")] = true
		names[pinName(pl.name, "clsact")] = true
		if pl.xdp != nil {
			names[pinName(pl.name, "xdp")] = true
		}
	}
	for path, ifname := range clsactPins(fp.pinDir) {
		if !names[filepath.Base(path)] {
			fp.log.Info("removing the clsact filter of an interface that is not a port", "port", ifname)
			detachClsact(path, ifindexOf(ifname))
		}
	}
	entries, _ := os.ReadDir(fp.pinDir)
	for _, e := range entries {
		n := e.Name()
		if (strings.HasPrefix(n, "tc_") || strings.HasPrefix(n, "xdp_")) && !names[n] {
			fp.log.Info("removing a pinned link of an interface that is not a port", "pin", n)
			removePin(filepath.Join(fp.pinDir, n))
		}
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
		if err := removePin(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

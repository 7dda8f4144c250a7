package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Pins under the pin directory keep the maps and the ports' links alive
// while no daemon runs. Maps are pinned by the programs' own names; a
// port's link by pinName.

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

// stalePins reports whether the pinned maps, named maps, come from another
// build.
func (fp *FastPath) stalePins(maps []string) (bool, string) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(fp.pinDir, xswitchMapXsMeta), nil)
	if errors.Is(err, os.ErrNotExist) {
		if fp.hasMapPins(maps) {
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

// pinnedMaps names the maps the programs pin by name.
func pinnedMaps(spec *ebpf.CollectionSpec) []string {
	var names []string
	for name, m := range spec.Maps {
		if m.Pinning == ebpf.PinByName {
			names = append(names, name)
		}
	}
	return names
}

func (fp *FastPath) hasMapPins(maps []string) bool {
	for _, n := range maps {
		if _, err := os.Stat(filepath.Join(fp.pinDir, n)); err == nil {
			return true
		}
	}
	return false
}

// removeMapPins unpins the maps; programs still attached keep theirs until
// they are replaced.
func (fp *FastPath) removeMapPins(maps []string) {
	for _, n := range maps {
		os.Remove(filepath.Join(fp.pinDir, n))
	}
}

// linkPin is the path of the pin of a port's link of kind (xdp, tc,
// clsact); "" without a pin directory.
func (fp *FastPath) linkPin(name, kind string) string {
	if fp.pinDir == "" {
		return ""
	}
	return filepath.Join(fp.pinDir, pinName(name, kind))
}

// pinName names the pin of a port's link. bpffs refuses names with a dot,
// which vif names have; ':' is never in an interface name.
func pinName(ifname, kind string) string {
	return kind + "_" + strings.ReplaceAll(ifname, ".", ":")
}

// adopt returns the link pinned for name and kind if it is still attached
// to ifindex, with its program replaced by prog. A pin of a link that is
// defunct or attached elsewhere is removed.
func (fp *FastPath) adopt(name, kind string, ifindex int, prog *ebpf.Program) link.Link {
	path := fp.linkPin(name, kind)
	if path == "" {
		return nil
	}
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			os.Remove(path)
		}
		return nil
	}
	info, err := l.Info()
	var at uint32
	if err == nil {
		if x := info.XDP(); x != nil {
			at = x.Ifindex
		}
		if t := info.TCX(); t != nil {
			at = t.Ifindex
		}
	}
	if at != uint32(ifindex) || l.Update(prog) != nil {
		l.Unpin()
		l.Close()
		return nil
	}
	fp.log.Info("adopted the pinned fast path of a port", "port", name, "hook", kind)
	return l
}

// pin pins a new link of a port, replacing what is pinned there.
func (fp *FastPath) pin(l link.Link, name, kind string) (link.Link, error) {
	path := fp.linkPin(name, kind)
	if path == "" {
		return l, nil
	}
	os.Remove(path) // a pin that adopt could not use
	if err := l.Pin(path); err != nil {
		l.Close()
		return nil, fmt.Errorf("pin %s: %w", path, err)
	}
	return l, nil
}

// unpinLink detaches and unpins the pinned link of name and kind, if any.
func (fp *FastPath) unpinLink(name, kind string) {
	path := fp.linkPin(name, kind)
	if path == "" {
		return
	}
	removePin(path)
}

// removePin removes the pin at path; a pinned link loses its last reference
// and is detached.
func removePin(path string) error {
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		defer l.Close()
		return l.Unpin()
	}
	return os.Remove(path)
}

func (fp *FastPath) unpinLinks(name string) {
	fp.unpinLink(name, "xdp")
	fp.unpinLink(name, "tc")
}

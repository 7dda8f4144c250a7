package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TCHook says how the TC program is attached.
type TCHook string

// The TC hooks.
const (
	TCHookAuto   TCHook = "auto"   // tcx where the kernel has it (Linux 6.6), clsact otherwise
	TCHookTCX    TCHook = "tcx"    // a tcx link, pinned
	TCHookClsact TCHook = "clsact" // a direct-action filter on the clsact qdisc's ingress
)

// ParseTCHook checks a TC hook name.
func ParseTCHook(s string) (TCHook, error) {
	switch h := TCHook(s); h {
	case TCHookAuto, TCHookTCX, TCHookClsact:
		return h, nil
	case "":
		return TCHookAuto, nil
	}
	return "", fmt.Errorf("unknown TC hook %q (want auto, tcx or clsact)", s)
}

// clsactFilter is the filter xswitch puts on a port's clsact ingress: one
// fixed handle and priority, so that a restarted daemon replaces it.
func clsactFilter(ifindex int, prog *ebpf.Program) *netlink.BpfFilter {
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    netlink.MakeHandle(0, 0x7873),
			Protocol:  unix.ETH_P_ALL,
			Priority:  0x7873,
		},
		Name:         "xswitch",
		DirectAction: true,
	}
	if prog != nil {
		f.Fd = prog.FD()
	}
	return f
}

// attachClsact puts the TC program on the port's clsact ingress, adding the
// qdisc if the port has none, or replacing the filter an earlier run left
// (atomically: the port keeps forwarding). The program is pinned, so that
// Cleanup and Sweep know the port has one.
func (fp *FastPath) attachClsact(p Port) error {
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p.Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	if err := netlink.FilterReplace(clsactFilter(p.Index, fp.objs.XswitchTc)); err != nil {
		return fmt.Errorf("clsact ingress filter: %w", err)
	}
	if path := fp.linkPin(p.Name, "clsact"); path != "" {
		// Pinned through a clone: a program object remembers one pin path
		// and moves it when pinned again, and every port needs its own.
		c, err := fp.objs.XswitchTc.Clone()
		if err != nil {
			return err
		}
		defer c.Close()
		os.Remove(path)
		if err := c.Pin(path); err != nil {
			return fmt.Errorf("pin %s: %w", path, err)
		}
	}
	return nil
}

// detachClsact removes xswitch's filter from a port's clsact ingress, and
// its pin.
func detachClsact(pinPath string, ifindex int) {
	if ifindex > 0 {
		netlink.FilterDel(clsactFilter(ifindex, nil)) //nolint:errcheck // gone with the port, or never there
	}
	if pinPath != "" {
		os.Remove(pinPath)
	}
}

// clsactPins returns the interface names whose clsact filters are pinned in
// dir, by pin file name.
func clsactPins(dir string) map[string]string {
	out := map[string]string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n, ok := strings.CutPrefix(e.Name(), "clsact_"); ok {
			out[filepath.Join(dir, e.Name())] = strings.ReplaceAll(n, ":", ".")
		}
	}
	return out
}

// ifindexOf returns the index of a link by name, 0 if there is none.
func ifindexOf(name string) int {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0
	}
	return l.Attrs().Index
}

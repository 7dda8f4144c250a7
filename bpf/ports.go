package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Port describes a port to attach.
type Port struct {
	Name   string
	Index  int    // ifindex
	Bridge uint32 // BridgeID of its bridge
	MTU    int
	Mode   Mode   // requested; ModeAuto resolves to xdp or tc
	Kind   string // the link's kind ("veth", "vif", ...), as netlink reports it
	// PeerElsewhere says the port is a veth whose peer is in another
	// network namespace (a guest).
	PeerElsewhere bool
	// XSK says the port is an AF_XDP port whose sockets are registered from
	// key XSKBase on (ReserveXSK, RegisterXSK). Its mode is xdp (auto
	// means xdp) or off, where the XDP program only feeds the sockets.
	XSK       bool
	XSKBase   uint32
	XSKQueues int // keys from XSKBase on; frames from other queues go to the kernel stack
}

// ethHdrLen is the Ethernet header the MTU does not count.
const ethHdrLen = 14

// AttachPort puts a port in the fast path and returns the mode it got.
// Links pinned by an earlier run on the same interface are adopted and given
// this build's programs, so the port keeps forwarding throughout.
func (fp *FastPath) AttachPort(p Port) (Mode, error) {
	if p.Mode == ModeOff && !p.XSK {
		fp.DetachPort(p.Index, p.Name)
		return ModeOff, nil
	}
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if old, ok := fp.ports[p.Index]; ok {
		old.close()
		delete(fp.ports, p.Index)
	}
	feats, _ := xdpFeatures(p.Index) // unknown features: no XDP target, no native XDP
	pl := &portLinks{name: p.Name, xsk: p.XSK, xskBase: p.XSKBase, xskQueues: p.XSKQueues, off: p.Mode == ModeOff}
	if p.XSK {
		return fp.attachXSKPort(p, feats, pl)
	}
	if err := fp.putPort(p, feats, false); err != nil {
		return "", err
	}
	fail := func(op string, err error) (Mode, error) {
		pl.close()
		fp.unpinLinks(p.Name)
		if pl.clsact {
			detachClsact(fp.linkPin(p.Name, "clsact"), p.Index)
		}
		fp.deletePort(p.Index)
		return "", fmt.Errorf("%s: fast path: %s: %w", p.Name, op, err)
	}
	tc, clsact, err := fp.attachTC(p)
	if err != nil {
		return fail("attach TC ingress", err)
	}
	pl.tc, pl.clsact = tc, clsact
	// XDP cannot see a VLAN tag the NIC strips into metadata
	// (rx-vlan-offload); TC can. Unknown counts as stripping.
	strips, err := rxVLANOffload(p.Name)
	strips = strips || err != nil
	mode := p.Mode
	if mode == ModeAuto {
		// Native XDP where the driver has it, but not on a veth (its
		// peer loses TSO as soon as the veth has an XDP program, frags
		// or not, which would cost a guest its super-frames) nor where
		// tags would be hidden from it.
		mode = ModeTC
		if feats&xdpActBasic != 0 && p.Kind != "veth" && !strips {
			mode = ModeXDP
		}
	}
	if mode == ModeXDP && p.Kind == "veth" {
		fp.log.Warn("native XDP on a veth: the kernel turns TSO off on its peer, which then segments TCP in software", "port", p.Name)
	}
	if mode == ModeXDP && strips {
		fp.log.Warn("native XDP with rx-vlan-offload on: XDP sees tags the device strips as untagged frames (VLAN 0); turn the offload off (ethtool -K DEV rxvlan off) or use tc", "port", p.Name)
	}
	if mode == ModeXDP {
		x, err := fp.attachXDP(p)
		switch {
		case err == nil:
			pl.xdp = x
		case p.Mode == ModeAuto:
			fp.log.Info("native XDP refused, using TC", "port", p.Name, "err", err)
			mode = ModeTC
		default:
			return fail("attach native XDP", err)
		}
	}
	if mode == ModeTC {
		fp.unpinLink(p.Name, "xdp")
	}
	fp.ports[p.Index] = pl
	return mode, nil
}

// putPort writes the port's entries in the ports, devmap and stats maps.
func (fp *FastPath) putPort(p Port, feats uint64, noFast bool) error {
	v := xswitchPort{Bridge: p.Bridge, MaxLen: uint32(p.MTU + ethHdrLen)}
	if p.Kind == "veth" && p.PeerElsewhere {
		v.Flags |= portPeer
	}
	if p.XSK {
		v.Flags |= portXSK
		v.XskBase = p.XSKBase
		v.XskQueues = uint32(p.XSKQueues)
	}
	if noFast {
		v.Flags |= portNoFast
	}
	if feats&xdpActNDOXmit != 0 {
		// The devmap refuses devices that cannot take XDP frames; then the
		// port is simply no XDP target.
		if err := fp.objs.XsTxPorts.Update(uint32(p.Index), uint32(p.Index), ebpf.UpdateAny); err == nil {
			v.Flags |= portXDPTx
		}
	} else {
		fp.objs.XsTxPorts.Delete(uint32(p.Index))
	}
	// Keep the counters of an adopted port; start others at zero.
	zero := make([]xswitchPortStats, ebpf.MustPossibleCPU())
	if err := fp.objs.XsStats.Update(uint32(p.Index), zero, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("%s: fast path: stats entry: %w", p.Name, err)
	}
	if err := fp.objs.XsPorts.Update(uint32(p.Index), v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("%s: fast path: port entry: %w", p.Name, err)
	}
	return nil
}

// Refresh rereads what the maps know about an attached port that may have
// changed: its MTU and whether it accepts XDP frames (a veth does once its
// peer has GRO on or an XDP program).
func (fp *FastPath) Refresh(p Port) error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	pl, ok := fp.ports[p.Index]
	if !ok {
		return nil
	}
	feats, _ := xdpFeatures(p.Index)
	p.XSK, p.XSKBase, p.XSKQueues = pl.xsk, pl.xskBase, pl.xskQueues
	return fp.putPort(p, feats, pl.off)
}

// deletePort removes the port's entries, and every MAC entry that points at
// it, so the programs never redirect to it again.
func (fp *FastPath) deletePort(ifindex int) {
	idx := uint32(ifindex)
	fp.objs.XsPorts.Delete(idx)
	fp.objs.XsTxPorts.Delete(idx)
	fp.objs.XsStats.Delete(idx)
	var (
		k    xswitchFdbKey
		v    xswitchFdbEntry
		dead []xswitchFdbKey
	)
	it := fp.objs.XsFdb.Iterate()
	for it.Next(&k, &v) {
		if v.Ifindex == idx {
			dead = append(dead, k)
		}
	}
	for _, k := range dead {
		fp.objs.XsFdb.Delete(k)
	}
}

// DetachPort takes a port out of the fast path: its map entries go first,
// then its programs are detached and their pins removed.
func (fp *FastPath) DetachPort(ifindex int, name string) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.deletePort(ifindex)
	if pl, ok := fp.ports[ifindex]; ok {
		pl.close()
		delete(fp.ports, ifindex)
	}
	fp.unpinLinks(name)
	detachClsact(fp.linkPin(name, "clsact"), ifindex)
}

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

// attachTC attaches the TC program with tcx, or with a clsact filter (then
// it returns no link and clsact true).
func (fp *FastPath) attachTC(p Port) (l link.Link, clsact bool, err error) {
	if fp.tcHook != TCHookClsact {
		if l := fp.adopt(p.Name, "tc", p.Index, fp.objs.XswitchTc); l != nil {
			detachClsact(fp.linkPin(p.Name, "clsact"), p.Index) // from a run with another hook
			return l, false, nil
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: p.Index, Program: fp.objs.XswitchTc, Attach: ebpf.AttachTCXIngress})
		if err == nil {
			detachClsact(fp.linkPin(p.Name, "clsact"), p.Index)
			l, err = fp.pin(l, p.Name, "tc")
			return l, false, err
		}
		if fp.tcHook == TCHookTCX || !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, false, err
		}
		fp.log.Info("the kernel has no tcx: attaching TC programs to clsact", "port", p.Name)
	}
	fp.unpinLink(p.Name, "tc") // from a run with another hook
	return nil, true, fp.attachClsact(p)
}

func (fp *FastPath) attachXDP(p Port) (link.Link, error) {
	return fp.attachXDPMode(p, link.XDPDriverMode)
}

func (fp *FastPath) attachXDPMode(p Port, mode link.XDPAttachFlags) (link.Link, error) {
	if l := fp.adopt(p.Name, "xdp", p.Index, fp.objs.XswitchXdp); l != nil {
		return l, nil
	}
	l, err := link.AttachXDP(link.XDPOptions{Interface: p.Index, Program: fp.objs.XswitchXdp, Flags: mode})
	if err != nil {
		return nil, err
	}
	return fp.pin(l, p.Name, "xdp")
}

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
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		l.Unpin()
		l.Close()
		return
	}
	os.Remove(path)
}

func (fp *FastPath) unpinLinks(name string) {
	fp.unpinLink(name, "xdp")
	fp.unpinLink(name, "tc")
}

// Sweep removes what an earlier run left for interfaces that are not
// attached now: map entries of other ifindexes and pinned links of other
// names. The daemon calls it once its first look at the links is done.
func (fp *FastPath) Sweep() {
	fp.mu.Lock()
	defer fp.mu.Unlock()
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
	if fp.pinDir == "" {
		return
	}
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
			if l, err := link.LoadPinnedLink(filepath.Join(fp.pinDir, n), nil); err == nil {
				l.Unpin()
				l.Close()
			} else {
				os.Remove(filepath.Join(fp.pinDir, n))
			}
		}
	}
}

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xswitch/xswitch/policy"
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
	// Policy is the port's VLANs, isolation and anti-spoofing, enforced by
	// the programs on its ingress and by every redirect to it.
	Policy policy.Policy
	// MaxMACs is the most dynamic MACs the programs learn on the port (its
	// bridge's fdb.Config.MaxPerPort); 0: no limit.
	MaxMACs int
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
	var kept *portLinks // a port attached again keeps its capture and mirrors
	if old, ok := fp.ports[p.Index]; ok {
		old.close()
		kept = old
		delete(fp.ports, p.Index)
	}
	feats, _ := xdpFeatures(p.Index) // unknown features: no XDP target, no native XDP
	pl := &portLinks{name: p.Name, xsk: p.XSK, xskBase: p.XSKBase, xskQueues: p.XSKQueues, off: p.Mode == ModeOff, policy: p.Policy, maxMACs: p.MaxMACs}
	if kept != nil {
		pl.capture, pl.mirror = kept.capture, kept.mirror
	}
	if p.XSK {
		return fp.attachXSKPort(p, feats, pl)
	}
	return fp.attachTCPort(p, feats, pl)
}

// attachTCPort attaches a port's TC program, and its XDP program when its
// mode resolves to xdp.
func (fp *FastPath) attachTCPort(p Port, feats uint64, pl *portLinks) (Mode, error) {
	if err := fp.putPort(p, feats, pl); err != nil {
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
	mode := fp.resolveMode(p, feats)
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

// resolveMode returns the mode a port that is not an AF_XDP port asks for,
// auto resolved, and warns about an xdp mode that will cost it.
func (fp *FastPath) resolveMode(p Port, feats uint64) Mode {
	// XDP cannot see a VLAN tag the NIC strips into metadata
	// (rx-vlan-offload); TC can. Unknown counts as stripping.
	strips, err := rxVLANOffload(p.Name)
	strips = strips || err != nil
	mode := p.Mode
	if mode == ModeAuto {
		mode = autoMode(p.Kind, feats, strips)
	}
	if mode == ModeXDP && p.Kind == "veth" {
		fp.log.Warn("native XDP on a veth: the kernel turns TSO off on its peer, which then segments TCP in software", "port", p.Name)
	}
	if mode == ModeXDP && strips {
		fp.log.Warn("native XDP with rx-vlan-offload on: XDP sees tags the device strips as untagged frames (VLAN 0); turn the offload off (ethtool -K DEV rxvlan off) or use tc", "port", p.Name)
	}
	return mode
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

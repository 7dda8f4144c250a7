package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/xswitch/xswitch/internal/topo"
)

// The dom0 figures: one TCP stream from dom0's own stack to a guest, and
// one to a host on the LAN behind the uplink, with the offloads dom0's
// interface has by default (TSO, checksum offload). dom0's address is on
// the bridge device with the kernel bridge, and on the bridge's host port
// (auto mode's eth0 of xenbr0) with xswitch.

var (
	dom0Prefix = netip.MustParsePrefix("10.77.0.100/16")
	lanPrefix  = netip.MustParsePrefix("10.77.0.254/16")
)

// dom0Topology is a built mode for the dom0 figures.
type dom0Topology struct {
	h          *topo.Host
	guest, lan *topo.Guest
	stop       func()
}

func (t *dom0Topology) close() {
	if t.stop != nil {
		t.stop()
	}
	t.h.Close()
}

// setupDom0 builds dom0 with a guest on vif1.0 and a LAN host behind
// peth0, joined by the mode, and gives dom0 its address.
func (m mode) setupDom0(ctx context.Context, xswitchd string) (_ *dom0Topology, err error) {
	h, err := topo.NewHost("bench")
	if err != nil {
		return nil, err
	}
	t := &dom0Topology{h: h}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if t.guest, err = h.AddGuest("vif1.0", topo.MAC(1), prefixA); err != nil {
		return nil, err
	}
	if t.lan, err = h.AddUplink("peth0", topo.MAC(254), lanPrefix); err != nil {
		return nil, err
	}
	if m.kind == "bridge" {
		if err := h.AddBridge("xenbr0", "vif1.0", "peth0"); err != nil {
			return nil, err
		}
		return t, h.AddAddr("xenbr0", dom0Prefix)
	}
	if m.fastPath == "xdp" {
		for _, g := range []*topo.Guest{t.guest, t.lan} {
			if out, err := g.Command(ctx, "ethtool", "-K", "eth0", "gro", "on").CombinedOutput(); err != nil {
				return nil, fmt.Errorf("ethtool -K eth0 gro on: %v: %s", err, out)
			}
		}
	}
	sock := filepath.Join(os.TempDir(), h.Name()+".sock")
	// vif1.0, peth0 and the host port's switch end.
	if t.stop, _, err = startSwitch(ctx, h, xswitchd, m, "", sock, 3); err != nil {
		return nil, err
	}
	return t, h.AddAddr("eth0", dom0Prefix)
}

// hasDom0 says whether a mode has the dom0 figures: a direct wire has no
// dom0, and dom0 is on no VLAN.
func (m mode) hasDom0() bool { return m.kind != "wire" && !m.vlan }

// dom0Modes counts the modes with dom0 figures.
func dom0Modes(ms []mode) int {
	n := 0
	for _, m := range ms {
		if m.hasDom0() {
			n++
		}
	}
	return n
}

// measureDom0 takes the dom0 figures of every mode that has them. Each
// run goes through the modes in turn, so that a change in the machine's
// load (it is shared) weighs on every mode alike. A mode that fails keeps
// the reason and is left out of the later runs; only a cancelled context
// is an error.
func measureDom0(ctx context.Context, o options, ms []mode, res *results, p *progress) error {
	for _, m := range ms {
		if m.hasDom0() {
			r := res.mode(m.name)
			r.Dom0GuestGbps, r.Dom0LANGbps = &stat{}, &stat{}
		}
	}
	for i := range o.runs {
		for _, m := range ms {
			r := res.mode(m.name)
			if !m.hasDom0() || r.Dom0Error != "" {
				continue
			}
			p.step("%s, run %d/%d: dom0 → guest and dom0 → LAN host TCP", m.name, i+1, o.runs)
			if err := measureDom0Run(ctx, o, m, r, p); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.Dom0Error = err.Error()
				p.note("%s: no dom0 figures: %v", m.name, err)
			}
		}
	}
	return nil
}

// measureDom0Run takes one run of the dom0 figures of a mode.
func measureDom0Run(ctx context.Context, o options, m mode, r *modeResult, p *progress) error {
	t, err := m.setupDom0(ctx, o.xswitchd)
	if err != nil {
		return err
	}
	defer t.close()
	toGuest, err := tcpStream(ctx, t.h.Netns, t.guest.Netns, t.guest.Addr(), o.duration)
	if err != nil {
		return fmt.Errorf("dom0 → guest: %w", err)
	}
	toLAN, err := tcpStream(ctx, t.h.Netns, t.lan.Netns, t.lan.Addr(), o.duration)
	if err != nil {
		return fmt.Errorf("dom0 → LAN host: %w", err)
	}
	r.Dom0GuestGbps.add(toGuest)
	r.Dom0LANGbps.add(toLAN)
	p.note("TCP dom0 → guest %.2f Gbit/s, dom0 → LAN host %.2f Gbit/s", toGuest, toLAN)
	return nil
}

// dom0Target is the least ratio to the kernel bridge each dom0 figure of
// an xswitch mode must reach.
const dom0Target = 0.9

// printDom0 prints the dom0 figures with their ratios to the kernel bridge
// and checks them against dom0Target.
func printDom0(w io.Writer, res *results) {
	br := res.mode(bridgeMode)
	if br == nil || !br.Available {
		br = &modeResult{}
	}
	var rows []string
	for _, m := range res.Modes {
		if m.Dom0Error != "" {
			rows = append(rows, fmt.Sprintf("%s\tfailed: %s\t\t\t\t\t", m.Mode, m.Dom0Error))
			continue
		}
		if !m.Available || m.Dom0GuestGbps == nil || len(m.Dom0GuestGbps.Runs) == 0 {
			continue
		}
		g, gr := figure(m.Dom0GuestGbps, br.Dom0GuestGbps, "%.2f")
		l, lr := figure(m.Dom0LANGbps, br.Dom0LANGbps, "%.2f")
		verdict := ""
		if fastPathMode(m.Mode) && gr != "" && lr != "" {
			verdict = "met"
			if m.Dom0GuestGbps.Median < dom0Target*br.Dom0GuestGbps.Median || m.Dom0LANGbps.Median < dom0Target*br.Dom0LANGbps.Median {
				verdict = "NOT met"
			}
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t", m.Mode, g, gr, l, lr, verdict))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\ndom0 TCP, one stream from dom0's stack (on the bridge device, or xswitch's host port), Gbit/s; target for the fast path: ≥ %.2f× the kernel bridge:\n", dom0Target)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tdom0 → guest TCP\t\tdom0 → LAN host TCP\t\ttarget\t")
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	tw.Flush()
}

// fastPathMode says whether the named mode is xswitch with its fast path,
// the modes the dom0 target is for: the userspace modes carry dom0's
// traffic through a socket, and AF_XDP sockets have no GSO.
func fastPathMode(name string) bool {
	for _, m := range modes {
		if m.name == name {
			return m.kind == "xswitch" && m.fastPath != "off"
		}
	}
	return false
}

// onlyDom0 says whether the run took the dom0 figures and no others (-dom0).
func onlyDom0(res *results) bool {
	for _, m := range res.Modes {
		if m.OneCore != nil || m.TCPGbps != nil {
			return false
		}
	}
	return len(res.Sweeps) == 0
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// The VLAN modes carry traffic from a guest on an access port of VLAN 10
// (vif1.0, untagged) to a host on the LAN behind a trunk uplink (peth0,
// VLAN 10 tagged): the switch pushes the tag on the way out and pops it on
// the way in. Their ratios are to the kernel bridge with VLAN filtering
// doing the same, where the kernel has it.

// benchVLAN is the VLAN of the VLAN modes.
const benchVLAN = 10

// bridgeVLANMode is the baseline of the VLAN modes.
const bridgeVLANMode = "kernel bridge vlan"

// errNoVLANFiltering says the kernel's bridge was built without VLAN
// filtering (CONFIG_BRIDGE_VLAN_FILTERING needs 802.1Q support).
var errNoVLANFiltering = errors.New("this kernel's bridge has no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)")

// vlanYAML is xswitchd's configuration of the VLAN modes.
var vlanYAML = fmt.Sprintf(`bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*"]
    port-settings:
      peth0: {vlan: "trunk %[1]d"}
      "vif*": {vlan: "access %[1]d"}
`, benchVLAN)

// bridgeHasVLANs says whether the kernel bridge filters VLANs, trying it
// once in a namespace of its own.
var bridgeHasVLANs = sync.OnceValue(func() error {
	h, err := topo.NewHost("probe")
	if err != nil {
		return err
	}
	defer h.Close()
	return vlanBridge(context.Background(), h.Netns, "br0")
})

// vlanBridge makes a kernel bridge with VLAN filtering and no default VLAN
// in ns: its ports are in the VLANs they are given and no other.
func vlanBridge(ctx context.Context, ns *topo.Netns, name string) error {
	out, err := ns.Command(ctx, "ip", "link", "add", name, "type", "bridge", "vlan_filtering", "1", "vlan_default_pvid", "0").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not supported") {
			return errNoVLANFiltering
		}
		return fmt.Errorf("ip link add %s type bridge vlan_filtering 1: %v: %s", name, err, out)
	}
	return nil
}

// nsRun runs commands in ns, one after the other, until one fails.
func nsRun(ctx context.Context, ns *topo.Netns, cmds ...[]string) error {
	for _, c := range cmds {
		if out, err := ns.Command(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return nil
}

// setupVLAN builds a VLAN mode's topology: guest a behind vif1.0, and b
// the LAN host behind peth0. Where the kernel bridge filters VLANs, b's
// eth0 is a trunk port of a bridge whose own interface is b's address on
// VLAN 10, so TCP and request/response run too; elsewhere b only counts
// the tagged frames its eth0 receives.
func (m mode) setupVLAN(ctx context.Context, xswitchd string, t *topology) (err error) {
	h := t.h
	if t.a, err = h.AddGuest("vif1.0", topo.MAC(1), guestAddr(1)); err != nil {
		return err
	}
	if t.b, err = h.AddUplink("peth0", topo.MAC(2), netip.Prefix{}); err != nil {
		return err
	}
	t.bTag = benchVLAN
	vid := fmt.Sprint(benchVLAN)
	switch err := vlanBridge(ctx, t.b.Netns, "br0"); {
	case err == nil:
		if err := nsRun(ctx, t.b.Netns,
			[]string{"ip", "link", "set", "eth0", "master", "br0"},
			[]string{"bridge", "vlan", "add", "dev", "eth0", "vid", vid},
			[]string{"bridge", "vlan", "add", "dev", "br0", "vid", vid, "pvid", "untagged", "self"},
			[]string{"ip", "addr", "add", guestAddr(2).String(), "dev", "br0"},
			[]string{"ip", "link", "set", "br0", "up"},
		); err != nil {
			return err
		}
		t.bAddr = guestAddr(2).Addr()
	case !errors.Is(err, errNoVLANFiltering):
		return err
	}
	if m.kind == "bridge" {
		if err := vlanBridge(ctx, h.Netns, "br0"); err != nil {
			return err
		}
		return nsRun(ctx, h.Netns,
			[]string{"ip", "link", "set", "vif1.0", "master", "br0"},
			[]string{"ip", "link", "set", "peth0", "master", "br0"},
			[]string{"bridge", "vlan", "add", "dev", "vif1.0", "vid", vid, "pvid", "untagged"},
			[]string{"bridge", "vlan", "add", "dev", "peth0", "vid", vid},
			[]string{"ip", "link", "set", "br0", "up"},
		)
	}
	return m.startXswitch(ctx, xswitchd, t, vlanYAML, 2)
}

// baselineOf returns the mode whose figures a mode's ratios are to: the
// kernel bridge, or for the xswitch VLAN modes the kernel bridge with VLAN
// filtering when it was measured.
func baselineOf(res *results, m mode) string {
	if m.vlan && m.kind == "xswitch" {
		if b := res.mode(bridgeVLANMode); b != nil && b.Available {
			return bridgeVLANMode
		}
	}
	return bridgeMode
}

// baseline returns the result a mode's ratios are to, or an empty one.
func (r *results) baseline(m *modeResult) *modeResult {
	if b := r.mode(m.Baseline); b != nil && b.Available {
		return b
	}
	return &modeResult{}
}

// printVLANNotes says what the VLAN modes' ratios are to, and why TCP was
// not measured.
func printVLANNotes(w io.Writer, res *results) {
	for _, m := range res.Modes {
		if !m.Available || !slices.ContainsFunc(modes, func(d mode) bool { return d.name == m.Mode && d.vlan }) {
			continue
		}
		if m.Mode != bridgeVLANMode {
			fmt.Fprintf(w, "%s: guest on an access vif of VLAN %d → LAN host behind a trunk uplink; ratios to the %s\n", m.Mode, benchVLAN, m.Baseline)
		}
		if m.NoTCP != "" {
			fmt.Fprintf(w, "%s: no TCP or latency: %s\n", m.Mode, m.NoTCP)
		}
	}
}

// checkTagged sends one frame from a to b and checks that it reaches b's
// wire tagged with b's VLAN: a switch that forgot the tag would be
// measured delivering frames no LAN host takes.
func checkTagged(t *topology) error {
	c, err := t.b.Capture()
	if err != nil {
		return err
	}
	defer c.Close()
	probe := []byte("xswitch bench: VLAN probe")
	if err := t.a.Inject(topo.EtherFrame(t.b.MAC(), t.a.MAC(), 0x88b5, probe)); err != nil {
		return err
	}
	want := topo.Tag(topo.EtherFrame(t.b.MAC(), t.a.MAC(), 0x88b5, probe), 0x8100, t.bTag)
	if err := c.WaitFor(func(f []byte) bool { return bytes.Equal(f, want) }, 1, 2*time.Second); err != nil {
		return fmt.Errorf("a frame from the access port did not reach the trunk tagged %d: %w", t.bTag, err)
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// A mode is one way of joining guests: the two that exchange traffic are
// a and b; extra idle guests join the same way.
type mode struct {
	name     string
	kind     string // "wire", "bridge" or "xswitch"
	fastPath string // xswitch: off, tc or xdp
	portType string // xswitch: afpacket or afxdp
	// vlan: a is on an access port of VLAN 10 and b is a LAN host behind
	// a trunk uplink of VLAN 10 (see vlan.go).
	vlan bool
}

// modes are every forwarding mode the bench knows, in table order.
var modes = []mode{
	{name: "direct veth wire", kind: "wire"},
	{name: "kernel bridge", kind: "bridge"},
	{name: "xswitch userspace afpacket", kind: "xswitch", fastPath: "off", portType: "afpacket"},
	{name: "xswitch userspace afxdp", kind: "xswitch", fastPath: "off", portType: "afxdp"},
	{name: "xswitch fastpath xdp", kind: "xswitch", fastPath: "xdp", portType: "afpacket"},
	{name: "xswitch fastpath tc", kind: "xswitch", fastPath: "tc", portType: "afpacket"},
	{name: bridgeVLANMode, kind: "bridge", vlan: true},
	{name: "xswitch fastpath xdp vlan", kind: "xswitch", fastPath: "xdp", portType: "afpacket", vlan: true},
	{name: "xswitch fastpath tc vlan", kind: "xswitch", fastPath: "tc", portType: "afpacket", vlan: true},
}

const bridgeMode = "kernel bridge"

// topology is a built mode: a host (the dom0), the two guests that talk,
// and what to stop.
type topology struct {
	h    *topo.Host
	a, b *topo.Guest
	c    *topo.Guest // the first idle guest, if any
	// more are the idle guests after c, if any.
	more *idleGuests
	// bAddr is b's address, where TCP and request/response go; invalid
	// when b cannot take them (a VLAN mode on a kernel without VLANs).
	bAddr netip.Addr
	// bTag is the VLAN b's frames carry on its wire; 0 for none.
	bTag uint16
	pid  int    // xswitchd's, when it runs
	sock string // xswitchd's control socket
	stop func()
}

func (t *topology) close() {
	if t.stop != nil {
		t.stop()
	}
	t.h.Close()
	t.more.close()
}

// setupOpts vary a topology for the sweeps.
type setupOpts struct {
	// idle is how many more guests are attached and idle: the first, c,
	// has a namespace of its own; the others share one (see idleGuests).
	idle int
	yaml string // xswitchd configuration; "" is auto mode
}

var (
	prefixA = netip.MustParsePrefix("10.77.0.1/16")
	prefixB = netip.MustParsePrefix("10.77.0.2/16")
)

// guestAddr is the address of guest n (1-based).
func guestAddr(n int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, byte(n >> 8), byte(n)}), 16)
}

// setup builds the mode's topology.
func (m mode) setup(ctx context.Context, xswitchd string, o setupOpts) (_ *topology, err error) {
	h, err := topo.NewHost("bench")
	if err != nil {
		return nil, err
	}
	t := &topology{h: h}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if m.kind == "wire" {
		t.a, t.b, err = h.AddWire(topo.MAC(1), prefixA, topo.MAC(2), prefixB)
		t.bAddr = prefixB.Addr()
		return t, err
	}
	if m.vlan {
		return t, m.setupVLAN(ctx, xswitchd, t)
	}
	var vifs []string
	for n := 1; n <= min(3, 2+o.idle); n++ {
		g, err := h.AddGuest(fmt.Sprintf("vif%d.0", n), topo.MAC(n), guestAddr(n))
		if err != nil {
			return nil, err
		}
		switch n {
		case 1:
			t.a = g
		case 2:
			t.b = g
		case 3:
			t.c = g
		}
		vifs = append(vifs, g.Vif())
	}
	if o.idle > 1 {
		if t.more, err = addIdleGuests(ctx, h, 4, o.idle-1); err != nil {
			return nil, err
		}
		vifs = append(vifs, t.more.vifs...)
	}
	t.bAddr = t.b.Addr()
	if err := setMTU(h, t.a, t.b); err != nil {
		return nil, err
	}
	if m.kind == "bridge" {
		return t, h.AddBridge("br0", vifs...)
	}
	return t, m.startXswitch(ctx, xswitchd, t, o.yaml, len(vifs))
}

// startXswitch runs xswitchd on a built topology with the given
// configuration ("": auto mode) until t.stop, and waits for its ports.
func (m mode) startXswitch(ctx context.Context, xswitchd string, t *topology, yaml string, ports int) (err error) {
	if m.fastPath == "xdp" {
		// A veth accepts XDP frames only while its peer has GRO on (or an
		// XDP program).
		for _, g := range []*topo.Guest{t.a, t.b} {
			if out, err := g.Command(ctx, "ethtool", "-K", "eth0", "gro", "on").CombinedOutput(); err != nil {
				return fmt.Errorf("ethtool -K eth0 gro on: %v: %s", err, out)
			}
		}
	}
	t.sock = filepath.Join(os.TempDir(), t.h.Name()+".sock")
	t.stop, t.pid, err = startSwitch(ctx, t.h, xswitchd, m, yaml, t.sock, ports)
	return err
}

// startSwitch runs xswitchd in h until stop is called, and waits until it
// has attached ports ports. It returns the daemon's pid.
func startSwitch(ctx context.Context, h *topo.Host, bin string, m mode, yaml, sock string, ports int) (stop func(), pid int, err error) {
	pins := "/sys/fs/bpf/" + h.Name()
	args := []string{"--net=" + h.NSPath(), bin, "-control", sock, "-metrics", "off", "-log-level", "error",
		"-fastpath", m.fastPath, "-port-type", m.portType, "-bpf-pin-dir", pins}
	if yaml != "" {
		f := filepath.Join(os.TempDir(), h.Name()+".yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			return nil, 0, err
		}
		defer os.Remove(f) // read at start-up
		args = append(args, "-config", f)
	}
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	c := control.NewClient(sock)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		// A switch with hundreds of ports may take a minute to let go of
		// them one by one; deleting the namespace, which follows, does it at
		// once.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopWait):
			fmt.Fprintf(os.Stderr, "bench: xswitchd did not stop within %v of SIGTERM; killed\n", stopWait)
			cmd.Process.Kill()
			<-exited
		}
		os.Remove(sock)
		// The namespace's deletion detaches the fast path from its
		// interfaces; its pins are all that would outlive it.
		os.RemoveAll(pins)
	}
	deadline := time.Now().Add(5*time.Second + time.Duration(ports)*100*time.Millisecond)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var got []control.Port
		if err := askSwitch(ctx, func(ctx context.Context) error { return c.Get(ctx, "/v1/ports", nil, &got) }); err == nil && len(got) == ports {
			return stop, cmd.Process.Pid, nil // nsenter execs xswitchd
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return nil, 0, fmt.Errorf("xswitchd did not attach %d ports in time", ports)
}

// askTimeout bounds a call of the switch's control API: a switch busy
// with hundreds of ports may not answer, and the bench must go on.
const askTimeout = 10 * time.Second

// askSwitch calls the switch's control API through call, for at most
// askTimeout.
func askSwitch(ctx context.Context, call func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	return call(ctx)
}

// stopWait is how long a switch has to stop on SIGTERM.
const stopWait = 5 * time.Second

// available says why a mode cannot run here, or nil.
func (m mode) available(xswitchd string) error {
	if m.kind == "bridge" && m.vlan {
		return bridgeHasVLANs()
	}
	if m.kind != "xswitch" {
		return nil
	}
	if _, err := os.Stat(xswitchd); err != nil {
		return fmt.Errorf("no xswitchd binary (run make build): %w", err)
	}
	return nil
}

// drops sums, over xswitchd's ports, the frames dropped by reason: where
// frames were lost, if anywhere.
func (t *topology) drops(ctx context.Context) string {
	if t.pid == 0 {
		return ""
	}
	var ports []control.Port
	c := control.NewClient(t.sock)
	if err := askSwitch(ctx, func(ctx context.Context) error { return c.Get(ctx, "/v1/ports", nil, &ports) }); err != nil {
		return "(not known: " + err.Error() + ")"
	}
	sum := map[string]uint64{}
	for _, p := range ports {
		for r, n := range p.Drops {
			sum[r] += n
		}
	}
	var out []string
	for r, n := range sum {
		if n > 0 {
			out = append(out, fmt.Sprintf("%s %d", r, n))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

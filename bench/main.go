// Command bench measures how many 64-byte frames per second reach a guest
// from another guest, through each forwarding mode, in one run: a direct
// veth wire (the upper bound), the Linux bridge (what xswitch replaces) and
// xswitchd. It reports the median of several runs and the ratio of each mode
// to the kernel bridge. Needs root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

func main() {
	xswitchd := flag.String("xswitchd", "bin/xswitchd", "`path` of the xswitchd binary to measure")
	duration := flag.Duration("duration", 3*time.Second, "how long each run sends")
	runs := flag.Int("runs", 3, "runs per mode; the median is reported")
	only := flag.String("modes", "", "comma-separated `list` of modes to measure, e.g. \"kernel bridge,xswitch fastpath tc\"; empty: all")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces)")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *xswitchd, *duration, *runs, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// mode sets up one way of joining two guests and returns them.
type mode struct {
	name string
	// setup joins two guests of h; stop, if not nil, undoes what h.Close
	// does not (a process it started).
	setup func(h *topo.Host) (a, b *topo.Guest, stop func(), err error)
}

type result struct {
	mode      string
	generated []float64 // frames/s the generator sent, per run
	delivered []float64 // frames/s that reached the receiving guest, per run
}

func run(ctx context.Context, xswitchd string, d time.Duration, runs int, only string) error {
	xswitchd, err := filepath.Abs(xswitchd)
	if err != nil {
		return err
	}
	if _, err := os.Stat(xswitchd); err != nil {
		return fmt.Errorf("xswitchd binary: %w (run make build)", err)
	}
	pa, pb := netip.MustParsePrefix("10.77.0.1/24"), netip.MustParsePrefix("10.77.0.2/24")
	guests := func(h *topo.Host) (*topo.Guest, *topo.Guest, error) {
		a, err := h.AddGuest("vif1.0", topo.MAC(1), pa)
		if err != nil {
			return nil, nil, err
		}
		b, err := h.AddGuest("vif2.0", topo.MAC(2), pb)
		return a, b, err
	}
	modes := []mode{
		{"direct veth wire", func(h *topo.Host) (*topo.Guest, *topo.Guest, func(), error) {
			a, b, err := h.AddWire(topo.MAC(1), pa, topo.MAC(2), pb)
			return a, b, nil, err
		}},
		{"kernel bridge", func(h *topo.Host) (*topo.Guest, *topo.Guest, func(), error) {
			a, b, err := guests(h)
			if err == nil {
				err = h.AddBridge("br0", a.Vif(), b.Vif())
			}
			return a, b, nil, err
		}},
	}
	type variant struct{ name, fastPath, portType string }
	variants := []variant{
		{"xswitch fastpath off", "off", "afpacket"},
		{"xswitch afxdp userspace", "off", "afxdp"},
		{"xswitch fastpath tc", "tc", "afpacket"},
		{"xswitch fastpath xdp", "xdp", "afpacket"},
	}
	for _, v := range variants {
		fp := v.fastPath
		modes = append(modes, mode{v.name, func(h *topo.Host) (*topo.Guest, *topo.Guest, func(), error) {
			a, b, err := guests(h)
			if err != nil {
				return nil, nil, nil, err
			}
			if fp == "xdp" {
				// A veth accepts XDP frames only while its peer has GRO
				// on (or an XDP program).
				for _, g := range []*topo.Guest{a, b} {
					if out, err := g.Command(ctx, "ethtool", "-K", "eth0", "gro", "on").CombinedOutput(); err != nil {
						return nil, nil, nil, fmt.Errorf("ethtool -K eth0 gro on: %v: %s", err, out)
					}
				}
			}
			stop, _, err := startSwitch(ctx, h, xswitchd, fp, v.portType)
			return a, b, stop, err
		}})
	}
	if only != "" {
		want := strings.Split(only, ",")
		modes = slices.DeleteFunc(modes, func(m mode) bool { return !slices.Contains(want, m.name) })
		if len(modes) == 0 {
			return fmt.Errorf("-modes %q: no such mode", only)
		}
	}
	for _, split := range []bool{false, true} {
		var results []result
		for _, m := range modes {
			r := result{mode: m.name}
			for i := range runs {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				gen, got, err := measure(ctx, m, d, split)
				if err != nil {
					return fmt.Errorf("%s, run %d: %w", m.name, i+1, err)
				}
				fmt.Fprintf(os.Stderr, "%-24s %s run %d/%d: sent %.0f frames/s, delivered %.0f frames/s\n", m.name, layoutName(split), i+1, runs, gen, got)
				r.generated = append(r.generated, gen)
				r.delivered = append(r.delivered, got)
			}
			results = append(results, r)
		}
		fmt.Printf("\n%s:\n", layoutTitle(split))
		report(results)
	}
	fmt.Printf("\nidle switch, two idle ports, over %v:\n", idleFor)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "ports\tCPU, % of one core\tRSS, MB\t")
	for _, pt := range []string{"afpacket", "afxdp"} {
		cpu, rss, err := idle(ctx, xswitchd, pt)
		if err != nil {
			return fmt.Errorf("idle %s: %w", pt, err)
		}
		fmt.Fprintf(w, "%s\t%.2f\t%.1f\t\n", pt, cpu, rss)
	}
	w.Flush()
	return nil
}

// idleFor is how long the idle switch is watched.
const idleFor = 10 * time.Second

// idle runs the switch with two ports (fast path off) and nothing to
// forward, and returns its CPU use in percent of one core and its RSS in MB.
func idle(ctx context.Context, xswitchd, portType string) (cpu, rss float64, err error) {
	h, err := topo.NewHost("bench")
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	if _, err := h.AddGuest("vif1.0", topo.MAC(1), netip.MustParsePrefix("10.77.0.1/24")); err != nil {
		return 0, 0, err
	}
	if _, err := h.AddGuest("vif2.0", topo.MAC(2), netip.MustParsePrefix("10.77.0.2/24")); err != nil {
		return 0, 0, err
	}
	stop, pid, err := startSwitch(ctx, h, xswitchd, "off", portType)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	time.Sleep(time.Second) // let start-up work finish
	t0, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(idleFor):
	}
	t1, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			rss = kb / 1024
		}
	}
	const hz = 100 // USER_HZ: /proc reports times in 1/100 s
	return float64(t1-t0) / hz / idleFor.Seconds() * 100, rss, nil
}

// cpuTicks returns a process's user plus system time in clock ticks.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return ut + st, nil
}

func layoutName(split bool) string {
	if split {
		return "[2 cores]"
	}
	return "[1 core]"
}

func layoutTitle(split bool) string {
	if split {
		return "sender on CPU 0; switch and receiving guest on CPU 1 (RPS on the first receiving interface)"
	}
	return "sender, switch and receiving guest on the sender's core"
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func report(results []result) {
	var bridge float64
	for _, r := range results {
		if r.mode == "kernel bridge" {
			bridge = median(r.delivered)
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "mode\tgenerated frames/s\tdelivered frames/s\tvs kernel bridge\t")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.2fx\t\n", r.mode, median(r.generated), median(r.delivered), median(r.delivered)/bridge)
	}
	w.Flush()
}

// startSwitch runs xswitchd in auto mode, with the given fast-path mode and
// port type, in h until stop is called. It returns the daemon's pid.
func startSwitch(ctx context.Context, h *topo.Host, bin, fastPath, portType string) (stop func(), pid int, err error) {
	sock := filepath.Join(os.TempDir(), h.Name()+".sock")
	pins := "/sys/fs/bpf/" + h.Name()
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+h.NSPath(), bin, "-control", sock, "-metrics", "off", "-log-level", "warn",
		"-fastpath", fastPath, "-port-type", portType, "-bpf-pin-dir", pins)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	c := control.NewClient(sock)
	stop = func() {
		// Say where frames were lost, if anywhere.
		var ports []control.Port
		if err := c.Get(ctx, "/v1/ports", nil, &ports); err == nil {
			for _, p := range ports {
				for reason, n := range p.Drops {
					if n > 0 {
						fmt.Fprintf(os.Stderr, "  xswitchd %s: %d frames dropped (%s)\n", p.Name, n, reason)
					}
				}
				if p.FastPath != "off" {
					fmt.Fprintf(os.Stderr, "  xswitchd %s: fast path %s forwarded %d frames, userspace %d\n", p.Name, p.FastPath, p.FastPathPackets, p.RxPackets)
				}
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.Remove(sock)
		// In the bench's dom0: -cleanup finds interfaces by name.
		exec.Command("nsenter", "--net="+h.NSPath(), bin, "-cleanup", "-bpf-pin-dir", pins).Run()
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ports []control.Port
		if err := c.Get(ctx, "/v1/ports", nil, &ports); err == nil && len(ports) == 2 {
			return stop, cmd.Process.Pid, nil // nsenter execs xswitchd
		}
	}
	stop()
	return nil, 0, errors.New("xswitchd did not attach both vifs within 5s")
}

// measure builds the mode's topology, sends 64-byte UDP frames from guest a
// to guest b for d, and returns the rates sent and received.
//
// With split, the first interface that receives the frames (the switch's
// vif, or the receiving guest's end of a direct wire) hands them to CPU 1
// (RPS), and the sender is pinned to CPU 0: as in a dom0, where guests send
// from their own vCPUs and the switch runs on dom0's. Without it, the
// sender's core also runs the switch and the receiving guest's stack.
func measure(ctx context.Context, m mode, d time.Duration, split bool) (gen, got float64, err error) {
	h, err := topo.NewHost("bench")
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	a, b, stop, err := m.setup(h)
	if stop != nil {
		defer stop()
	}
	if err != nil {
		return 0, 0, err
	}
	if split {
		ns, dev := h.Name(), a.Vif()
		if m.name == "direct veth wire" {
			ns, dev = b.Name(), "eth0"
		}
		if err := spread(ctx, ns, dev); err != nil {
			return 0, 0, err
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var all, cpu0 unix.CPUSet
		if err := unix.SchedGetaffinity(0, &all); err != nil {
			return 0, 0, err
		}
		cpu0.Set(0)
		if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
			return 0, 0, err
		}
		defer unix.SchedSetaffinity(0, &all)
	}
	// b speaks first, so a switch knows where it is and does not flood.
	if err := b.Inject(topo.EtherFrame(a.MAC(), b.MAC(), 0x88b5, []byte("hello"))); err != nil {
		return 0, 0, err
	}
	time.Sleep(100 * time.Millisecond)

	// The destination address is not b's: b's kernel counts and drops the
	// frames without answering, so only one direction is measured.
	frame := topo.UDPFrame(a.MAC(), b.MAC(), a.Addr(), netip.MustParseAddr("10.77.0.99"), 9, 9, make([]byte, 18))
	var g *generator
	if err := a.Do(func() error {
		var err error
		g, err = newGenerator("eth0", frame, 64)
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("generator: %w", err)
	}
	defer g.close()

	before, err := b.LinkStats()
	if err != nil {
		return 0, 0, err
	}
	var sent uint64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		n, err := g.send()
		if err != nil {
			return 0, 0, fmt.Errorf("generator: %w", err)
		}
		sent += uint64(n)
	}
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond) // let queues drain
	after, err := b.LinkStats()
	if err != nil {
		return 0, 0, err
	}
	return float64(sent) / elapsed.Seconds(), float64(after.Sub(before).RxPackets) / elapsed.Seconds(), nil
}

// spread hands what interface dev (in network namespace ns) receives to
// CPU 1: RPS moves its skbs there; a veth with an XDP program receives in
// NAPI instead, which is made threaded and its thread moved to CPU 1.
func spread(ctx context.Context, ns, dev string) error {
	script := "for q in /sys/class/net/" + dev + "/queues/rx-*; do echo 2 > $q/rps_cpus; done; " +
		"if ip link show " + dev + " | grep -qw xdp; then echo 1 > /sys/class/net/" + dev + "/threaded; fi"
	if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "sh", "-c", script).CombinedOutput(); err != nil {
		return fmt.Errorf("spread %s to CPU 1: %v: %s", dev, err, out)
	}
	// NAPI threads are named napi/<dev>-<id>, cut to 15 characters.
	prefix := "napi/" + dev + "-"
	prefix = prefix[:min(len(prefix), 15)]
	procs, _ := os.ReadDir("/proc")
	var cpu1 unix.CPUSet
	cpu1.Set(1)
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + p.Name() + "/comm")
		if err == nil && strings.HasPrefix(string(comm), prefix) {
			if err := unix.SchedSetaffinity(pid, &cpu1); err != nil {
				return fmt.Errorf("move %s to CPU 1: %w", strings.TrimSpace(string(comm)), err)
			}
		}
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo"
)

// rate is one throughput run.
type rate struct {
	generated float64 // frames/s the generator sent
	delivered float64 // frames/s that reached guest b
	cpuNs     float64 // busy CPU time of the whole machine per delivered frame, ns
	drops     string  // xswitchd's drops by reason, for the progress display
}

func dropsNote(d string) string {
	if d == "" {
		return ""
	}
	return "; xswitchd dropped: " + d
}

// throughput sends frames of size bytes from a to b for d and measures what
// arrives and the CPU it took.
//
// With split, the first interface that receives the frames (the switch's
// vif, or the receiving guest's end of a direct wire) hands them to CPU 1
// (RPS, or threaded NAPI for a veth with XDP), and the sender is pinned to
// CPU 0: as in a dom0, where guests send from their own vCPUs and the
// switch runs on dom0's. Without it, the sender's core also runs whatever
// receives the frames, since a veth delivers in the sender's context.
func throughput(ctx context.Context, m mode, t *topology, size int, d time.Duration, split bool) (rate, error) {
	a, b := t.a, t.b
	if split {
		ns, dev := t.h.Name(), a.Vif()
		if m.kind == "wire" {
			ns, dev = b.Name(), "eth0"
		}
		if err := spread(ctx, ns, dev); err != nil {
			return rate{}, err
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var all, cpu0 unix.CPUSet
		if err := unix.SchedGetaffinity(0, &all); err != nil {
			return rate{}, err
		}
		cpu0.Set(0)
		if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
			return rate{}, err
		}
		defer unix.SchedSetaffinity(0, &all)
	}
	g, err := newFlow(t, size)
	if err != nil {
		return rate{}, err
	}
	defer g.close()

	before, err := b.LinkStats()
	if err != nil {
		return rate{}, err
	}
	busy0, err := busyTicks()
	if err != nil {
		return rate{}, err
	}
	var sent uint64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		n, err := g.send()
		if err != nil {
			return rate{}, fmt.Errorf("generator: %w", err)
		}
		sent += uint64(n)
	}
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond) // let queues drain
	busy1, err := busyTicks()
	if err != nil {
		return rate{}, err
	}
	after, err := b.LinkStats()
	if err != nil {
		return rate{}, err
	}
	got := float64(after.Sub(before).RxPackets)
	r := rate{generated: float64(sent) / elapsed.Seconds(), delivered: got / elapsed.Seconds()}
	if got > 0 {
		r.cpuNs = float64(busy1-busy0) * (1e9 / clockTicks) / got
	}
	return r, ctx.Err()
}

// newFlow readies a flow of frames of size bytes from a to b: b speaks
// first, so a switch knows where it is and does not flood (on its wire, in
// its VLAN), and a generator in a is made to send them.
func newFlow(t *topology, size int) (*generator, error) {
	a, b := t.a, t.b
	hello := topo.EtherFrame(a.MAC(), b.MAC(), 0x88b5, []byte("hello"))
	if t.bTag != 0 {
		hello = topo.Tag(hello, 0x8100, t.bTag)
	}
	if err := b.Inject(hello); err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond)
	if t.bTag != 0 {
		if err := checkTagged(t); err != nil {
			return nil, err
		}
	}
	// The destination address is not b's: b's kernel counts and drops the
	// frames without answering, so only one direction is measured.
	payload := make([]byte, max(size-14-20-8, 18))
	frame := topo.UDPFrame(a.MAC(), b.MAC(), a.Addr(), netip.MustParseAddr("10.77.250.1"), 9, 9, payload)
	var g *generator
	if err := a.Do(func() error {
		var err error
		g, err = newGenerator("eth0", frame, 64)
		return err
	}); err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	return g, nil
}

// clockTicks is USER_HZ, the unit of /proc's times.
const clockTicks = 100

// busyTicks returns the time all CPUs spent not idle, from /proc/stat.
func busyTicks() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy uint64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		busy += n
	}
	return busy, nil
}

// tcp runs one TCP stream from a to b for d, with the guests' default
// offloads, and returns Gbit/s.
func tcp(ctx context.Context, t *topology, d time.Duration) (float64, error) {
	return tcpStream(ctx, t.a.Netns, t.b.Netns, t.bAddr, d)
}

// tcpStream runs one TCP stream for d from namespace from to a listener on
// addr in namespace to, and returns Gbit/s.
func tcpStream(ctx context.Context, from, to *topo.Netns, addr netip.Addr, d time.Duration) (float64, error) {
	l, err := to.Listen("tcp", netip.AddrPortFrom(addr, 5201).String())
	if err != nil {
		return 0, err
	}
	defer l.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	c, err := from.Dial(ctx, "tcp", netip.AddrPortFrom(addr, 5201).String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 256<<10)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, fmt.Errorf("tcp: %w", err)
		}
	}
	c.Close()
	n := <-got
	if n < 0 {
		return 0, errors.New("tcp: accept failed")
	}
	return float64(n) * 8 / time.Since(start).Seconds() / 1e9, nil
}

// latency bounces count 64-byte UDP requests from a off an echo server in
// b, one at a time, and returns the 50th and 99th percentile round trips
// in µs.
func latency(ctx context.Context, t *topology, count int) (p50, p99 float64, err error) {
	srv, err := t.b.ListenPacket("udp", t.bAddr.String()+":7")
	if err != nil {
		return 0, 0, err
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], from)
		}
	}()
	c, err := t.a.Dial(ctx, "udp", t.bAddr.String()+":7")
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	req, resp := make([]byte, 64-14-20-8), make([]byte, 2048)
	rtts := make([]float64, 0, count)
	const warmup = 50 // learning, ARP
	for i := 0; i < count+warmup && ctx.Err() == nil; i++ {
		start := time.Now()
		c.SetDeadline(start.Add(time.Second))
		if _, err := c.Write(req); err != nil {
			return 0, 0, err
		}
		if _, err := c.Read(resp); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // lost: not a round trip
			}
			return 0, 0, err
		}
		if i >= warmup {
			rtts = append(rtts, float64(time.Since(start).Nanoseconds())/1e3)
		}
	}
	if len(rtts) == 0 {
		return 0, 0, errors.New("latency: no answer")
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], rtts[min(len(rtts)*99/100, len(rtts)-1)], ctx.Err()
}

// idle watches xswitchd with nothing to forward for d and returns its CPU
// use in percent of one core and its RSS in MB.
func idle(ctx context.Context, pid int, d time.Duration) (cpu, rss float64, err error) {
	time.Sleep(time.Second) // let start-up work finish
	t0, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(d):
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
	return float64(t1-t0) / clockTicks / d.Seconds() * 100, rss, nil
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

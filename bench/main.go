// Command bench measures xswitch against the Linux bridge it replaces, in
// one run: every forwarding mode (a direct veth wire as the upper bound,
// the kernel bridge, xswitch's userspace path with AF_PACKET and with
// AF_XDP ports, its fast path in XDP and in TC) carries traffic between two
// guests in network namespaces. Per mode it reports 64-byte frames/s in two
// CPU layouts, the machine's CPU time per delivered frame, single-stream
// TCP throughput, request/response latency, and the idle switch's CPU and
// memory; then sweeps of frame size, number of ports and MAC table size.
// Every figure is the median of -runs runs (sweep points: one run each),
// with its ratio to the kernel bridge. It prints a table, and writes a JSON
// file and PNG charts to -out. Needs root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	xswitchd string
	duration time.Duration
	runs     int
	modes    []mode
	out      string
	sweeps   bool
	idleFor  time.Duration
	pings    int
	only     string // run only this sweep, without the per-mode figures
	dom0Only bool   // run only the dom0 figures
	ports    []int  // the points of the ports sweep
	pingRuns int    // first pings after a flush, per run
	// smoke runs the ports sweep alone of the sweeps.
	smoke bool
}

func main() {
	var o options
	flag.StringVar(&o.xswitchd, "xswitchd", "bin/xswitchd", "`path` of the xswitchd binary to measure")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "how long each throughput and TCP run sends")
	flag.IntVar(&o.runs, "runs", 3, "runs per figure; the median is reported")
	only := flag.String("modes", "", "comma-separated `list` of modes to measure (default all): "+modeNames())
	flag.StringVar(&o.out, "out", "bench-results", "`directory` for results.json and the charts")
	flag.BoolVar(&o.sweeps, "sweeps", true, "run the sweeps of frame size, ports and MAC table size")
	flag.StringVar(&o.only, "sweep", "", "run only the sweep of this `name` (\"frame size\", \"ports\" or \"MAC table size\"), without the other figures")
	flag.DurationVar(&o.idleFor, "idle", 5*time.Second, "how long the idle switch is watched")
	flag.IntVar(&o.pings, "pings", 2000, "request/response round trips per latency run")
	flag.BoolVar(&o.dom0Only, "dom0", false, "measure only the dom0 figures (a TCP stream from dom0 to a guest and to a LAN host, through the bridge device or the host port), without the others or the sweeps")
	ports := flag.String("ports", "2,64,256,1024", "comma-separated `list` of the ports sweep's points (guest ports on the bridge)")
	flag.IntVar(&o.pingRuns, "first-pings", 20, "first pings after a flush of the MAC table and the neighbour caches, per run")
	flag.BoolVar(&o.smoke, "smoke", false, "a quick check that the bench works: one run of 1 s of xswitch fastpath tc and the kernel bridge, and of the ports sweep at 2 and 64 ports, with a multicast burst from 62 guests")
	flag.Parse()
	if o.smoke {
		o.runs, o.duration, o.idleFor, o.pings, o.pingRuns, *ports = 1, time.Second, time.Second, 200, 5, "2,64"
		if *only == "" {
			*only = bridgeMode + ",xswitch fastpath tc"
		}
	}
	for _, f := range strings.Split(*ports, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "bench: -ports: %q is no number of ports of 2 or more\n", f)
			os.Exit(2)
		}
		o.ports = append(o.ports, n)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces, veth pairs, XDP)")
		os.Exit(1)
	}
	if o.dom0Only {
		o.sweeps = false
	}
	if o.runs < 1 || o.pingRuns < 1 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -runs and -first-pings must be at least 1 and -duration positive")
		os.Exit(2)
	}
	o.modes = modes
	if *only != "" {
		want := strings.Split(*only, ",")
		for _, w := range want {
			if !slices.ContainsFunc(modes, func(m mode) bool { return m.name == w }) {
				fmt.Fprintf(os.Stderr, "bench: -modes: no mode %q (have %s)\n", w, modeNames())
				os.Exit(2)
			}
		}
		o.modes = slices.DeleteFunc(slices.Clone(modes), func(m mode) bool { return !slices.Contains(want, m.name) })
	}
	var err error
	if o.xswitchd, err = filepath.Abs(o.xswitchd); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	// Ctrl-C ends the run; every namespace is removed on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o)
	if err == nil {
		err = measureVXLAN(ctx, o, res)
	}
	if err == nil {
		err = measureFloods(ctx, o, res)
	}
	if res != nil {
		printTable(os.Stdout, res)
		printFloods(os.Stdout, res)
		if werr := write(o.out, res); werr != nil {
			fmt.Fprintln(os.Stderr, "bench:", werr)
			os.Exit(1)
		}
		fmt.Printf("\nresults: %s\n", filepath.Join(o.out, "results.json"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func modeNames() string {
	var n []string
	for _, m := range modes {
		n = append(n, fmt.Sprintf("%q", m.name))
	}
	return strings.Join(n, ", ")
}

// progress prints what the bench is doing, with the step count and the
// time so far, on standard error.
type progress struct {
	total, done int
	start       time.Time
}

func (p *progress) step(format string, args ...any) {
	p.done++
	el := time.Since(p.start).Truncate(time.Second)
	eta := ""
	if p.done > 1 {
		left := time.Duration(float64(time.Since(p.start)) / float64(p.done-1) * float64(p.total-p.done+1))
		eta = fmt.Sprintf(", about %v left", left.Truncate(time.Second))
	}
	fmt.Fprintf(os.Stderr, "[%d/%d %v%s] %s\n", p.done, p.total, el, eta, fmt.Sprintf(format, args...))
}

func (p *progress) note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "        %s\n", fmt.Sprintf(format, args...))
}

package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// stat is one figure: its runs and their median.
type stat struct {
	Median float64   `json:"median"`
	Runs   []float64 `json:"runs"`
}

func (s *stat) add(v float64) {
	s.Runs = append(s.Runs, v)
	r := slices.Clone(s.Runs)
	slices.Sort(r)
	s.Median = r[len(r)/2]
}

// modeResult holds every figure of one mode; nil figures were not measured.
type modeResult struct {
	Mode      string `json:"mode"`
	Available bool   `json:"available"`
	// Baseline is the mode the ratios are to.
	Baseline string `json:"baseline"`
	Reason   string `json:"reason,omitempty"` // why not available
	// Frames/s delivered to guest b, and sent by the generator; CPU ns per
	// delivered frame (whole machine); per layout.
	OneCore  *layoutResult `json:"one_core,omitempty"`
	TwoCores *layoutResult `json:"two_cores,omitempty"`
	TCPGbps  *stat         `json:"tcp_gbit_per_s,omitempty"`
	P50us    *stat         `json:"latency_p50_us,omitempty"`
	P99us    *stat         `json:"latency_p99_us,omitempty"`
	// The median round trip of the first ICMP echo after the MAC table
	// and the neighbour caches were flushed, and of the echo after it.
	FirstPingUs *stat `json:"first_ping_us,omitempty"`
	WarmPingUs  *stat `json:"warm_ping_us,omitempty"`
	// NoTCP says why TCP, request/response and pings were not measured.
	NoTCP   string `json:"no_tcp,omitempty"`
	IdleCPU *stat  `json:"idle_cpu_percent,omitempty"` // of one core, xswitch only
	RSSMB   *stat  `json:"rss_mb,omitempty"`           // xswitch only

	// One TCP stream from dom0's stack, through its address on the bridge
	// device or on the host port.
	Dom0GuestGbps *stat  `json:"dom0_guest_tcp_gbit_per_s,omitempty"`
	Dom0LANGbps   *stat  `json:"dom0_lan_tcp_gbit_per_s,omitempty"`
	Dom0Error     string `json:"dom0_error,omitempty"` // why they are missing
}

type layoutResult struct {
	Delivered stat `json:"delivered_frames_per_s"`
	Generated stat `json:"generated_frames_per_s"`
	CPUNs     stat `json:"cpu_ns_per_frame"`
}

// point is one measurement of a sweep.
type point struct {
	X         float64 `json:"x"`
	Delivered float64 `json:"delivered_frames_per_s"`
	// The ports sweep's: xswitchd's CPU in percent of a core and its RSS
	// while only idle vifs exist, and the flow around a multicast burst.
	// SetupS is how long the topology took to build, the switch's start
	// until it reported every port included.
	SetupS  float64      `json:"setup_s,omitempty"`
	IdleCPU *float64     `json:"idle_cpu_percent,omitempty"`
	RSSMB   *float64     `json:"rss_mb,omitempty"`
	Burst   *burstResult `json:"burst,omitempty"`
}

type sweep struct {
	Name   string             `json:"name"`
	XLabel string             `json:"x_label"`
	Modes  map[string][]point `json:"modes"`
	Errors map[string]string  `json:"errors,omitempty"`
}

type results struct {
	Date     string         `json:"date"`
	Commit   string         `json:"commit"`
	Kernel   string         `json:"kernel"`
	Machine  machine        `json:"machine"`
	Go       string         `json:"go"`
	Settings map[string]any `json:"settings"`
	Modes    []*modeResult  `json:"modes"`
	Sweeps   []*sweep       `json:"sweeps,omitempty"`
	Floods   []*floodResult `json:"floods,omitempty"` // storm.go
}

func run(ctx context.Context, o options) (*results, error) {
	res := &results{
		Date: time.Now().UTC().Format(time.RFC3339), Commit: commit(), Kernel: kernel(), Machine: readMachine(), Go: goVersion(),
		Settings: map[string]any{"runs": o.runs, "duration_s": o.duration.Seconds(), "idle_s": o.idleFor.Seconds(), "pings": o.pings,
			"frame_bytes": 64, "sweep_runs": 1, "ports_sweep_flow_periods": o.runs, "ports": o.ports, "first_pings": o.pingRuns},
	}
	defer setBaselines(res, o.modes)
	p := &progress{start: time.Now()}
	var avail []mode
	for _, m := range o.modes {
		r := &modeResult{Mode: m.name, Available: true}
		if err := m.available(o.xswitchd); err != nil {
			r.Available, r.Reason = false, err.Error()
			fmt.Fprintf(os.Stderr, "%s: unavailable: %v\n", m.name, err)
		} else {
			avail = append(avail, m)
		}
		res.Modes = append(res.Modes, r)
	}
	todo := slices.Clone(sweeps)
	for i := range todo {
		if todo[i].name == "ports" {
			todo[i].xs = o.ports
		}
	}
	if o.smoke {
		todo = slices.DeleteFunc(todo, func(s sweepDef) bool { return s.name != "ports" })
	}
	if o.only != "" {
		todo = slices.DeleteFunc(todo, func(s sweepDef) bool { return s.name != o.only })
		if len(todo) == 0 {
			return nil, fmt.Errorf("-sweep %q: no such sweep", o.only)
		}
		o.sweeps = true
	}
	if o.only == "" && !o.dom0Only {
		p.total = len(avail) * 3 * o.runs
	}
	if o.only == "" {
		p.total += dom0Modes(avail) * o.runs
	}
	// The sweeps join guests on one VLAN.
	plain := slices.DeleteFunc(slices.Clone(avail), func(m mode) bool { return m.vlan })
	if o.sweeps {
		p.total += sweepSteps(todo, plain)
	}
	if o.only == "" {
		if err := measureDom0(ctx, o, avail, res, p); err != nil {
			return res, err
		}
	}
	for _, m := range avail {
		if o.only != "" || o.dom0Only {
			break
		}
		r := res.mode(m.name)
		if err := measureMode(ctx, o, m, r, p); err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			r.Available, r.Reason = false, err.Error()
			p.note("%s: unavailable: %v", m.name, err)
		}
	}
	if o.sweeps {
		for _, s := range todo {
			sw, err := s.run(ctx, o, availableOf(res, plain), p)
			res.Sweeps = append(res.Sweeps, sw)
			if err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// setBaselines names in each result the mode its ratios are to.
func setBaselines(res *results, ms []mode) {
	for _, m := range ms {
		res.mode(m.name).Baseline = baselineOf(res, m)
	}
}

func (r *results) mode(name string) *modeResult {
	for _, m := range r.Modes {
		if m.Mode == name {
			return m
		}
	}
	return nil
}

// availableOf returns the modes that measured without error.
func availableOf(res *results, ms []mode) []mode {
	return slices.DeleteFunc(slices.Clone(ms), func(m mode) bool { return !res.mode(m.name).Available })
}

// measureMode takes every figure of one mode.
func measureMode(ctx context.Context, o options, m mode, r *modeResult, p *progress) error {
	for _, split := range []bool{false, true} {
		lr := &layoutResult{}
		for i := range o.runs {
			p.step("%s, %s, run %d/%d: 64-byte frames", m.name, layoutName(split), i+1, o.runs)
			t, err := m.setup(ctx, o.xswitchd, setupOpts{})
			if err != nil {
				return err
			}
			rt, err := throughput(ctx, m, t, 64, o.duration, split)
			rt.drops = t.drops(ctx)
			t.close()
			if err != nil {
				return err
			}
			p.note("sent %.0f frames/s, delivered %.0f frames/s, %.0f ns of CPU per frame%s", rt.generated, rt.delivered, rt.cpuNs, dropsNote(rt.drops))
			lr.Delivered.add(rt.delivered)
			lr.Generated.add(rt.generated)
			lr.CPUNs.add(rt.cpuNs)
		}
		if split {
			r.TwoCores = lr
		} else {
			r.OneCore = lr
		}
	}
	r.TCPGbps, r.P50us, r.P99us, r.FirstPingUs, r.WarmPingUs = &stat{}, &stat{}, &stat{}, &stat{}, &stat{}
	if m.kind == "xswitch" {
		r.IdleCPU, r.RSSMB = &stat{}, &stat{}
	}
	for i := range o.runs {
		p.step("%s, run %d/%d: idle, TCP stream, request/response, first pings", m.name, i+1, o.runs)
		t, err := m.setup(ctx, o.xswitchd, setupOpts{})
		if err != nil {
			return err
		}
		err = func() error {
			defer t.close()
			if t.pid != 0 {
				cpu, rss, err := idle(ctx, t.pid, o.idleFor)
				if err != nil {
					return fmt.Errorf("idle: %w", err)
				}
				r.IdleCPU.add(cpu)
				r.RSSMB.add(rss)
				p.note("idle: %.2f %% of a core, %.1f MB RSS", cpu, rss)
			}
			if !t.bAddr.IsValid() {
				r.NoTCP = "the LAN host cannot take IP on a VLAN: " + errNoVLANFiltering.Error()
				p.note("no TCP stream or request/response: %s", r.NoTCP)
				return nil
			}
			gbps, err := tcp(ctx, t, o.duration)
			if err != nil {
				return err
			}
			r.TCPGbps.add(gbps)
			p50, p99, err := latency(ctx, t, o.pings)
			if err != nil {
				return err
			}
			r.P50us.add(p50)
			r.P99us.add(p99)
			p.note("TCP %.2f Gbit/s; round trip p50 %.1f µs, p99 %.1f µs", gbps, p50, p99)
			first, warm, err := firstPings(ctx, m, t, o.pingRuns)
			if err != nil {
				return err
			}
			r.FirstPingUs.add(first)
			r.WarmPingUs.add(warm)
			p.note("first ping after a flush %.1f µs, the next %.1f µs (medians of %d)", first, warm, o.pingRuns)
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func layoutName(split bool) string {
	if split {
		return "two cores"
	}
	return "one core"
}

package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// bridgeMaxPorts is the most ports a kernel bridge takes: port numbers
// have 10 bits, and 0 is not one.
const bridgeMaxPorts = 1023

// burstResult is a flow between two guests around a multicast burst from
// every idle guest (see burstFrames).
type burstResult struct {
	Frames int `json:"frames"` // in the burst: three per idle guest
	// Refused is how many of them the guests' interfaces dropped on the
	// way in, their CPU's backlog full.
	Refused int `json:"refused"`
	// Before is the flow's rate in frames/s before the burst (the point's
	// rate); During over the second from the burst on; Lowest in the
	// slowest tenth of that second.
	Before float64 `json:"before_frames_per_s"`
	During float64 `json:"during_frames_per_s"`
	Lowest float64 `json:"lowest_frames_per_s"`
	// SwitchCPU is xswitchd's CPU in percent of a core in that second.
	SwitchCPU *float64 `json:"switch_cpu_percent,omitempty"`
}

// measurePorts is a point of the ports sweep: mode m with x guest ports,
// two of which exchange traffic. With xswitch, the switch is first watched
// while nothing but idle vifs exist; then a flows to b for -duration, and
// every idle guest sends its burst while the flow goes on. The flow's rate
// is the median of -runs periods of -duration, in one setup: a thousand
// ports take long to set up.
func measurePorts(ctx context.Context, o options, m mode, x int, p *progress) (point, error) {
	if m.kind == "bridge" && x > bridgeMaxPorts {
		p.note("a kernel bridge takes at most %d ports: measured with %d", bridgeMaxPorts, bridgeMaxPorts)
		x = bridgeMaxPorts
	}
	pt := point{X: float64(x)}
	start := time.Now()
	t, err := m.setup(ctx, o.xswitchd, setupOpts{idle: x - 2})
	if err != nil {
		return pt, err
	}
	defer t.close()
	pt.SetupS = time.Since(start).Seconds()
	p.note("%d ports ready in %.2f s", x, pt.SetupS)
	if t.pid != 0 {
		cpu, rss, err := idle(ctx, t.pid, o.idleFor)
		if err != nil {
			return pt, fmt.Errorf("idle: %w", err)
		}
		pt.IdleCPU, pt.RSSMB = &cpu, &rss
		p.note("idle: %.2f %% of a core, %.1f MB RSS", cpu, rss)
	}
	r, burst, err := flowWithBurst(ctx, t, o.duration, o.runs)
	if err != nil {
		return pt, err
	}
	pt.Delivered, pt.Burst = r.delivered, burst
	p.note("delivered %.0f frames/s (sent %.0f)%s", r.delivered, r.generated, dropsNote(t.drops(ctx)))
	if burst != nil {
		cpu := ""
		if burst.SwitchCPU != nil {
			cpu = fmt.Sprintf("; xswitchd %.0f %% of a core", *burst.SwitchCPU)
		}
		refused := ""
		if burst.Refused > 0 {
			refused = fmt.Sprintf(" (%d refused on the way in)", burst.Refused)
		}
		p.note("burst of %d multicast frames%s: the flow went from %.0f to %.0f frames/s in the second after (slowest tenth %.0f)%s",
			burst.Frames, refused, burst.Before, burst.During, burst.Lowest, cpu)
	}
	return pt, nil
}

// flowWithBurst sends 64-byte frames from a to b for runs periods of d and
// takes the median of what arrives in each; then, if t has idle guests,
// fires their burst and measures the flow for one second more, in tenths.
func flowWithBurst(ctx context.Context, t *topology, d time.Duration, runs int) (rate, *burstResult, error) {
	bu, err := newBurster(t)
	if err != nil {
		return rate{}, nil, err
	}
	defer bu.close()
	g, err := newFlow(t, 64)
	if err != nil {
		return rate{}, nil, err
	}
	defer g.close()

	var stop atomic.Bool
	var sent atomic.Uint64
	var wg sync.WaitGroup
	var sendErr error
	wg.Go(func() {
		for !stop.Load() {
			n, err := g.send()
			if err != nil {
				sendErr = fmt.Errorf("generator: %w", err)
				return
			}
			sent.Add(uint64(n))
		}
	})
	// finish stops the generator, and says why it stopped if it did first.
	finish := sync.OnceValue(func() error {
		stop.Store(true)
		wg.Wait()
		return sendErr
	})
	defer finish()

	type sample struct {
		at time.Time
		rx uint64
	}
	take := func() (sample, error) {
		s, err := t.b.LinkStats()
		return sample{time.Now(), s.RxPackets}, err
	}
	perS := func(a, b sample) float64 { return float64(b.rx-a.rx) / b.at.Sub(a.at).Seconds() }
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}

	if err := wait(200 * time.Millisecond); err != nil { // the flow settles
		return rate{}, nil, err
	}
	s0, err := take()
	if err != nil {
		return rate{}, nil, err
	}
	sent0 := sent.Load()
	var windows []float64
	for range runs {
		if err := wait(d); err != nil {
			return rate{}, nil, err
		}
		s1, err := take()
		if err != nil {
			return rate{}, nil, err
		}
		windows = append(windows, perS(s0, s1))
		s0 = s1
	}
	r := rate{generated: float64(sent.Load()-sent0) / (d * time.Duration(runs)).Seconds(), delivered: median(windows)}
	if bu == nil {
		return r, nil, finish()
	}

	res := &burstResult{Frames: bu.size(), Before: r.delivered}
	var cpu0 uint64
	if t.pid != 0 {
		if cpu0, err = cpuTicks(t.pid); err != nil {
			return r, nil, err
		}
	}
	s1, err := take()
	if err != nil {
		return r, nil, err
	}
	if res.Refused, err = bu.fire(); err != nil {
		return r, nil, err
	}
	samples := []sample{s1}
	for range 10 {
		if err := wait(100 * time.Millisecond); err != nil {
			return r, nil, err
		}
		s, err := take()
		if err != nil {
			return r, nil, err
		}
		samples = append(samples, s)
	}
	last := samples[len(samples)-1]
	res.During = perS(s1, last)
	var tenths []float64
	for i := 1; i < len(samples); i++ {
		tenths = append(tenths, perS(samples[i-1], samples[i]))
	}
	res.Lowest = slices.Min(tenths)
	if t.pid != 0 {
		cpu1, err := cpuTicks(t.pid)
		if err != nil {
			return r, nil, err
		}
		c := float64(cpu1-cpu0) / clockTicks / last.at.Sub(s1.at).Seconds() * 100
		res.SwitchCPU = &c
	}
	return r, res, finish()
}

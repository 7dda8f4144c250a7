package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// The flood figures: guest a sends 64-byte frames to guest b, alone and
// then while guest c attacks the switch as fast as one core lets it: with
// a broadcast storm, or with frames from ever new source MACs (macflood.go).
// A figure is the share of a's frames that still reach b under attack. The
// kernel bridge has neither storm control nor a per-port MAC limit: it is
// measured in the same run, as it is.

var benchFloods = flag.Bool("floods", true, "measure the unicast kept between two guests while a third floods broadcasts or random source MACs, xswitch against the kernel bridge")

// stormLimit is the broadcasts per second per port of xswitch's
// storm-control in the storm figure.
const stormLimit = 1000

// floodMACLimit is the per-port MAC limit of xswitch in the MAC-flood
// figure.
const floodMACLimit = 1024

// floodYAML is xswitchd's configuration in the flood figures.
var floodYAML = fmt.Sprintf(`bridges:
  - name: xenbr0
    ports: ["vif*"]
    storm-control: {broadcast: %d, multicast: %d}
    fdb: {max-per-port: %d}
`, stormLimit, stormLimit, floodMACLimit)

// floodModes are the switches of the flood figures.
var floodModes = []mode{
	{name: bridgeMode, kind: "bridge"},
	{name: "xswitch fastpath tc", kind: "xswitch", fastPath: "tc", portType: "afpacket"},
	{name: "xswitch userspace afpacket", kind: "xswitch", fastPath: "off", portType: "afpacket"},
}

// attack is a way for guest c to flood the switch.
type attack struct {
	name string
	// start makes c's sender, whose send sends one batch; b is the
	// guest a's flow goes to.
	start func(c, b *topo.Guest) (sender, error)
}

type sender interface {
	send() (int, error)
	close()
}

var attacks = []attack{
	{"broadcast storm", startStorm},
	{"MAC flood", startMACFlood},
}

// floodResult is one attack on one switch.
type floodResult struct {
	Attack string `json:"attack"`
	Mode   string `json:"mode"`
	// Frames/s from a that reach b, without and under attack, and the
	// attacker's frames/s.
	Alone    stat   `json:"alone_frames_per_s"`
	Attacked stat   `json:"attacked_frames_per_s"`
	Attacker stat   `json:"attack_frames_per_s"`
	Kept     stat   `json:"kept_percent"` // Attacked/Alone, per run
	Error    string `json:"error,omitempty"`
}

// startStorm sends broadcasts from c.
func startStorm(c, _ *topo.Guest) (sender, error) {
	frame := topo.EtherFrame(bcast, c.MAC(), 0x88b5, make([]byte, 46))
	var g *generator
	err := c.Do(func() error {
		var err error
		g, err = newGenerator("eth0", frame, 64)
		return err
	})
	return g, err
}

var bcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// measureFloods takes the flood figures after the others.
func measureFloods(ctx context.Context, o options, res *results) error {
	if !*benchFloods || o.only != "" || o.dom0Only {
		return nil
	}
	p := &progress{start: time.Now(), total: len(attacks) * len(floodModes) * o.runs}
	for _, at := range attacks {
		for _, m := range floodModes {
			r := &floodResult{Attack: at.name, Mode: m.name}
			res.Floods = append(res.Floods, r)
			if err := m.available(o.xswitchd); err != nil {
				r.Error = err.Error()
				continue
			}
			for i := range o.runs {
				p.step("%s, %s, run %d/%d", at.name, m.name, i+1, o.runs)
				if err := floodRun(ctx, o, m, at, r); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					r.Error = err.Error()
					p.note("%s: %v", m.name, err)
					break
				}
				p.note("alone %.0f frames/s, under attack %.0f frames/s (%.0f%% kept); attacker sent %.0f frames/s",
					r.Alone.Runs[i], r.Attacked.Runs[i], r.Kept.Runs[i], r.Attacker.Runs[i])
			}
		}
	}
	p.note("flood figures: a to b, 64-byte frames on one core, alone and while c floods; xswitch with storm-control %d frames/s per kind and fdb max-per-port %d; the kernel bridge as it is", stormLimit, floodMACLimit)
	return nil
}

// floodRun measures one run: a fresh topology, a's flow alone, then under
// c's attack. What reaches b of a's flow is counted by b's kernel (its UDP
// to an address b does not have, which it refuses), apart from what c
// sends b.
func floodRun(ctx context.Context, o options, m mode, at attack, r *floodResult) error {
	t, err := m.setup(ctx, o.xswitchd, setupOpts{idle: 1, yaml: floodYAML})
	if err != nil {
		return err
	}
	defer t.close()
	// c speaks once, so that its port is known before the attack.
	if err := t.c.Inject(topo.EtherFrame(bcast, t.c.MAC(), 0x88b5, []byte("hello"))); err != nil {
		return err
	}
	g, err := newFlow(t, 64)
	if err != nil {
		return err
	}
	defer g.close()
	alone, err := flowRate(ctx, g, t.b, o.duration)
	if err != nil {
		return err
	}
	s, err := at.start(t.c, t.b)
	if err != nil {
		return fmt.Errorf("attacker: %w", err)
	}
	defer s.close()
	stop := make(chan struct{})
	done := make(chan uint64)
	start := time.Now()
	go func() {
		var n uint64
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			k, err := s.send()
			if err != nil {
				done <- n
				return
			}
			n += uint64(k)
		}
	}()
	time.Sleep(200 * time.Millisecond) // the attack is under way
	attacked, err := flowRate(ctx, g, t.b, o.duration)
	close(stop)
	sent := <-done
	if err != nil {
		return err
	}
	r.Alone.add(alone)
	r.Attacked.add(attacked)
	r.Attacker.add(float64(sent) / time.Since(start).Seconds())
	kept := 0.0
	if alone > 0 {
		kept = 100 * attacked / alone
	}
	r.Kept.add(kept)
	return nil
}

// flowRate sends a's flow with g for d and returns the frames/s of it that
// reached b.
func flowRate(ctx context.Context, g *generator, b *topo.Guest, d time.Duration) (float64, error) {
	before, err := refusedUDP(b)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := g.send(); err != nil {
			return 0, fmt.Errorf("generator: %w", err)
		}
	}
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond) // let queues drain
	after, err := refusedUDP(b)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / elapsed.Seconds(), ctx.Err()
}

// refusedUDP is b's count of IP packets to an address it does not have
// (Ip InAddrErrors): a's flow, and nothing c sends.
func refusedUDP(b *topo.Guest) (uint64, error) {
	var n uint64
	err := b.Do(func() error {
		// thread-self: the namespace of the thread inside b, not the
		// process's.
		data, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		var names []string
		for l := range strings.Lines(string(data)) {
			f := strings.Fields(l)
			if len(f) == 0 || f[0] != "Ip:" {
				continue
			}
			if names == nil {
				names = f
				continue
			}
			for i, name := range names {
				if name == "InAddrErrors" && i < len(f) {
					n, err = strconv.ParseUint(f[i], 10, 64)
					return err
				}
			}
		}
		return fmt.Errorf("no Ip InAddrErrors in /proc/net/snmp")
	})
	return n, err
}

// printFloods prints the flood figures.
func printFloods(w io.Writer, res *results) {
	if len(res.Floods) == 0 {
		return
	}
	fmt.Fprintf(w, "\nUnicast kept under attack (a to b, 64-byte frames; medians):\n")
	fmt.Fprintf(w, "%-18s %-28s %14s %14s %8s %14s\n", "attack", "switch", "alone f/s", "attacked f/s", "kept", "attack f/s")
	for _, r := range res.Floods {
		if r.Error != "" {
			fmt.Fprintf(w, "%-18s %-28s unavailable: %s\n", r.Attack, r.Mode, r.Error)
			continue
		}
		fmt.Fprintf(w, "%-18s %-28s %14.0f %14.0f %7.0f%% %14.0f\n", r.Attack, r.Mode, r.Alone.Median, r.Attacked.Median, r.Kept.Median, r.Attacker.Median)
	}
}

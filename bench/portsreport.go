package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printPorts prints the ports sweep: per mode and point the flow's rate
// and its ratio to the mode's own at the fewest ports, the idle switch's
// CPU and RSS, and the flow around the multicast burst.
func printPorts(w io.Writer, res *results, sw *sweep) {
	fmt.Fprintf(w, "\nsweep of ports (one core, one setup per point): the flow between two guests (median of %v periods), × its rate at the fewest ports;\n"+
		"xswitchd's CPU and RSS while only the idle vifs exist; the flow in the second after every idle guest sent 3 multicast frames:\n", res.Settings["runs"])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tports\tsetup s\tframes/s\t× fewest\tidle CPU %\tRSS MB\tburst frames\tframes/s after\t× before\tslowest tenth\txswitchd CPU %\t")
	for _, m := range res.Modes {
		pts, ok := sw.Modes[m.Mode]
		if !ok {
			continue
		}
		for _, p := range pts {
			cells := []string{m.Mode, fmt.Sprintf("%g", p.X), fmt.Sprintf("%.1f", p.SetupS), fmt.Sprintf("%.0f", p.Delivered), ratioTo(p.Delivered, pts[0].Delivered),
				optional(p.IdleCPU, "%.2f"), optional(p.RSSMB, "%.1f")}
			if b := p.Burst; b != nil {
				frames := fmt.Sprint(b.Frames)
				if b.Refused > 0 {
					frames += fmt.Sprintf(" (%d refused)", b.Refused)
				}
				cells = append(cells, frames, fmt.Sprintf("%.0f", b.During), ratioTo(b.During, b.Before),
					fmt.Sprintf("%.0f", b.Lowest), optional(b.SwitchCPU, "%.0f"))
			} else {
				cells = append(cells, "-", "", "", "", "")
			}
			fmt.Fprintf(tw, "%s\t\n", strings.Join(cells, "\t"))
		}
	}
	tw.Flush()
	for _, m := range res.Modes {
		if e, bad := sw.Errors[m.Mode]; bad {
			fmt.Fprintf(w, "%s: %s\n", m.Mode, e)
		}
	}
}

func ratioTo(v, base float64) string {
	if base == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", v/base)
}

func optional(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

// portsTargets checks the ports sweep against the project's targets: every
// mode keeps 0.9× its rate at the fewest ports from 256 ports on; the idle
// switch uses at most 1 % of a core at the most ports and at most 64 MiB
// at 256, growing by less than 100 KiB a port; during a burst the flow
// keeps at least what the kernel bridge's keeps with as many ports.
func portsTargets(tw io.Writer, res *results) {
	var sw *sweep
	for _, s := range res.Sweeps {
		if s.Name == "ports" {
			sw = s
		}
	}
	if sw == nil {
		return
	}
	verdict := func(met bool) string {
		if met {
			return "met"
		}
		return "NOT met"
	}
	bridge := sw.Modes[bridgeMode]
	for _, m := range res.Modes {
		pts := sw.Modes[m.Mode]
		if len(pts) < 2 {
			continue
		}
		first, last := pts[0], pts[len(pts)-1]
		for _, p := range pts[1:] {
			if p.X >= 256 && first.Delivered > 0 {
				r := p.Delivered / first.Delivered
				fmt.Fprintf(tw, "  %s: %g ports vs %g\t≥ 0.90\t%.2f×\t%s\n", m.Mode, p.X, first.X, r, verdict(r >= 0.9))
			}
		}
		if last.IdleCPU != nil {
			fmt.Fprintf(tw, "  %s: idle CPU at %g ports\t≤ 1 %%\t%.2f %%\t%s\n", m.Mode, last.X, *last.IdleCPU, verdict(*last.IdleCPU <= 1))
		}
		for _, p := range pts {
			if p.X == 256 && p.RSSMB != nil {
				fmt.Fprintf(tw, "  %s: RSS at 256 ports\t≤ 64 MiB\t%.1f MiB\t%s\n", m.Mode, *p.RSSMB, verdict(*p.RSSMB <= 64))
			}
		}
		if first.RSSMB != nil && last.RSSMB != nil && last.X > first.X {
			kib := (*last.RSSMB - *first.RSSMB) * 1024 / (last.X - first.X)
			fmt.Fprintf(tw, "  %s: RSS per port, %g → %g ports\t< 100 KiB\t%.0f KiB\t%s\n", m.Mode, first.X, last.X, kib, verdict(kib < 100))
		}
		if m.Mode == bridgeMode {
			continue
		}
		for _, p := range pts {
			b := bridgePoint(bridge, p.X)
			if p.Burst == nil || b == nil || b.Burst == nil || b.Burst.During == 0 {
				continue
			}
			r := p.Burst.During / b.Burst.During
			fmt.Fprintf(tw, "  %s: flow during a burst from %d guests\t≥ 1.00× bridge\t%.2f×\t%s\n", m.Mode, p.Burst.Frames/3, r, verdict(r >= 1))
		}
	}
}

// bridgePoint is the kernel bridge's point with x ports, or with as many
// as it takes when x is more.
func bridgePoint(pts []point, x float64) *point {
	x = min(x, bridgeMaxPorts)
	for i := range pts {
		if pts[i].X == x {
			return &pts[i]
		}
	}
	return nil
}

// portsCharts are the ports sweep's charts besides frames/s.
func portsCharts(name string) []chartDef {
	return []chartDef{
		{name + "-idle-cpu", ": the idle switch's CPU", "xswitchd CPU, % of a core", func(p point) (float64, bool) {
			if p.IdleCPU == nil {
				return 0, false
			}
			return *p.IdleCPU, true
		}},
		{name + "-rss", ": the switch's memory", "xswitchd RSS, MiB", func(p point) (float64, bool) {
			if p.RSSMB == nil {
				return 0, false
			}
			return *p.RSSMB, true
		}},
		{name + "-burst", ": a flow during a multicast burst", "frames/s in the second after the burst", func(p point) (float64, bool) {
			if p.Burst == nil {
				return 0, false
			}
			return p.Burst.During, true
		}},
	}
}

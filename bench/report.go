package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

type machine struct {
	CPU    string  `json:"cpu"`
	CPUs   int     `json:"cpus"`
	MemGiB float64 `json:"mem_gib"`
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemGiB = kb / (1 << 20)
			}
		}
	}
	return m
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// commit is the checked-out commit, "-dirty" when the tree has changes.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "-dirty"
	}
	return c
}

func goVersion() string { return runtime.Version() }

// figure formats a median and its ratio to the bridge's.
func figure(s *stat, bridge *stat, format string) (string, string) {
	if s == nil || len(s.Runs) == 0 {
		return "-", ""
	}
	v := fmt.Sprintf(format, s.Median)
	if bridge == nil || bridge.Median == 0 {
		return v, ""
	}
	return v, fmt.Sprintf("%.2f×", s.Median/bridge.Median)
}

func layoutStat(l *layoutResult, f func(*layoutResult) *stat) *stat {
	if l == nil {
		return nil
	}
	return f(l)
}

func delivered(l *layoutResult) *stat { return &l.Delivered }
func generated(l *layoutResult) *stat { return &l.Generated }
func cpuNs(l *layoutResult) *stat     { return &l.CPUNs }

func printTable(w io.Writer, res *results) {
	fmt.Fprintf(w, "\nxswitch bench, %s, commit %.12s, Linux %s, %d × %s\n", res.Date, res.Commit, res.Kernel, res.Machine.CPUs, res.Machine.CPU)
	fmt.Fprintf(w, "medians of %v runs; ratios to the kernel bridge in this run\n\n", res.Settings["runs"])
	br := res.mode(bridgeMode)
	if br == nil || !br.Available {
		br = &modeResult{}
	}
	if onlyDom0(res) {
		printDom0(w, res)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tframes/s 1 core\t\tframes/s 2 cores\t\tCPU ns/frame\t\tTCP Gbit/s\t\tp50 µs\t\tp99 µs\t\tfirst ping µs\t\tidle CPU %\tRSS MB\t")
	for _, m := range res.Modes {
		if !m.Available {
			fmt.Fprintf(tw, "%s\tunavailable: %s\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", m.Mode, m.Reason)
			continue
		}
		br := res.baseline(m)
		var cells []string
		for _, c := range []struct {
			s, b *stat
			f    string
		}{
			{layoutStat(m.OneCore, delivered), layoutStat(br.OneCore, delivered), "%.0f"},
			{layoutStat(m.TwoCores, delivered), layoutStat(br.TwoCores, delivered), "%.0f"},
			{layoutStat(m.TwoCores, cpuNs), layoutStat(br.TwoCores, cpuNs), "%.0f"},
			{m.TCPGbps, br.TCPGbps, "%.2f"},
			{m.P50us, br.P50us, "%.1f"},
			{m.P99us, br.P99us, "%.1f"},
			{m.FirstPingUs, br.FirstPingUs, "%.0f"},
		} {
			v, r := figure(c.s, c.b, c.f)
			cells = append(cells, v, r)
		}
		idle, _ := figure(m.IdleCPU, nil, "%.2f")
		rss, _ := figure(m.RSSMB, nil, "%.1f")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", m.Mode, strings.Join(cells, "\t"), idle, rss)
	}
	tw.Flush()
	if wire := res.mode("direct veth wire"); wire != nil && wire.Available {
		g1, _ := figure(layoutStat(wire.OneCore, generated), nil, "%.0f")
		g2, _ := figure(layoutStat(wire.TwoCores, generated), nil, "%.0f")
		fmt.Fprintf(w, "\nthe generator alone, over the direct wire: %s frames/s on one core, %s with two\n", g1, g2)
	}
	fmt.Fprintln(w, "CPU ns/frame is busy time of the whole machine per delivered frame, two-core layout.")
	fmt.Fprintln(w, "p50 and p99: UDP request/response round trips; first ping: the first ICMP echo after the MAC table and neighbour caches were flushed.")
	printVLANNotes(w, res)
	printDom0(w, res)
	for _, sw := range res.Sweeps {
		if sw.Name == "ports" {
			printPorts(w, res, sw)
			continue
		}
		fmt.Fprintf(w, "\nsweep of %s (frames/s delivered, one core, one run per point):\n", sw.Name)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		for _, m := range res.Modes {
			pts, ok := sw.Modes[m.Mode]
			if !ok {
				if e, ok := sw.Errors[m.Mode]; ok {
					fmt.Fprintf(tw, "%s\t%s\t\n", m.Mode, e)
				}
				continue
			}
			var cells []string
			for _, p := range pts {
				cells = append(cells, fmt.Sprintf("%g: %.0f", p.X, p.Delivered))
			}
			fmt.Fprintf(tw, "%s\t%s\t\n", m.Mode, strings.Join(cells, "\t"))
		}
		tw.Flush()
	}
	printTargets(w, res)
}

// printTargets checks the figures against the project's targets.
func printTargets(w io.Writer, res *results) {
	br := res.mode(bridgeMode)
	if br == nil || !br.Available {
		return
	}
	ratio := func(mode string, f func(*modeResult) *stat) (float64, bool) {
		m := res.mode(mode)
		if m == nil || !m.Available {
			return 0, false
		}
		a, b := f(m), f(br)
		if a == nil || b == nil || len(a.Runs) == 0 || b.Median == 0 {
			return 0, false
		}
		return a.Median / b.Median, true
	}
	two := func(m *modeResult) *stat { return layoutStat(m.TwoCores, delivered) }
	cpu := func(m *modeResult) *stat { return layoutStat(m.TwoCores, cpuNs) }
	tcpf := func(m *modeResult) *stat { return m.TCPGbps }
	p50 := func(m *modeResult) *stat { return m.P50us }
	p99 := func(m *modeResult) *stat { return m.P99us }
	ping := func(m *modeResult) *stat { return m.FirstPingUs }
	type target struct {
		what  string
		mode  string
		f     func(*modeResult) *stat
		bound float64
		atMin bool // the ratio must be at least bound (else at most)
	}
	targets := []target{
		{"fast path xdp frames/s", "xswitch fastpath xdp", two, 1.5, true},
		{"fast path xdp CPU/frame", "xswitch fastpath xdp", cpu, 0.65, false},
		{"fast path tc frames/s", "xswitch fastpath tc", two, 1.35, true},
		{"userspace afxdp frames/s", "xswitch userspace afxdp", two, 1.7, true},
		{"userspace afpacket frames/s", "xswitch userspace afpacket", two, 1.0, true},
		{"TCP, fast path tc", "xswitch fastpath tc", tcpf, 0.95, true},
		{"TCP, fast path xdp", "xswitch fastpath xdp", tcpf, 0.95, true},
		{"TCP, userspace afpacket", "xswitch userspace afpacket", tcpf, 0.5, true},
		{"TCP, userspace afxdp", "xswitch userspace afxdp", tcpf, 0.5, true},
		{"p99 latency, fast path tc", "xswitch fastpath tc", p99, 1.2, false},
		{"p50 latency, userspace afpacket", "xswitch userspace afpacket", p50, 1.5, false},
		{"p99 latency, userspace afpacket", "xswitch userspace afpacket", p99, 1.5, false},
		{"p50 latency, userspace afxdp", "xswitch userspace afxdp", p50, 1.5, false},
		{"p99 latency, userspace afxdp", "xswitch userspace afxdp", p99, 1.5, false},
		{"first ping after a flush, fast path tc", "xswitch fastpath tc", ping, 2, false},
		{"first ping after a flush, fast path xdp", "xswitch fastpath xdp", ping, 2, false},
		{"first ping after a flush, userspace afpacket", "xswitch userspace afpacket", ping, 2, false},
		{"first ping after a flush, userspace afxdp", "xswitch userspace afxdp", ping, 2, false},
	}
	fmt.Fprintln(w, "\ntargets (ratio to the kernel bridge, two-core layout for frames):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range targets {
		r, ok := ratio(t.mode, t.f)
		if !ok {
			continue
		}
		op, met := "≥", r >= t.bound
		if !t.atMin {
			op, met = "≤", r <= t.bound
		}
		verdict := "met"
		if !met {
			verdict = "NOT met"
		}
		fmt.Fprintf(tw, "  %s\t%s %.2f\t%.2f×\t%s\n", t.what, op, t.bound, r, verdict)
	}
	portsTargets(tw, res)
	tw.Flush()
}

// write stores results.json and one PNG chart per sweep in dir.
func write(dir string, res *results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for _, sw := range res.Sweeps {
		name := "sweep-" + strings.ReplaceAll(sw.Name, " ", "-")
		charts := []chartDef{{name, "", "frames/s delivered", func(p point) (float64, bool) { return p.Delivered, true }}}
		if sw.Name == "ports" {
			charts = append(charts, portsCharts(name)...)
		}
		for _, c := range charts {
			if err := chart(filepath.Join(dir, c.file+".png"), res, sw, c); err != nil {
				return fmt.Errorf("chart of %s: %w", sw.Name, err)
			}
		}
	}
	return nil
}

// chartDef is a chart of a sweep: one line per mode of y over the points
// that have it.
type chartDef struct {
	file   string
	what   string // added to the title
	ylabel string
	y      func(point) (float64, bool)
}

func chart(file string, res *results, sw *sweep, c chartDef) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("xswitch bench: sweep of %s%s (%s, Linux %s)", sw.Name, c.what, res.Date[:10], res.Kernel)
	p.X.Label.Text = sw.XLabel
	p.Y.Label.Text = c.ylabel
	if sw.Name != "frame size" {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	palette := []color.Color{
		color.RGBA{0x33, 0x33, 0x33, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x1f, 0x77, 0xb4, 0xff},
		color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	}
	lines := 0
	for i, m := range res.Modes {
		var xys plotter.XYs
		for _, pt := range sw.Modes[m.Mode] {
			if y, ok := c.y(pt); ok {
				xys = append(xys, plotter.XY{X: pt.X, Y: y})
			}
		}
		if len(xys) == 0 {
			continue
		}
		lines++
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		col := palette[i%len(palette)]
		l.Color, s.Color = col, col
		l.Width = vg.Points(1.5)
		s.Shape = draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add(m.Mode, l, s)
	}
	if lines == 0 {
		return nil // no mode has the figure: no chart
	}
	p.Y.Min = 0
	return p.Save(9*vg.Inch, 5*vg.Inch, file)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/control"
)

// clearScreen moves the cursor home and clears the terminal: each screen
// of top replaces the last, as top(1) does.
const clearScreen = "\x1b[H\x1b[2J"

func (cl *cli) top(args []string) error {
	fs := cl.flags("xswitchctl top", "[BRIDGE]", "Per-port rates, refreshed every interval, the busiest first: frames and bits per second received\n"+
		"(fast path included) and sent, the fast path's share of what was received, drops per second by reason.\n"+
		"On a terminal each screen replaces the last; otherwise the tables follow each other.")
	n := fs.Int("n", 0, "stop after `N` screens (0: until interrupted)")
	every := fs.Duration("d", time.Second, "`interval` between screens")
	pos, err := fs.parse(args, 0, 1)
	if err != nil {
		return err
	}
	switch {
	case *n < 0:
		return usageError{fs: fs, msg: "-n: want 0 or more screens"}
	case *every <= 0:
		return usageError{fs: fs, msg: "-d: want an interval above 0"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, tty := terminalRows(cl.stdout)
	q := bridgeQuery(pos)
	prev, at, err := cl.samplePorts(q)
	if err != nil {
		return err
	}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for i := 0; *n == 0 || i < *n; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cur, now, err := cl.samplePorts(q)
		if err != nil {
			return err
		}
		list := rates(prev, cur, now.Sub(at))
		var buf bytes.Buffer
		switch {
		case cl.asJSON:
			err = json.NewEncoder(&buf).Encode(topJSON{Time: now, Interval: now.Sub(at).Seconds(), Ports: list})
		case tty:
			buf.WriteString(clearScreen)
			writeTop(&buf, now, *every, list, rows)
		default:
			if i > 0 {
				buf.WriteString("\n")
			}
			writeTop(&buf, now, *every, list, 0)
		}
		if err != nil {
			return err
		}
		if _, err := cl.stdout.Write(buf.Bytes()); err != nil {
			return err
		}
		prev, at = cur, now
	}
	return nil
}

// topJSON is one screen of top -json, one JSON document a line.
type topJSON struct {
	Time     time.Time  `json:"time"`
	Interval float64    `json:"interval_seconds"`
	Ports    []portRate `json:"ports"`
}

// samplePorts reads the counters of every port (of the bridge q names)
// and when. -timeout bounds each call: top runs for longer.
func (cl *cli) samplePorts(q url.Values) ([]control.Port, time.Time, error) {
	cl.deadline = time.Time{}
	c, ctx, cancel := cl.client()
	defer cancel()
	var v []control.Port
	if err := c.Get(ctx, "/v1/ports", q, &v); err != nil {
		return nil, time.Time{}, cl.failed(err, "", "")
	}
	return v, time.Now(), nil
}

// terminalRows returns the height of the terminal w writes to, if it is
// one.
func terminalRows(w io.Writer) (rows int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile {
		return 0, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, false
	}
	return int(ws.Row), true
}

// writeTop writes one screen: a summary line and the ports' table, cut to
// maxRows lines in all when maxRows is above 0 (the busiest stay).
func writeTop(w io.Writer, now time.Time, every time.Duration, list []portRate, maxRows int) {
	var sum portRate
	var fast float64
	for _, r := range list {
		sum.RxFrames += r.RxFrames
		sum.RxBits += r.RxBits
		sum.TxFrames += r.TxFrames
		sum.TxBits += r.TxBits
		sum.Drops += r.Drops
		fast += r.FastShare * r.RxFrames
	}
	fmt.Fprintf(w, "%s  every %v  %d ports  rx %s frames/s %sb/s  tx %s frames/s %sb/s  fast path %s  drops %s/s\n",
		now.Format("15:04:05"), every, len(list), si(sum.RxFrames), si(sum.RxBits), si(sum.TxFrames), si(sum.TxBits),
		share(fast, sum.RxFrames, ""), si(sum.Drops))
	shown := list
	if maxRows > 0 {
		// The summary, the header, the line of the ports not shown, and
		// the line of the cursor.
		shown = list[:max(0, min(len(list), maxRows-4))]
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BRIDGE\tPORT\tDOMID\tRX-FRAMES/S\tRX-BITS/S\tTX-FRAMES/S\tTX-BITS/S\tFAST-PATH\tDROPS/S\tDROPPED-FOR")
	for _, r := range shown {
		dom := "-"
		switch {
		case r.Uplink:
			dom = "uplink"
		case r.DomID != nil:
			dom = strconv.Itoa(*r.DomID)
		}
		if r.New {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\tnew\n", r.Bridge, r.Port, dom)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Bridge, r.Port, dom,
			si(r.RxFrames), si(r.RxBits), si(r.TxFrames), si(r.TxBits),
			share(r.FastShare*r.RxFrames, r.RxFrames, r.FastPath), si(r.Drops), dropReasons(r.DropsBy))
	}
	tw.Flush()
	if hidden := len(list) - len(shown); hidden > 0 {
		fmt.Fprintf(w, "(%d quieter ports not shown)\n", hidden)
	}
}

// share writes part of whole in percent; "-" without frames, or mode
// (off) for a port without the fast path.
func share(part, whole float64, mode string) string {
	switch {
	case mode == "off":
		return "off"
	case whole == 0:
		return "-"
	}
	return strconv.FormatFloat(100*part/whole, 'f', 0, 64) + "%"
}

// dropReasons writes the drops per second of each reason, the most first:
// "vlan 12.0, spoofed 1.00", or "-".
func dropReasons(by map[string]float64) string {
	if len(by) == 0 {
		return "-"
	}
	reasons := make([]string, 0, len(by))
	for r := range by {
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b string) int {
		if by[a] != by[b] {
			if by[a] > by[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = r + " " + si(by[r])
	}
	return strings.Join(parts, ", ")
}

// Command xswitchctl is the operator's view of a running xswitchd: its
// bridges, ports and counters, and its MAC tables.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control"
)

const usage = `Usage: xswitchctl [flags] command [arguments]

Commands:
  bridges               bridges and their MAC table counters
  ports [bridge]        ports and their counters
  fdb [bridge]          learned and static MAC addresses
  flush bridge [port]   forget the dynamic MACs of a bridge, or all MACs of one port
  takeover IFACE        move dom0's network onto the switch: a NIC ethN becomes
                        the uplink pethN of xenbrN and host port ethN gets its
                        MAC, MTU, addresses and routes; a kernel bridge xenbrN
                        gives its ports to the switch's xenbrN and its
                        addresses and routes to host port xenbrN, and goes
  release IFACE         undo the takeover of IFACE (ethN, pethN or xenbrN):
                        everything goes back where it was
  A takeover or release that fails at any step undoes the steps done and
  exits 1; doing one twice changes nothing and says so. A takeover on
  record but not in force (after a reboot) is made again; releasing one
  not in force only forgets its record.

Flags:
`

func main() {
	fs := flag.NewFlagSet("xswitchctl", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	socket := fs.String("socket", config.DefaultControl, "`path` of xswitchd's control socket")
	asJSON := fs.Bool("json", false, "print the daemon's JSON answer")
	failAt := fs.Int("fail-at", 0, "takeover and release: make step `K` fail, to see the rollback at work")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := control.NewClient(*socket)
	cmd, args := fs.Arg(0), fs.Args()[1:]
	q := url.Values{}
	if len(args) > 0 {
		q.Set("bridge", args[0])
	}
	var err error
	switch {
	case cmd == "bridges" && len(args) == 0:
		var v []control.Bridge
		if err = c.Get(ctx, "/v1/bridges", nil, &v); err == nil {
			show(*asJSON, v, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "BRIDGE\tPORTS\tMACS\tLEARNED\tMOVED\tAGED\tEVICTED\tREFUSED")
				for _, b := range v {
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", b.Name, b.Ports, b.FDBEntries, b.Learned, b.Moved, b.Aged, b.Evicted, b.Refused)
				}
			})
		}
	case cmd == "ports" && len(args) <= 1:
		var v []control.Port
		if err = c.Get(ctx, "/v1/ports", q, &v); err == nil {
			show(*asJSON, v, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "BRIDGE\tPORT\tDOMID\tKIND\tFASTPATH\tFAST-PKTS\tRX-PKTS\tRX-BYTES\tTX-PKTS\tTX-BYTES\tFLOODED\tDROPS")
				for _, p := range v {
					dom := "-"
					if p.DomID != nil {
						dom = strconv.Itoa(*p.DomID)
					}
					if p.Uplink {
						dom = "uplink"
					}
					var drops uint64
					for _, n := range p.Drops {
						drops += n
					}
					kind := p.Kind
					if p.AFXDP != nil {
						kind += "/" + p.AFXDP.Socket // how its sockets are bound
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p.Bridge, p.Name, dom, kind, p.FastPath, p.FastPathPackets, p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.Flooded, drops)
				}
			})
		}
	case cmd == "fdb" && len(args) <= 1:
		var v []control.FDBEntry
		if err = c.Get(ctx, "/v1/fdb", q, &v); err == nil {
			show(*asJSON, v, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "BRIDGE\tVLAN\tMAC\tPORT\tAGE")
				for _, e := range v {
					age := fmt.Sprintf("%.1fs", e.AgeSeconds)
					if e.Static {
						age = "static"
					}
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", e.Bridge, e.VLAN, e.MAC, e.Port, age)
				}
			})
		}
	case cmd == "flush" && (len(args) == 1 || len(args) == 2):
		if len(args) == 2 {
			q.Set("port", args[1])
		}
		var v control.Flushed
		if err = c.Post(ctx, "/v1/fdb/flush", q, &v); err == nil {
			fmt.Printf("%d entries removed\n", v.Removed)
		}
	case (cmd == "takeover" || cmd == "release") && len(args) == 1:
		q = url.Values{"interface": {args[0]}}
		if *failAt > 0 {
			q.Set("fail-at", strconv.Itoa(*failAt))
		}
		var v control.Takeover
		if err = c.Post(ctx, "/v1/"+cmd, q, &v); err == nil {
			showTakeover(*asJSON, v)
		}
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "xswitchctl: %v\n", err)
		os.Exit(1)
	}
}

func show(asJSON bool, v any, table func(*tabwriter.Writer)) {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(v)
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	table(w)
	w.Flush()
}

// showTakeover prints what a takeover or release moved.
func showTakeover(asJSON bool, v control.Takeover) {
	if asJSON {
		show(true, v, nil)
		return
	}
	fmt.Println(v.Message)
	if !v.Changed {
		return
	}
	for _, a := range v.Addresses {
		fmt.Printf("  address %s\n", a)
	}
	for _, r := range v.Routes {
		fmt.Printf("  route %s\n", r)
	}
	fmt.Printf("  %d steps; dom0's addresses were unreachable for %.1f ms\n", len(v.Steps), v.OutageMS)
}

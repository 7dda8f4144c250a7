package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/xswitch/xswitch/internal/control"
)

// fetch makes a call of xswitchd. With -json it prints the answer as it
// came and returns done; otherwise it decodes the answer into v.
func (cl *cli) fetch(call func(context.Context, *control.Client, *json.RawMessage) error, v any) (done bool, err error) {
	c, ctx, cancel := cl.client()
	defer cancel()
	var raw json.RawMessage
	if err := call(ctx, c, &raw); err != nil {
		return false, err
	}
	if cl.asJSON {
		fmt.Fprintf(cl.stdout, "%s\n", raw)
		return true, nil
	}
	return false, json.Unmarshal(raw, v)
}

// get fetches endpoint, as fetch.
func (cl *cli) get(endpoint string, q url.Values, v any) (done bool, err error) {
	return cl.fetch(func(ctx context.Context, c *control.Client, raw *json.RawMessage) error {
		return c.Get(ctx, endpoint, q, raw)
	}, v)
}

// table prints a table with aligned columns.
func (cl *cli) table(rows func(w *tabwriter.Writer)) {
	w := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	rows(w)
	w.Flush()
}

// bridgeQuery is the query of a command's optional BRIDGE argument.
func bridgeQuery(pos []string) url.Values {
	q := url.Values{}
	if len(pos) > 0 {
		q.Set("bridge", pos[0])
	}
	return q
}

func (cl *cli) bridges(args []string) error {
	fs := cl.flags("xswitchctl bridges", "", "Bridges and their MAC table counters.")
	if _, err := fs.parse(args, 0, 0); err != nil {
		return err
	}
	var v []control.Bridge
	if done, err := cl.get("/v1/bridges", nil, &v); done || err != nil {
		return cl.failed(err, "", "")
	}
	cl.table(func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "BRIDGE\tPORTS\tMACS\tLEARNED\tMOVED\tAGED\tEVICTED\tREFUSED")
		for _, b := range v {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", b.Name, b.Ports, b.FDBEntries, b.Learned, b.Moved, b.Aged, b.Evicted, b.Refused)
		}
	})
	return nil
}

func (cl *cli) ports(args []string) error {
	return cl.listPorts("xswitchctl ports", args)
}

// listPorts is the ports command and port list.
func (cl *cli) listPorts(name string, args []string) error {
	fs := cl.flags(name, "[BRIDGE]", "Ports of all bridges or of BRIDGE: their VLANs, isolation, anti-spoofing and counters.")
	pos, err := fs.parse(args, 0, 1)
	if err != nil {
		return err
	}
	var v []control.Port
	if done, err := cl.get("/v1/ports", bridgeQuery(pos), &v); done || err != nil {
		return cl.failed(err, "", "")
	}
	cl.table(func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "BRIDGE\tPORT\tDOMID\tKIND\tVLAN\tISOLATED\tANTISPOOF\tFASTPATH\tBLOCKED\tFAST-PKTS\tRX-PKTS\tRX-BYTES\tTX-PKTS\tTX-BYTES\tFLOODED\tDROPS")
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
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p.Bridge, p.Name, dom, kind,
				orDash(p.VLAN), yesNo(p.Isolated), yesNo(p.AntiSpoof), p.FastPath, blocked(p),
				p.FastPathPackets, p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.Flooded, drops)
		}
	})
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (cl *cli) fdb(args []string) error {
	fs := cl.flags("xswitchctl fdb", "[BRIDGE]", "Learned and static MAC addresses of all bridges or of BRIDGE.")
	pos, err := fs.parse(args, 0, 1)
	if err != nil {
		return err
	}
	var v []control.FDBEntry
	if done, err := cl.get("/v1/fdb", bridgeQuery(pos), &v); done || err != nil {
		return cl.failed(err, "", "")
	}
	cl.table(func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "BRIDGE\tVLAN\tMAC\tPORT\tAGE")
		for _, e := range v {
			age := fmt.Sprintf("%.1fs", e.AgeSeconds)
			if e.Static {
				age = "static"
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", e.Bridge, e.VLAN, e.MAC, e.Port, age)
		}
	})
	return nil
}

func (cl *cli) flush(args []string) error {
	fs := cl.flags("xswitchctl flush", "BRIDGE [PORT]", "Forget the dynamic MACs of BRIDGE, or all MACs of its port PORT.")
	pos, err := fs.parse(args, 1, 2)
	if err != nil {
		return err
	}
	q := bridgeQuery(pos)
	if len(pos) == 2 {
		q.Set("port", pos[1])
	}
	var v control.Flushed
	done, err := cl.fetch(func(ctx context.Context, c *control.Client, raw *json.RawMessage) error {
		return c.Post(ctx, "/v1/fdb/flush", q, raw)
	}, &v)
	if done || err != nil {
		return cl.failed(err, "", "")
	}
	fmt.Fprintf(cl.stdout, "%d entries removed\n", v.Removed)
	return nil
}

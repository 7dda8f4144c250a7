package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/xswitch/xswitch/internal/control"
)

const traceAbout = `Say what BRIDGE would do with a frame entering on port PORT, and why: the
port's eBPF fast path's verdict, the MAC table entries consulted, and the
ports the frame leaves on with their tags. Nothing is sent or learned.
  in=PORT        the ingress port (required)
  src=MAC        source MAC (required)
  dst=MAC        destination MAC (required; ff:ff:ff:ff:ff:ff for a broadcast)
  vlan=N         the 802.1Q tag the frame carries on the wire (default: none)
  type=T         ipv4 (default), ipv6, arp, or an ethertype such as 0x88b5
  src_ip=ADDR    the IP (or ARP sender) source address, for anti-spoofing
  dst_ip=ADDR    the IP destination (or ARP target) address`

func (cl *cli) trace(args []string) error {
	fs := cl.flags("xswitchctl trace", "BRIDGE in=PORT src=MAC dst=MAC [vlan=N] [type=T] [src_ip=ADDR] [dst_ip=ADDR]", traceAbout)
	pos, err := fs.parse(args, 4, 8)
	if err != nil {
		return err
	}
	req := control.TraceRequest{Bridge: pos[0]}
	for _, kv := range pos[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return usageError{fs: fs, msg: fmt.Sprintf("%q: want key=value", kv)}
		}
		switch k {
		case "in":
			req.In = v
		case "src":
			req.Src = v
		case "dst":
			req.Dst = v
		case "vlan":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return usageError{fs: fs, msg: fmt.Sprintf("vlan=%s: want a number", v)}
			}
			req.VLAN = uint16(n)
		case "type":
			req.Type = v
		case "src_ip":
			req.SrcIP = v
		case "dst_ip":
			req.DstIP = v
		default:
			return usageError{fs: fs, msg: fmt.Sprintf("%q: unknown key %q", kv, k)}
		}
	}
	if req.In == "" || req.Src == "" || req.Dst == "" {
		return usageError{fs: fs, msg: "want in=PORT, src=MAC and dst=MAC"}
	}
	if _, err := req.Frame(); err != nil {
		return usageError{fs: fs, msg: strings.TrimPrefix(err.Error(), control.ErrInvalid.Error()+": ")}
	}
	var t control.Trace
	done, err := cl.fetch(func(ctx context.Context, c *control.Client, raw *json.RawMessage) error {
		return c.PostJSON(ctx, "/v1/trace", req, raw)
	}, &t)
	if done || err != nil {
		return cl.failed(err, "trace", req.In)
	}
	cl.printTrace(req, t)
	return nil
}

// printTrace writes a trace as an operator reads it: from the wire to the
// egress ports.
func (cl *cli) printTrace(req control.TraceRequest, t control.Trace) {
	w := cl.stdout
	tag := "untagged"
	if req.VLAN != 0 {
		tag = fmt.Sprintf("tagged %d", req.VLAN)
	}
	fmt.Fprintf(w, "frame: %s -> %s, %s, in on %s of %s\n", req.Src, req.Dst, tag, t.In, t.Bridge)
	if fp := t.FastPath; fp != nil {
		line := fmt.Sprintf("fast path (%s): %s", fp.Mode, fp.Verdict)
		if fp.Egress != "" {
			line += " to " + fp.Egress
		}
		if fp.Reason != "" {
			line += " (" + fp.Reason + ")"
		}
		fmt.Fprintln(w, line)
		if fp.Verdict == "redirect" || fp.Verdict == "drop" {
			fmt.Fprintln(w, "userspace: would do the following if the frame reached it")
		}
	} else {
		fmt.Fprintln(w, "fast path: no verdict (the port has no fast path, or is an AF_XDP port, whose program is not traced)")
	}
	if t.Source == nil {
		fmt.Fprintf(w, "verdict: %s (%s)\n", t.Verdict, t.Reason)
		return
	}
	fmt.Fprintf(w, "VLAN inside the bridge: %d\n", t.VLAN)
	fmt.Fprintf(w, "source %s: %s; %s\n", t.Source.MAC, entry(t.Source), t.Source.Learn)
	if d := t.Destination; d != nil {
		fmt.Fprintf(w, "destination %s: %s\n", d.MAC, entry(d))
	}
	fmt.Fprintf(w, "verdict: %s (%s)\n", t.Verdict, t.Reason)
	for _, e := range t.Egress {
		fmt.Fprintf(w, "  out %s, %s\n", e.Port, e.Tag)
	}
	for _, e := range t.Refused {
		fmt.Fprintf(w, "  not %s: %s\n", e.Port, e.Tag)
	}
	for _, m := range t.Mirrored {
		fmt.Fprintf(w, "  copy to %s (mirror)\n", m)
	}
}

// entry describes a MAC table entry in a few words.
func entry(m *control.TraceMAC) string {
	switch {
	case !m.Known:
		return "not in the MAC table"
	case m.Port == "":
		return "in the MAC table on a port that is gone"
	case m.Static:
		return "static on " + m.Port
	}
	return fmt.Sprintf("on %s, seen %.1f s ago", m.Port, m.AgeSeconds)
}

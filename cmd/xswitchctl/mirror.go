package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/xswitch/xswitch/internal/control"
)

const mirrorAbout = `Mirror ports, for an intrusion detection guest:
  mirror add BRIDGE FROM TO [-direction ingress|egress|both]
                          copy the frames FROM receives, sends or both to TO
  mirror del BRIDGE FROM TO
                          stop a mirror added so
  mirror list [BRIDGE]    the mirrors of the configuration file and those added
As in Open vSwitch, TO then takes no other part in switching: it is sent only
the copies, and what it sends is dropped. Mirrors added here are kept across
reload and restart; each verb is idempotent.`

func (cl *cli) mirror(args []string) error {
	return cl.group("mirror", args, mirrorAbout, map[string]command{
		"add":  (*cli).mirrorAdd,
		"del":  (*cli).mirrorDel,
		"list": (*cli).mirrorList,
	})
}

func (cl *cli) mirrorAdd(args []string) error {
	fs := cl.flags("xswitchctl mirror add", "BRIDGE FROM TO", "Copy the frames port FROM of BRIDGE receives, sends or both to port TO.")
	dir := fs.String("direction", "both", "which frames of FROM: `ingress` (received), egress (sent) or both")
	pos, err := fs.parse(args, 3, 3)
	if err != nil {
		return err
	}
	switch *dir {
	case "ingress", "egress", "both":
	default:
		return usageError{fs: fs, msg: fmt.Sprintf("-direction %q: want ingress, egress or both", *dir)}
	}
	return cl.mirrorChange("PUT", control.Mirror{Bridge: pos[0], From: pos[1], To: pos[2], Direction: *dir})
}

func (cl *cli) mirrorDel(args []string) error {
	fs := cl.flags("xswitchctl mirror del", "BRIDGE FROM TO", "Stop mirroring port FROM of BRIDGE to TO (a mirror added at run time).")
	pos, err := fs.parse(args, 3, 3)
	if err != nil {
		return err
	}
	return cl.mirrorChange("DELETE", control.Mirror{Bridge: pos[0], From: pos[1], To: pos[2]})
}

func (cl *cli) mirrorChange(method string, m control.Mirror) error {
	var v control.MirrorChange
	done, err := cl.fetch(func(ctx context.Context, c *control.Client, raw *json.RawMessage) error {
		if method == "PUT" {
			return c.Put(ctx, "/v1/mirrors", m, raw)
		}
		return c.Delete(ctx, "/v1/mirrors", m, raw)
	}, &v)
	what := fmt.Sprintf("mirror of %s to %s on %s", m.From, m.To, m.Bridge)
	if done || err != nil {
		return cl.failed(err, what, m.From)
	}
	cl.said(v.Message, v.Changed, what, "done")
	return nil
}

func (cl *cli) mirrorList(args []string) error {
	fs := cl.flags("xswitchctl mirror list", "[BRIDGE]", "The port mirrors of all bridges or of BRIDGE.")
	pos, err := fs.parse(args, 0, 1)
	if err != nil {
		return err
	}
	var v []control.Mirror
	if done, err := cl.get("/v1/mirrors", bridgeQuery(pos), &v); done || err != nil {
		return cl.failed(err, "", "")
	}
	cl.table(func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "BRIDGE\tFROM\tTO\tDIRECTION\tSET BY\tSTATE")
		for _, m := range v {
			by, state := "file", "waiting for its ports"
			if m.Runtime {
				by = "xswitchctl"
			}
			if m.Active {
				state = "copying"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Bridge, m.From, m.To, m.Direction, by, state)
		}
	})
	return nil
}

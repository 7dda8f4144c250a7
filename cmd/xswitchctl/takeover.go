package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/xswitch/xswitch/internal/control"
)

func (cl *cli) takeover(args []string) error {
	return cl.moveNetwork("takeover", args, "Move dom0's network onto the switch: a NIC ethN becomes the uplink pethN of xenbrN and\n"+
		"host port ethN gets its MAC, MTU, addresses and routes; a kernel bridge xenbrN gives its ports\n"+
		"to the switch's xenbrN and its addresses and routes to host port xenbrN, and goes.")
}

func (cl *cli) release(args []string) error {
	return cl.moveNetwork("release", args, "Undo the takeover of IFACE (ethN, pethN or xenbrN): everything goes back where it was.")
}

// moveNetwork is takeover and release.
func (cl *cli) moveNetwork(verb string, args []string, about string) error {
	fs := cl.flags("xswitchctl "+verb, "IFACE", about+"\nOne that fails at any step undoes the steps done and exits 1.")
	fs.IntVar(&cl.failAt, "fail-at", cl.failAt, "make step `K` fail, to see the rollback at work")
	pos, err := fs.parse(args, 1, 1)
	if err != nil {
		return err
	}
	q := url.Values{"interface": {pos[0]}}
	if cl.failAt > 0 {
		q.Set("fail-at", strconv.Itoa(cl.failAt))
	}
	var v control.Takeover
	done, err := cl.fetch(func(ctx context.Context, c *control.Client, raw *json.RawMessage) error {
		return c.Post(ctx, "/v1/"+verb, q, raw)
	}, &v)
	if done || err != nil {
		return cl.failed(err, "", "")
	}
	fmt.Fprintln(cl.stdout, v.Message)
	if !v.Changed {
		return nil
	}
	for _, a := range v.Addresses {
		fmt.Fprintf(cl.stdout, "  address %s\n", a)
	}
	for _, r := range v.Routes {
		fmt.Fprintf(cl.stdout, "  route %s\n", r)
	}
	fmt.Fprintf(cl.stdout, "  %d steps; dom0's addresses were unreachable for %.1f ms\n", len(v.Steps), v.OutageMS)
	return nil
}

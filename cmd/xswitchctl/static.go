package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/policy"
)

const staticAbout = `Pin MAC addresses to ports at run time:
  static add BRIDGE MAC PORT [-vlan N]   frames to MAC (in VLAN N) go to PORT only
  static del BRIDGE MAC [-vlan N]        unpin MAC
They are kept across reload and restart. Each is idempotent.`

func (cl *cli) static(args []string) error {
	return cl.group("static", args, staticAbout, map[string]command{
		"add": (*cli).staticAdd,
		"del": (*cli).staticDel,
	})
}

func (cl *cli) staticAdd(args []string) error {
	fs := cl.flags("xswitchctl static add", "BRIDGE MAC PORT", "Pin MAC to port PORT of BRIDGE, in VLAN N.")
	return cl.staticChange(fs, args, 3, "PUT")
}

func (cl *cli) staticDel(args []string) error {
	fs := cl.flags("xswitchctl static del", "BRIDGE MAC", "Unpin MAC of BRIDGE, in VLAN N. One that is not pinned changes nothing.")
	return cl.staticChange(fs, args, 2, "DELETE")
}

// staticChange is static add (PUT, with a port) and static del (DELETE).
func (cl *cli) staticChange(fs *flagSet, args []string, n int, method string) error {
	var vlan uint16
	fs.Func("vlan", "the `N` of the VLAN inside the bridge: 0 (untagged, the default) to 4094", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil || v > policy.MaxVID {
			return fmt.Errorf("want a number from 0 to %d", policy.MaxVID)
		}
		vlan = uint16(v)
		return nil
	})
	pos, err := fs.parse(args, n, n)
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(pos[1])
	if err != nil || len(mac) != 6 {
		return usageError{fs: fs, msg: fmt.Sprintf("MAC %q: want an Ethernet address", pos[1])}
	}
	s := control.Static{Bridge: pos[0], MAC: mac.String(), VLAN: vlan}
	if n == 3 {
		s.Port = pos[2]
	}
	var v control.StaticChange
	done, err := cl.fetch(func(ctx context.Context, c *control.Client, raw *json.RawMessage) error {
		if method == "PUT" {
			return c.Put(ctx, "/v1/fdb/static", s, raw)
		}
		return c.Delete(ctx, "/v1/fdb/static", s, raw)
	}, &v)
	what := fmt.Sprintf("static MAC %s (VLAN %d) on %s", s.MAC, s.VLAN, s.Bridge)
	if done || err != nil {
		return cl.failed(err, what, s.MAC)
	}
	done2 := "unpinned"
	if s.Port != "" {
		done2 = "pinned to " + s.Port
	}
	cl.said(v.Message, v.Changed, what, done2)
	return nil
}

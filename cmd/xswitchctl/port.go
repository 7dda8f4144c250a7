package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/xswitch/xswitch/internal/control"
)

const portAbout = `Add, change, remove and list the ports of xswitchd at run time:
  port add BRIDGE IFACE [port flags]   make IFACE a port of BRIDGE with these settings
  port set IFACE [port flags]          change the settings given, keeping the others
  port del IFACE                       detach IFACE and forget its settings
  port list [BRIDGE]                   the ports, as the ports command
A port added at run time wins over the naming rule and the configuration
file, and is kept across reload and restart. Each is idempotent.`

func (cl *cli) port(args []string) error {
	return cl.group("port", args, portAbout, map[string]command{
		"add":  (*cli).portAdd,
		"set":  (*cli).portSet,
		"del":  (*cli).portDel,
		"list": func(cl *cli, args []string) error { return cl.listPorts("xswitchctl port list", args) },
	})
}

// group runs the verb of a group of commands (port, static).
func (cl *cli) group(name string, args []string, about string, verbs map[string]command) error {
	fs := cl.flags("xswitchctl "+name, "VERB [arguments]", about)
	if err := fs.parseFlags(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{fs: fs, msg: "no verb"}
	}
	verb, ok := verbs[fs.Arg(0)]
	if !ok {
		return usageError{fs: fs, msg: fmt.Sprintf("unknown verb %q", fs.Arg(0))}
	}
	return verb(cl, fs.Args()[1:])
}

func (cl *cli) portAdd(args []string) error {
	fs := cl.flags("xswitchctl port add", "BRIDGE IFACE", "Make interface IFACE a port of BRIDGE with these settings, or bring it to them.\n"+
		"Without -access, -trunk or -vlan the port is transparent: frames keep their tags.")
	f := newPortFlags(fs.FlagSet)
	pos, err := fs.parse(args, 2, 2)
	if err != nil {
		return err
	}
	f.read(fs.FlagSet)
	spec := control.PortSpec{Bridge: pos[0]}
	if err := f.apply(&spec); err != nil {
		return usageError{fs: fs, msg: err.Error()}
	}
	return cl.putPort(pos[1], spec)
}

func (cl *cli) portSet(args []string) error {
	fs := cl.flags("xswitchctl port set", "IFACE", "Change the settings of port IFACE that the flags give; the others stay as they are.\n"+
		"A change of VLANs, isolation or anti-spoofing applies in place; one of bridge,\n"+
		"fast path or port type attaches the port again.")
	f := newPortFlags(fs.FlagSet)
	fs.StringVar(&f.bridge, "bridge", "", "move the port to bridge `NAME`")
	pos, err := fs.parse(args, 1, 1)
	if err != nil {
		return err
	}
	f.read(fs.FlagSet)
	if len(f.given) == count(f.given["socket"], f.given["json"], f.given["timeout"]) {
		return usageError{fs: fs, msg: "no setting to change"}
	}
	name := pos[0]
	spec, err := cl.portSpec(name)
	if err != nil {
		return cl.failed(err, "port "+name, name)
	}
	if err := f.apply(&spec); err != nil {
		return usageError{fs: fs, msg: err.Error()}
	}
	return cl.putPort(name, spec)
}

// portSpec returns the settings of port name now: what it was asked to be
// when it is a run-time port and the daemon tells, else what it has, with
// the bridge's fast-path mode and port type.
func (cl *cli) portSpec(name string) (control.PortSpec, error) {
	c, ctx, cancel := cl.client()
	defer cancel()
	var ports []control.Port
	if err := c.Get(ctx, "/v1/ports", nil, &ports); err != nil {
		return control.PortSpec{}, err
	}
	for _, p := range ports {
		if p.Name != name {
			continue
		}
		if p.Spec != nil {
			return *p.Spec, nil
		}
		return control.PortSpec{Bridge: p.Bridge, VLAN: p.VLAN, Isolated: p.Isolated, AntiSpoof: p.AntiSpoof, MAC: p.MAC, Allowed: p.Allowed}, nil
	}
	return control.PortSpec{}, errors.New("not a port of xswitchd (port add BRIDGE IFACE adds it)")
}

// putPort asks for port name with spec.
func (cl *cli) putPort(name string, spec control.PortSpec) error {
	var v control.PortChange
	done, err := cl.fetch(func(ctx context.Context, c *control.Client, raw *json.RawMessage) error {
		return c.Put(ctx, "/v1/ports/"+url.PathEscape(name), spec, raw)
	}, &v)
	if done || err != nil {
		return cl.failed(err, "port "+name, name)
	}
	cl.said(v.Message, v.Changed, fmt.Sprintf("port %s on %s", name, spec.Bridge), "set")
	return nil
}

func (cl *cli) portDel(args []string) error {
	fs := cl.flags("xswitchctl port del", "IFACE", "Detach port IFACE and forget its settings. The naming rule and the configuration\n"+
		"file do not attach it again until the interface goes away. One that is not a port\n"+
		"changes nothing; an interface that is gone is fine.")
	pos, err := fs.parse(args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	var v control.PortChange
	done, err := cl.fetch(func(ctx context.Context, c *control.Client, raw *json.RawMessage) error {
		return c.Delete(ctx, "/v1/ports/"+url.PathEscape(name), nil, raw)
	}, &v)
	if done || err != nil {
		return cl.failed(err, "port "+name, name)
	}
	cl.said(v.Message, v.Changed, "port "+name, "removed")
	return nil
}

// said prints the one line that says what a change did: the daemon's
// message, or else what: done, or nothing changed.
func (cl *cli) said(msg string, changed bool, what, done string) {
	switch {
	case msg != "":
	case changed:
		msg = what + ": " + done
	default:
		msg = what + ": nothing changed"
	}
	fmt.Fprintln(cl.stdout, msg)
}

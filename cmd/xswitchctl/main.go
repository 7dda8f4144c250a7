// Command xswitchctl is the operator's view of a running xswitchd: its
// bridges, ports and counters, and its MAC tables; it adds, changes and
// removes ports and static MACs at run time, and takes interfaces over.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control"
)

const usage = `Usage: xswitchctl [flags] command [arguments]

Commands:
  bridges               bridges and their MAC table counters
  ports [BRIDGE]        ports, their VLANs, isolation, anti-spoofing and counters
  fdb [BRIDGE]          learned and static MAC addresses
  top [BRIDGE] [-n N] [-d INTERVAL]
                        per-port rates, refreshed every second, the busiest
                        first: frames and bits per second in and out, the fast
                        path's share, drops per second by reason
  capture PORT [-w FILE|-] [-c N] [-mac M] [-vlan N] [-type T]
                        the frames PORT receives and sends, whichever path
                        forwards them: a line each, or pcapng for tcpdump
  mirror add BRIDGE FROM TO [-direction ingress|egress|both]
  mirror del BRIDGE FROM TO
  mirror list [BRIDGE]  copy the frames of port FROM to port TO, for an IDS guest
  trace BRIDGE in=PORT src=MAC dst=MAC [vlan=N] [type=T] [src_ip=A] [dst_ip=A]
                        what BRIDGE would do with such a frame, and why: the
                        fast path's verdict, the MAC table entries, the
                        egress ports and their tags
  evpn [sessions|vnis|vteps|macs]
                        the BGP EVPN control plane: sessions, local VNIs,
                        remote VTEPs, local and remote MACs
  flush BRIDGE [PORT]   forget the dynamic MACs of a bridge, or all MACs of one port
  port add BRIDGE IFACE [port flags]
                        make IFACE a port of BRIDGE with these settings
  port set IFACE [port flags]
                        change the settings given, keeping the others
  port del IFACE        detach IFACE and forget its settings
  port list [BRIDGE]    as ports
  static add BRIDGE MAC PORT [-vlan N]
                        pin MAC (in VLAN N) to PORT
  static del BRIDGE MAC [-vlan N]
                        unpin MAC
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

  Flags may come before or after a command's arguments; 'xswitchctl
  COMMAND -h' shows a command's own. Port and static MAC changes are
  idempotent: one that is already so changes nothing and says so.
  Exit status: 0 done (or nothing to do), 1 xswitchd refused or failed
  (the reason goes to stderr), 2 the command line is wrong.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// cli is one run of xswitchctl: its global flags and where it writes.
type cli struct {
	stdout, stderr io.Writer
	socket         string
	asJSON         bool
	timeout        time.Duration
	failAt         int
	// deadline ends every call of the run: -timeout bounds the command,
	// not each of its calls. Zero until the first call.
	deadline time.Time
}

// A command runs a verb (or a group of verbs) with the arguments after it.
type command func(cl *cli, args []string) error

var commands = map[string]command{
	"bridges":  (*cli).bridges,
	"ports":    (*cli).ports,
	"fdb":      (*cli).fdb,
	"flush":    (*cli).flush,
	"port":     (*cli).port,
	"static":   (*cli).static,
	"takeover": (*cli).takeover,
	"release":  (*cli).release,
	"top":      (*cli).top,
	"trace":    (*cli).trace,
	"capture":  (*cli).capture,
	"mirror":   (*cli).mirror,
	"evpn":     (*cli).evpn,
}

// run runs xswitchctl with args and returns its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cl := &cli{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("xswitchctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	cl.globalFlags(fs, config.DefaultControl, 10*time.Second)
	fs.IntVar(&cl.failAt, "fail-at", 0, "takeover and release: make step `K` fail, to see the rollback at work")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cmd, ok := commands[fs.Arg(0)]
	if !ok {
		fmt.Fprintf(stderr, "xswitchctl: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	return cl.exit(cmd(cl, fs.Args()[1:]))
}

// globalFlags defines the flags every command takes, before or after it.
func (cl *cli) globalFlags(fs *flag.FlagSet, socket string, timeout time.Duration) {
	fs.StringVar(&cl.socket, "socket", socket, "`path` of xswitchd's control socket")
	fs.BoolVar(&cl.asJSON, "json", cl.asJSON, "print the daemon's JSON answer")
	fs.DurationVar(&cl.timeout, "timeout", timeout, "give up on xswitchd after `duration` (0: wait for ever)")
}

// exit writes what went wrong and returns the exit status.
func (cl *cli) exit(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if ue.fs != nil {
			fmt.Fprintf(cl.stderr, "%s: %s\nUsage: %s ('%s -h' tells more)\n", ue.fs.Name(), ue.msg, ue.fs.synopsis, ue.fs.Name())
		}
		return 2
	}
	fmt.Fprintf(cl.stderr, "xswitchctl: %v\n", err)
	return 1
}

// client returns a client of the socket and the context of a call, which
// ends -timeout after the command's first call.
func (cl *cli) client() (*control.Client, context.Context, context.CancelFunc) {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if cl.timeout > 0 {
		if cl.deadline.IsZero() {
			cl.deadline = time.Now().Add(cl.timeout)
		}
		ctx, cancel = context.WithDeadline(ctx, cl.deadline)
	}
	return control.NewClient(cl.socket), ctx, cancel
}

// failed says why a call of xswitchd failed. A timeout is said so. The
// reason of a port or static MAC call comes without the endpoint and names
// what it was about: subject ("port vif3.0") when it does not name name.
// Other commands (subject "") keep the endpoint in the reason.
func (cl *cli) failed(err error, subject, name string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("xswitchd did not answer within %v (control socket %s)", cl.timeout, cl.socket)
	}
	if subject == "" {
		return err
	}
	msg := err.Error()
	var ae *control.APIError
	if errors.As(err, &ae) {
		msg = ae.Message
	}
	if !strings.Contains(msg, name) {
		msg = subject + ": " + msg
	}
	return errors.New(msg)
}

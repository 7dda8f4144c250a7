// Command xswitchd is the xswitch daemon: a userspace L2 switch that replaces
// the Linux bridge in a Xen dom0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control/server"
	"github.com/xswitch/xswitch/internal/daemon"
	"github.com/xswitch/xswitch/internal/metrics"
	"github.com/xswitch/xswitch/internal/takeover"
	"github.com/xswitch/xswitch/internal/vxlan"
)

const usage = `Usage: xswitchd [flags]

xswitchd switches frames between the interfaces of a Xen dom0: physical
uplinks (pethN) and guest interfaces (vifD.N), in place of the Linux bridge.

Without -config it runs in auto mode: every pethN makes bridge xenbrN with
pethN as its uplink, and vifD.N and vifD.N-emu join xenbrN (a bridge with
guests and no uplink is made when its first vif appears). Interfaces are
attached when they appear and detached when they disappear.

The eBPF fast path forwards learned unicast in the kernel (in auto mode:
native XDP where the driver has it, except on veths; TC ingress otherwise);
the rest reaches the userspace switch. Its maps and programs are pinned under -bpf-pin-dir and stay
attached when xswitchd stops, so guests keep talking across a restart or an
upgrade, and the next xswitchd adopts them. To stop for good, stop xswitchd
and run 'xswitchd -cleanup', which detaches and removes all of it. One
xswitchd at a time runs on a -bpf-pin-dir: a second one, or a -cleanup,
refuses while the first runs and names its pid (the lock is a file in
/run/xswitch that a dead daemon's successor takes over).

A bridge may have a host port: a veth pair whose end in dom0 (ethN) carries
dom0's own addresses on that bridge, while its switch end (xhp-ethN) is a
port of the bridge. In auto mode xenbrN of uplink pethN gets host port ethN
with pethN's MAC and MTU (-host-ports=false: none); a file sets host-port per
bridge. A host port is made when missing and adopted when present, and is
never removed when xswitchd stops: dom0 keeps its addresses, and its learned
unicast keeps flowing in the fast path, across a restart. 'xswitchd -cleanup'
keeps host ports too, unless -remove-host-ports is given.

'xswitchctl takeover ethN' moves dom0's network onto the switch, as Xen's
network-bridge script did: NIC ethN becomes the uplink pethN of xenbrN and
host port ethN takes its MAC, MTU, addresses and routes. 'xswitchctl takeover
xenbrN' migrates a kernel bridge: its ports join the switch's xenbrN, its
addresses and routes move to host port xenbrN, and it is deleted.
'xswitchctl release' undoes either. Takeovers in force are kept in
-takeover-state, so a restarted xswitchd keeps their bridges; at start and at
each resync it takes over again what a reboot gave back (ethN, or kernel
bridge xenbrN) and makes a missing host port again.

SIGHUP reads the -config file again and applies the difference: bridges and
ports added or removed, settings changed; ports whose settings did not change
are not touched. A bad file is refused and logged, and the running
configuration stays. Under systemd (Type=notify, NOTIFY_SOCKET set) xswitchd
says READY=1 once every configured interface present is attached, and
RELOADING=1 and STOPPING=1 as it reloads and stops.

A port receives and sends through an AF_PACKET socket or through AF_XDP
sockets (one per receive queue, sharing a UMEM with the bridge's other
AF_XDP ports). In auto port type an uplink whose driver has native XDP gets
AF_XDP, every other port AF_PACKET.

'xswitchctl port add BRIDGE IFACE' makes an interface a port at run time,
with its VLANs (access or trunk), isolation and anti-spoofing (a Xen
hotplug script does it for each vif); such a port wins over the naming rule
and the file's ports, is changed in place when only those settings change,
and is kept in -port-state across a reload and a restart (not a reboot), as
are static MACs added with 'xswitchctl static add'. 'xswitchctl port del' detaches a port,
and neither the naming rule nor the file attaches it again until its
interface goes away. A file sets the same settings per port under
port-settings.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:]))
}

// options are the command line's flags.
type options struct {
	cfgFile, metricsAddr, controlPath string
	controlGroup                      string
	logLevel                          string
	fastPath, portType                string
	pinDir, tcHook                    string
	check, cleanup                    bool
	hostPorts, removeHostPorts        bool
	takeoverState, portState          string
}

// parseFlags reads the command line; done says to exit with code.
func parseFlags(args []string) (o options, code int, done bool) {
	fs := flag.NewFlagSet("xswitchd", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.cfgFile, "config", "", "YAML configuration `file`; none means auto mode")
	fs.StringVar(&o.metricsAddr, "metrics", "", "listen `address` of /metrics, /healthz and /readyz (overrides the file; default "+config.DefaultMetrics+"; \"off\" disables)")
	fs.StringVar(&o.controlPath, "control", "", "`path` of the control socket (overrides the file; default "+config.DefaultControl+"; \"off\" disables)")
	fs.StringVar(&o.controlGroup, "control-group", "", "`group` (name or number) whose members may use the control socket besides root (overrides the file; default none: the socket is root's alone)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.BoolVar(&o.check, "check", false, "validate the configuration and exit")
	fs.StringVar(&o.fastPath, "fastpath", "", "fast-path `mode` of ports the configuration sets none for: auto, xdp, tc or off (default auto)")
	fs.StringVar(&o.portType, "port-type", "", "socket `type` of ports the configuration sets none for: auto, afpacket or afxdp (default auto)")
	fs.StringVar(&o.pinDir, "bpf-pin-dir", config.DefaultPinDir, "bpffs `directory` of the fast path's pinned maps and links")
	fs.StringVar(&o.tcHook, "tc-hook", "auto", "how TC programs attach: `hook` tcx, clsact, or auto (tcx where the kernel has it, Linux 6.6 and later)")
	fs.BoolVar(&o.cleanup, "cleanup", false, "detach the fast path pinned under -bpf-pin-dir, remove its pins and the VXLAN devices xswitchd made, and exit; run it after stopping xswitchd, in its network namespace. Host ports are kept, with dom0's addresses, unless -remove-host-ports is given")
	fs.BoolVar(&o.removeHostPorts, "remove-host-ports", false, "with -cleanup: also delete every host port (xswitch's veth pairs, found by their alias) and the addresses dom0 has on them")
	fs.BoolVar(&o.hostPorts, "host-ports", true, "in auto mode, give bridge xenbrN of uplink pethN the host port ethN with pethN's MAC and MTU; a file sets host-port per bridge instead")
	fs.StringVar(&o.takeoverState, "takeover-state", takeover.DefaultState, "`file` that keeps the takeovers in force ('xswitchctl takeover'); \"off\" disables takeovers")
	fs.StringVar(&o.portState, "port-state", daemon.DefaultPortState, "`file` that keeps the ports and static MACs added at run time ('xswitchctl port add', 'xswitchctl static add') across restarts; \"off\" keeps them in memory only")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0, true
		}
		return o, 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "xswitchd: unexpected argument %q\n", fs.Arg(0))
		return o, 2, true
	}
	return o, 0, false
}

// exitError is an error that ends xswitchd with its code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// config loads the file (or takes auto mode) and applies the flags that
// override it.
func (o options) config() (*config.Config, error) {
	cfg := config.Auto()
	if o.cfgFile != "" {
		var err error
		if cfg, err = config.Load(o.cfgFile); err == nil {
			err = daemon.Check(cfg)
		}
		if err != nil {
			return nil, &exitError{1, err}
		}
	}
	if o.fastPath != "" {
		m, err := config.ParseMode(o.fastPath)
		if err != nil {
			return nil, &exitError{2, fmt.Errorf("-fastpath: %w", err)}
		}
		if cfg.Auto || !cfg.FastPathSet {
			cfg.FastPath = m
		}
	}
	if o.portType != "" {
		t, err := config.ParsePortType(o.portType)
		if err != nil {
			return nil, &exitError{2, fmt.Errorf("-port-type: %w", err)}
		}
		if cfg.Auto || !cfg.PortTypeSet {
			cfg.PortType = t
		}
	}
	if cfg.Auto {
		cfg.HostPorts = o.hostPorts
	}
	cfg.PinDir = o.pinDir
	hook, err := config.ParseTCHook(o.tcHook)
	if err != nil {
		return nil, &exitError{2, fmt.Errorf("-tc-hook: %w", err)}
	}
	cfg.TCHook = hook
	if o.metricsAddr != "" {
		cfg.Metrics = o.metricsAddr
	}
	if o.controlPath != "" {
		cfg.Control = o.controlPath
	}
	if o.controlGroup != "" {
		cfg.ControlGroup = o.controlGroup
	}
	if cfg.Metrics == "off" {
		cfg.Metrics = ""
	}
	if cfg.Control == "off" {
		cfg.Control = ""
	}
	return cfg, nil
}

func run(args []string) int {
	o, code, done := parseFlags(args)
	if done {
		return code
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "xswitchd: -log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if o.cleanup {
		// Tearing down the fast path of a running daemon would cut its
		// guests off: refuse while one holds the lock.
		l, err := lock(o.pinDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "xswitchd: -cleanup: %v; stop it first\n", err)
			return 1
		}
		defer l.Release()
		if err := bpf.Cleanup(o.pinDir); err != nil {
			fmt.Fprintf(os.Stderr, "xswitchd: -cleanup: %v\n", err)
			return 1
		}
		fmt.Printf("fast path under %s detached and removed\n", o.pinDir)
		if err := cleanupHostPorts(o.removeHostPorts, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "xswitchd: -cleanup: %v\n", err)
			return 1
		}
		removed, err := vxlan.RemoveOwned()
		for _, name := range removed {
			fmt.Printf("tunnel port %s removed\n", name)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "xswitchd: -cleanup: %v\n", err)
			return 1
		}
		return 0
	}
	cfg, err := o.config()
	if err != nil {
		fmt.Fprintf(os.Stderr, "xswitchd: %v\n", err)
		return err.(*exitError).code
	}
	if o.check {
		fmt.Println("configuration ok")
		return 0
	}

	// Before anything that touches the fast path, the ports or the
	// control socket: a second xswitchd would adopt and attach the same.
	l, err := lock(cfg.PinDir)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	defer l.Release()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reloads := metrics.NewReloads(time.Now())
	svc := newService(o, reloads, log)

	if o.portState != "off" {
		if err := daemon.LoadPortState(cfg, o.portState, log); err != nil {
			log.Error("cannot read the ports added at run time", "err", err)
			return 1
		}
	}
	d := daemon.New(cfg, log)
	if o.takeoverState != "off" {
		if err := d.LoadTakeovers(o.takeoverState); err != nil {
			log.Error("cannot read the takeovers in force", "err", err)
			return 1
		}
	}
	servers, err := serve(cfg, d, reloads, log)
	defer func() {
		for _, srv := range servers {
			srv.Close()
		}
	}()
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	if cfg.Control != "" {
		defer os.Remove(cfg.Control)
	}
	mode := "auto"
	if !cfg.Auto {
		mode = cfg.Source
	}
	log.Info("xswitchd started", "config", mode)
	go svc.run(ctx, d)
	err = d.Run(ctx)
	stop()
	<-svc.done
	if err != nil {
		log.Error("xswitchd stopped", "err", err)
		return 1
	}
	if d.FastPathLoaded() {
		log.Info("xswitchd stopped, every socket released; the fast path stays attached for the next xswitchd ('xswitchd -cleanup' removes it)", "pin_dir", cfg.PinDir)
	} else {
		log.Info("xswitchd stopped, every port released")
	}
	return 0
}

// serve starts the /metrics and control servers the configuration asks for.
// It returns the servers it started, also when a later one fails.
func serve(cfg *config.Config, d *daemon.Daemon, reloads *metrics.Reloads, log *slog.Logger) ([]*http.Server, error) {
	var servers []*http.Server
	start := func(what string, l net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error(what+" server failed", "err", err)
			}
		}()
	}
	if cfg.Metrics != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(metrics.NewCollector(d), reloads, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		l, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			return servers, fmt.Errorf("cannot serve metrics on %s: %w", cfg.Metrics, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		metrics.HandleHealth(mux, d)
		start("metrics", l, mux)
		log.Info("serving metrics", "addr", l.Addr().String())
	}
	if cfg.Control != "" {
		l, err := server.Listen(cfg.Control, cfg.ControlGroup)
		if err != nil {
			return servers, fmt.Errorf("cannot open the control socket: %w", err)
		}
		start("control", l, server.Handler(d))
		log.Info("serving control API", "socket", cfg.Control, "group", cfg.ControlGroup)
	}
	return servers, nil
}

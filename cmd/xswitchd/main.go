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
and run 'xswitchd -cleanup', which detaches and removes all of it.

A port receives and sends through an AF_PACKET socket or through AF_XDP
sockets (one per receive queue, sharing a UMEM with the bridge's other
AF_XDP ports). In auto port type an uplink whose driver has native XDP gets
AF_XDP, every other port AF_PACKET.

Flags:
`

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("xswitchd", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	cfgFile := fs.String("config", "", "YAML configuration `file`; none means auto mode")
	metricsAddr := fs.String("metrics", "", "listen `address` of /metrics (overrides the file; default "+config.DefaultMetrics+"; \"off\" disables)")
	controlPath := fs.String("control", "", "`path` of the control socket (overrides the file; default "+config.DefaultControl+"; \"off\" disables)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	check := fs.Bool("check", false, "validate the configuration and exit")
	fastPath := fs.String("fastpath", "", "fast-path `mode` of ports the configuration sets none for: auto, xdp, tc or off (default auto)")
	portType := fs.String("port-type", "", "socket `type` of ports the configuration sets none for: auto, afpacket or afxdp (default auto)")
	pinDir := fs.String("bpf-pin-dir", config.DefaultPinDir, "bpffs `directory` of the fast path's pinned maps and links")
	tcHook := fs.String("tc-hook", "auto", "how TC programs attach: `hook` tcx, clsact, or auto (tcx where the kernel has it, Linux 6.6 and later)")
	cleanup := fs.Bool("cleanup", false, "detach the fast path pinned under -bpf-pin-dir, remove its pins, and exit; run it after stopping xswitchd, in its network namespace")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "xswitchd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "xswitchd: -log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *cleanup {
		if err := bpf.Cleanup(*pinDir); err != nil {
			fmt.Fprintf(os.Stderr, "xswitchd: -cleanup: %v\n", err)
			return 1
		}
		fmt.Printf("fast path under %s detached and removed\n", *pinDir)
		return 0
	}

	cfg := config.Auto()
	if *cfgFile != "" {
		var err error
		if cfg, err = config.Load(*cfgFile); err == nil {
			err = daemon.Check(cfg)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "xswitchd: %v\n", err)
			return 1
		}
	}
	if *fastPath != "" {
		m, err := config.ParseMode(*fastPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "xswitchd: -fastpath: %v\n", err)
			return 2
		}
		if cfg.Auto || !cfg.FastPathSet {
			cfg.FastPath = m
		}
	}
	if *portType != "" {
		t, err := config.ParsePortType(*portType)
		if err != nil {
			fmt.Fprintf(os.Stderr, "xswitchd: -port-type: %v\n", err)
			return 2
		}
		if cfg.Auto || !cfg.PortTypeSet {
			cfg.PortType = t
		}
	}
	cfg.PinDir = *pinDir
	hook, err := config.ParseTCHook(*tcHook)
	if err != nil {
		fmt.Fprintf(os.Stderr, "xswitchd: -tc-hook: %v\n", err)
		return 2
	}
	cfg.TCHook = hook
	if *metricsAddr != "" {
		cfg.Metrics = *metricsAddr
	}
	if *controlPath != "" {
		cfg.Control = *controlPath
	}
	if cfg.Metrics == "off" {
		cfg.Metrics = ""
	}
	if cfg.Control == "off" {
		cfg.Control = ""
	}
	if *check {
		fmt.Println("configuration ok")
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	d := daemon.New(cfg, log)
	var servers []*http.Server
	serve := func(what string, l net.Listener, h http.Handler) {
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
		reg.MustRegister(metrics.NewCollector(d), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		l, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			log.Error("cannot serve metrics", "addr", cfg.Metrics, "err", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		serve("metrics", l, mux)
		log.Info("serving metrics", "addr", l.Addr().String())
	}
	if cfg.Control != "" {
		l, err := server.Listen(cfg.Control)
		if err != nil {
			log.Error("cannot open the control socket", "err", err)
			return 1
		}
		defer os.Remove(cfg.Control)
		serve("control", l, server.Handler(d))
		log.Info("serving control API", "socket", cfg.Control)
	}
	mode := "auto"
	if !cfg.Auto {
		mode = cfg.Source
	}
	log.Info("xswitchd started", "config", mode)
	err = d.Run(ctx)
	for _, srv := range servers {
		srv.Close()
	}
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

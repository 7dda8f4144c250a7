package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/xswitch/xswitch/internal/daemon"
	"github.com/xswitch/xswitch/internal/metrics"
)

// service tells the service manager (systemd, Type=notify) how xswitchd
// is, and reloads the configuration on SIGHUP. Without NOTIFY_SOCKET the
// notifications are no-ops.
type service struct {
	opts    options
	d       *daemon.Daemon
	reloads *metrics.Reloads
	log     *slog.Logger
	hup     chan os.Signal // SIGHUP, caught from start: its default ends the process
	done    chan struct{}  // closed when run has returned, after STOPPING=1
}

// newService catches SIGHUP at once, so that one sent before the daemon
// runs is handled, not fatal.
func newService(o options, reloads *metrics.Reloads, log *slog.Logger) *service {
	s := &service{opts: o, reloads: reloads, log: log, hup: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(s.hup, syscall.SIGHUP)
	return s
}

// run says READY=1 once the daemon's first resync has attached every port
// present, reloads on SIGHUP, and says STOPPING=1 when ctx ends.
func (s *service) run(ctx context.Context, d *daemon.Daemon) {
	defer close(s.done)
	defer signal.Stop(s.hup)
	s.d = d
	ready := d.Ready()
	isReady := false
	for {
		select {
		case <-ctx.Done():
			s.notify(sd.SdNotifyStopping)
			return
		case <-ready:
			ready, isReady = nil, true
			s.log.Info("every configured interface present is attached: ready")
			s.notify(sd.SdNotifyReady)
		case <-s.hup:
			s.reload(isReady)
		}
	}
}

// reload reads the file again and applies it. Before the first READY=1 it
// says nothing to the service manager: the start is not over.
func (s *service) reload(isReady bool) {
	if s.opts.cfgFile == "" {
		s.log.Info("SIGHUP: auto mode has no configuration file; nothing to reload")
		return
	}
	s.log.Info("SIGHUP: reloading the configuration", "file", s.opts.cfgFile)
	if isReady {
		s.notify(sd.SdNotifyReloading + "\n" + sd.SdNotifyMonotonicUsec())
		defer s.notify(sd.SdNotifyReady)
	}
	cfg, err := s.opts.config()
	if err == nil {
		err = s.d.Reload(cfg)
	}
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			err = ee.err
		}
		s.log.Error("configuration refused; the running one stays", "err", err)
		s.reloads.Failed()
		return
	}
	s.reloads.Succeeded(time.Now())
}

func (s *service) notify(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		s.log.Warn("cannot notify the service manager", "state", state, "err", err)
	}
}

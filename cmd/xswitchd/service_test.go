package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xswitch/xswitch/internal/metrics"
)

// reloadSuccessful reads xswitch_config_last_reload_successful.
func reloadSuccessful(t *testing.T, r *metrics.Reloads) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "xswitch_config_last_reload_successful" {
			return f.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no xswitch_config_last_reload_successful")
	return 0
}

// What SIGHUP does before the daemon is asked anything: in auto mode
// nothing, with a bad file a refusal that names the line.
func TestReloadWithoutDaemon(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "xswitch.yaml")
	if err := os.WriteFile(bad, []byte("bridges:\n  - name: xenbr0\n    aging-time: 5x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file, logged string
		successful         float64
	}{
		{"auto mode", "", "auto mode has no configuration file; nothing to reload", 1},
		{"bad file", bad, "configuration refused; the running one stays", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			r := metrics.NewReloads(time.Now())
			s := &service{opts: options{cfgFile: tt.file}, reloads: r, log: slog.New(slog.NewTextHandler(&log, nil))}
			s.reload(true)
			if !strings.Contains(log.String(), tt.logged) {
				t.Errorf("log %q lacks %q", log.String(), tt.logged)
			}
			if tt.file != "" && !strings.Contains(log.String(), bad+":3: ") {
				t.Errorf("log %q does not name %s:3", log.String(), bad)
			}
			if got := reloadSuccessful(t, r); got != tt.successful {
				t.Errorf("xswitch_config_last_reload_successful = %v, want %v", got, tt.successful)
			}
		})
	}
}

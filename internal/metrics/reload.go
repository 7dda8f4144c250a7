package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reloads exports the outcome of the latest configuration load, named as
// Prometheus names its own (prometheus_config_last_reload_successful): an
// alert on the gauge being 0 catches a file that was changed and refused.
// The load at start counts as a successful one.
type Reloads struct {
	ok, at prometheus.Gauge
}

var _ prometheus.Collector = (*Reloads)(nil)

// NewReloads returns the series, with a successful load at the given time.
func NewReloads(loaded time.Time) *Reloads {
	r := &Reloads{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xswitch_config_last_reload_successful",
			Help: "1 when the latest configuration load (at start or on SIGHUP) succeeded, 0 when the file was refused and the running configuration stayed.",
		}),
		at: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xswitch_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the latest successful configuration load.",
		}),
	}
	r.Succeeded(loaded)
	return r
}

// Succeeded records a configuration applied at the given time.
func (r *Reloads) Succeeded(at time.Time) {
	r.ok.Set(1)
	r.at.Set(float64(at.UnixNano()) / 1e9)
}

// Failed records a configuration refused.
func (r *Reloads) Failed() { r.ok.Set(0) }

// Describe implements prometheus.Collector.
func (r *Reloads) Describe(ch chan<- *prometheus.Desc) {
	r.ok.Describe(ch)
	r.at.Describe(ch)
}

// Collect implements prometheus.Collector.
func (r *Reloads) Collect(ch chan<- prometheus.Metric) {
	r.ok.Collect(ch)
	r.at.Collect(ch)
}

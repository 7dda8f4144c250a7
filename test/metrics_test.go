package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xswitch/xswitch/bpf"
)

// scrape fetches and parses the daemon's /metrics.
func (d *dom0) scrape() map[string]*dto.MetricFamily {
	d.t.Helper()
	resp, err := d.host.HTTPClient().Get("http://127.0.0.1:9417/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		d.t.Fatalf("/metrics does not parse: %v", err)
	}
	return mf
}

// value returns the value of the series of family name whose labels include
// want, and fails when there is not exactly one.
func value(t *testing.T, mf map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := mf[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	var found []float64
	for _, m := range f.Metric {
		match := 0
		for _, l := range m.Label {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match != len(want) {
			continue
		}
		switch {
		case m.Counter != nil:
			found = append(found, m.Counter.GetValue())
		case m.Gauge != nil:
			found = append(found, m.Gauge.GetValue())
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, want, len(found))
	}
	return found[0]
}

func withReason(labels map[string]string, reason string) map[string]string {
	m := map[string]string{"reason": reason}
	for k, v := range labels {
		m[k] = v
	}
	return m
}

// TestMetricsCountWhatWasSent checks the counters against a counted flow;
// with the fast path it also shows that, once both MACs are learned, not one
// frame of a unicast flow reaches userspace.
func TestMetricsCountWhatWasSent(t *testing.T) { forEachMode(t, testMetricsCountWhatWasSent) }

func testMetricsCountWhatWasSent(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif4.0", 1, "10.13.0.1/24")
	b := d.guest("vif5.0", 2, "10.13.0.2/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif4.0=xenbr0", "vif5.0=xenbr0")
	atA, atB := capture(t, a), capture(t, b)

	// Both speak first so both MACs are known and nothing is flooded.
	inject(t, b, marker(a.MAC(), b.MAC(), "hello"))
	exactly(t, atA, "a", tagged("hello"), 1)
	inject(t, a, marker(b.MAC(), a.MAC(), "hello"))
	exactly(t, atB, "b", tagged("hello"), 1)
	before := d.scrape()
	const n = 1000
	for i := range n {
		inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint("m-", i)))
	}
	exactly(t, atB, "b", taggedPrefix("m-"), n)
	after := d.scrape()

	pa := map[string]string{"bridge": "xenbr0", "port": "vif4.0", "domid": "4", "devid": "0"}
	pb := map[string]string{"bridge": "xenbr0", "port": "vif5.0", "domid": "5", "devid": "0"}
	delta := func(name string, labels map[string]string) float64 {
		return value(t, after, name, labels) - value(t, before, name, labels)
	}
	// Through userspace without a fast path; with one, the learned flow
	// never reaches userspace, and the fast path's counters have it all.
	// The receive and transmit series have it whichever path took it.
	fast, xdp := 0.0, 0.0
	if fastPath(mode) != "off" {
		fast = n
	}
	if fastPath(mode) == "xdp" {
		xdp = n
	}
	type check struct {
		name   string
		labels map[string]string
		want   float64
	}
	checks := []check{
		{"xswitch_port_receive_packets_total", pa, n},
		{"xswitch_port_receive_bytes_total", pa, n * 60},
		{"xswitch_port_transmit_packets_total", pb, n},
		{"xswitch_port_transmit_bytes_total", pb, n * 60},
		{"xswitch_port_flooded_packets_total", pa, 0},
		{"xswitch_port_transmit_packets_total", pa, 0},
	}
	if fastPath(mode) != "off" {
		checks = append(checks, []check{
			{"xswitch_port_fastpath_packets_total", pa, fast},
			{"xswitch_port_fastpath_bytes_total", pa, fast * 60},
			{"xswitch_port_fastpath_xdp_packets_total", pa, xdp},
			{"xswitch_port_fastpath_redirect_errors_total", pa, 0},
			{"xswitch_port_fastpath_punt_errors_total", pa, 0},
			{"xswitch_port_fastpath_packets_total", pb, 0},
		}...)
		for _, r := range bpf.PuntReasons {
			checks = append(checks, check{"xswitch_port_fastpath_punts_total", withReason(pa, r), 0})
		}
	}
	// The sockets refused nothing of a flow that fits; each kind reports
	// its own reasons, and AF_PACKET its ring and socket errors.
	if isAFXDP(mode) {
		for _, r := range []string{"too_big", "no_buffer", "invalid", "device_busy", "down", "other"} {
			checks = append(checks, check{"xswitch_port_socket_transmit_errors_total", withReason(pb, r), 0})
		}
	} else {
		for _, r := range []string{"too_big", "busy", "down", "invalid", "other"} {
			checks = append(checks, check{"xswitch_port_socket_transmit_errors_total", withReason(pb, r), 0})
		}
		checks = append(checks, []check{
			{"xswitch_port_afpacket_ring_freezes_total", pa, 0},
			{"xswitch_port_afpacket_socket_errors_total", pa, 0},
		}...)
	}
	for _, c := range checks {
		if got := delta(c.name, c.labels); got != c.want {
			t.Errorf("%s{port=%q}: grew by %v, want %v", c.name, c.labels["port"], got, c.want)
		}
	}
	kind := "afpacket"
	if isAFXDP(mode) {
		kind = "afxdp"
	}
	info := map[string]string{"bridge": "xenbr0", "port": "vif4.0", "domid": "4", "devid": "0", "kind": kind, "uplink": "false", "fastpath": fastPath(mode)}
	if got := value(t, after, "xswitch_port_info", info); got != 1 {
		t.Errorf("xswitch_port_info%v = %v", info, got)
	}
	if !isAFXDP(mode) {
		if got := value(t, after, "xswitch_port_afpacket_last_socket_error", pa); got != 0 {
			t.Errorf("xswitch_port_afpacket_last_socket_error = %v, want 0", got)
		}
	}
	if got := value(t, after, "xswitch_fdb_entries", map[string]string{"bridge": "xenbr0"}); got != 2 {
		t.Errorf("xswitch_fdb_entries = %v, want 2", got)
	}
	if got := value(t, after, "xswitch_fdb_learned_total", map[string]string{"bridge": "xenbr0"}); got != 2 {
		t.Errorf("xswitch_fdb_learned_total = %v, want 2", got)
	}
	if got := value(t, after, "xswitch_bridge_ports", map[string]string{"bridge": "xenbr0"}); got != 2 {
		t.Errorf("xswitch_bridge_ports = %v, want 2", got)
	}
}

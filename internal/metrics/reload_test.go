package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReloads(t *testing.T) {
	start := time.Unix(1700000000, 0)
	r := NewReloads(start)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	expect := func(ok float64, at time.Time) {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range families {
			got[f.GetName()] = f.Metric[0].GetGauge().GetValue()
		}
		want := map[string]float64{
			"xswitch_config_last_reload_successful":                ok,
			"xswitch_config_last_reload_success_timestamp_seconds": float64(at.Unix()),
		}
		if len(got) != len(want) {
			t.Errorf("series %v, want %v", got, want)
		}
		for name, v := range want {
			if got[name] != v {
				t.Errorf("%s = %v, want %v", name, got[name], v)
			}
		}
	}
	expect(1, start)
	r.Failed()
	expect(0, start) // the last success stays
	later := start.Add(time.Minute)
	r.Succeeded(later)
	expect(1, later)
}

package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
)

// loopSource is a source whose vif1.2 is blocked.
type loopSource struct{ source }

func (loopSource) PortLoop(bridge, port string, id fdb.PortID) (PortLoop, bool) {
	if port == "vif1.2" {
		return PortLoop{Blocked: true, Until: time.Now().Add(time.Minute), Blocks: 3, Flaps: 1200}, true
	}
	return PortLoop{Flaps: 7}, true
}

func TestCollectLoop(t *testing.T) {
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0", FDB: fdb.DefaultConfig()}, nil)
	defer br.Close()
	for _, name := range []string{"vif1.0", "vif1.2"} {
		if _, err := br.AddPort(porttest.New(name, 8), dataplane.PortInfo{Name: name, Kind: "porttest"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		src  Source
		want map[string]float64 // name{port} → value; nil: no loop series at all
	}{
		{"a source without loop protection", source{[]*dataplane.Bridge{br}}, nil},
		{"a source with it", loopSource{source{[]*dataplane.Bridge{br}}}, map[string]float64{
			"xswitch_port_blocked{vif1.0}":       0,
			"xswitch_port_blocked{vif1.2}":       1,
			"xswitch_port_blocked_total{vif1.0}": 0,
			"xswitch_port_blocked_total{vif1.2}": 3,
			"xswitch_fdb_flaps_total{vif1.0}":    7,
			"xswitch_fdb_flaps_total{vif1.2}":    1200,
		}},
	} {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(NewCollector(c.src))
		families, err := reg.Gather()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := map[string]float64{}
		for _, f := range families {
			switch f.GetName() {
			case "xswitch_port_blocked", "xswitch_port_blocked_total", "xswitch_fdb_flaps_total":
				for _, m := range f.Metric {
					got[f.GetName()+"{"+label(m, "port")+"}"] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: series %v, want %v", c.name, got, c.want)
		}
		for k, v := range c.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s = %v (%v), want %v", c.name, k, g, ok, v)
			}
		}
	}
}

package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xswitch/xswitch/internal/evpn"
)

// EVPNSource is a Source with a BGP EVPN speaker; EVPN returns nil when
// none runs.
type EVPNSource interface {
	EVPN() *evpn.Speaker
}

var (
	evpnSessionUp   = desc("evpn_session_up", "1 while the BGP session with the neighbor is established, else 0.", "neighbor")
	evpnPrefixesIn  = desc("evpn_session_routes_received", "EVPN routes the neighbor advertised that are in the table now.", "neighbor")
	evpnPrefixesOut = desc("evpn_session_routes_sent", "EVPN routes advertised to the neighbor now.", "neighbor")
	evpnAdvertised  = desc("evpn_routes_advertised_total", "Type-2 and type-3 routes this host advertised.")
	evpnWithdrawn   = desc("evpn_routes_withdrawn_total", "Routes this host withdrew: MACs that aged out, moved or lost their port, VNIs that went.")
	evpnReceived    = desc("evpn_routes_received_total", "Routes received from the neighbors.")
	evpnRemoved     = desc("evpn_routes_removed_total", "Received routes removed: withdrawn by their neighbor, or at the end of the grace period after its session dropped.")
	evpnMACs        = desc("evpn_macs", "MACs in the EVPN table: origin local (advertised) or remote (installed on the tunnel port).", "origin")
	evpnVTEPs       = desc("evpn_remote_vteps", "Remote VTEPs in the flood lists of the local VNIs.")

	evpnDescs = []*prometheus.Desc{evpnSessionUp, evpnPrefixesIn, evpnPrefixesOut, evpnAdvertised, evpnWithdrawn, evpnReceived, evpnRemoved, evpnMACs, evpnVTEPs}
)

// collectEVPN exports the speaker's sessions and routes, if src has one.
func collectEVPN(src Source, ch chan<- prometheus.Metric) {
	es, ok := src.(EVPNSource)
	if !ok {
		return
	}
	sp := es.EVPN()
	if sp == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if ss, err := sp.Sessions(ctx); err == nil {
		for _, s := range ss {
			up := 0.0
			if s.Established {
				up = 1
			}
			gauge(evpnSessionUp, up, s.Neighbor)
			gauge(evpnPrefixesIn, float64(s.Received), s.Neighbor)
			gauge(evpnPrefixesOut, float64(s.Sent), s.Neighbor)
		}
	}
	st := sp.Stats()
	counter(evpnAdvertised, st.Advertised)
	counter(evpnWithdrawn, st.Withdrawn)
	counter(evpnReceived, st.Received)
	counter(evpnRemoved, st.Removed)
	var local, remote float64
	for _, m := range sp.MACs() {
		switch {
		case m.Origin == "local":
			local++
		case m.Installed:
			remote++
		}
	}
	gauge(evpnMACs, local, "local")
	gauge(evpnMACs, remote, "remote")
	var vteps float64
	for _, v := range sp.VNIs() {
		vteps += float64(len(v.Flood))
	}
	gauge(evpnVTEPs, vteps)
}

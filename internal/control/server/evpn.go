package server

import (
	"net/http"

	"github.com/xswitch/xswitch/internal/evpn"
)

// EVPNSource is a Source with a BGP EVPN speaker; EVPN returns nil when
// none runs.
type EVPNSource interface {
	EVPN() *evpn.Speaker
}

// evpnRoutes serves GET /v1/evpn/{sessions,vnis,vteps,macs}.
func evpnRoutes(mux *http.ServeMux, src Source) {
	es, _ := src.(EVPNSource)
	speaker := func(w http.ResponseWriter) *evpn.Speaker {
		var sp *evpn.Speaker
		if es != nil {
			sp = es.EVPN()
		}
		if sp == nil {
			fail(w, http.StatusNotFound, "EVPN is not configured (no evpn block in the configuration)")
		}
		return sp
	}
	mux.HandleFunc("GET /v1/evpn/sessions", func(w http.ResponseWriter, r *http.Request) {
		if sp := speaker(w); sp != nil {
			ss, err := sp.Sessions(r.Context())
			if err != nil {
				failWith(w, err)
				return
			}
			reply(w, nonNil(ss))
		}
	})
	mux.HandleFunc("GET /v1/evpn/vnis", func(w http.ResponseWriter, r *http.Request) {
		if sp := speaker(w); sp != nil {
			reply(w, nonNil(sp.VNIs()))
		}
	})
	mux.HandleFunc("GET /v1/evpn/vteps", func(w http.ResponseWriter, r *http.Request) {
		if sp := speaker(w); sp != nil {
			reply(w, nonNil(sp.VTEPs()))
		}
	})
	mux.HandleFunc("GET /v1/evpn/macs", func(w http.ResponseWriter, r *http.Request) {
		if sp := speaker(w); sp != nil {
			reply(w, nonNil(sp.MACs()))
		}
	})
}

// nonNil returns s, or an empty list for nil, so that JSON has [] rather
// than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

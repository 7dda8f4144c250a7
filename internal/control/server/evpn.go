package server

import (
	"net/http"

	"github.com/xswitch/xswitch/internal/control"
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
			reply(w, convert[evpn.Session, control.EVPNSession](ss, func(s evpn.Session) control.EVPNSession { return control.EVPNSession(s) }))
		}
	})
	mux.HandleFunc("GET /v1/evpn/vnis", func(w http.ResponseWriter, r *http.Request) {
		if sp := speaker(w); sp != nil {
			reply(w, convert(sp.VNIs(), func(v evpn.VNI) control.EVPNVNI { return control.EVPNVNI(v) }))
		}
	})
	mux.HandleFunc("GET /v1/evpn/vteps", func(w http.ResponseWriter, r *http.Request) {
		if sp := speaker(w); sp != nil {
			reply(w, convert(sp.VTEPs(), func(v evpn.VTEP) control.EVPNVTEP { return control.EVPNVTEP(v) }))
		}
	})
	mux.HandleFunc("GET /v1/evpn/macs", func(w http.ResponseWriter, r *http.Request) {
		if sp := speaker(w); sp != nil {
			reply(w, convert(sp.MACs(), func(m evpn.MAC) control.EVPNMAC { return control.EVPNMAC(m) }))
		}
	})
}

// convert maps in with f; never nil, so an empty list is [] in JSON.
func convert[A, B any](in []A, f func(A) B) []B {
	out := make([]B, 0, len(in))
	for _, a := range in {
		out = append(out, f(a))
	}
	return out
}

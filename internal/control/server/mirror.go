package server

import (
	"net/http"

	"github.com/xswitch/xswitch/internal/control"
)

// MirrorControl is a Source that adds and removes port mirrors at run time.
type MirrorControl interface {
	Mirrors(bridge string) ([]control.Mirror, error)
	SetMirror(m control.Mirror) (control.MirrorChange, error)
	DeleteMirror(m control.Mirror) (control.MirrorChange, error)
}

// mirrorRoutes serves GET, PUT and DELETE /v1/mirrors when src is a
// MirrorControl (501 otherwise).
func mirrorRoutes(mux *http.ServeMux, src Source) {
	mc, ok := src.(MirrorControl)
	if !ok {
		no := func(w http.ResponseWriter, r *http.Request) {
			fail(w, http.StatusNotImplemented, "this xswitchd does not mirror ports")
		}
		mux.HandleFunc("GET /v1/mirrors", no)
		mux.HandleFunc("PUT /v1/mirrors", no)
		mux.HandleFunc("DELETE /v1/mirrors", no)
		return
	}
	mux.HandleFunc("GET /v1/mirrors", func(w http.ResponseWriter, r *http.Request) {
		ms, err := mc.Mirrors(r.URL.Query().Get("bridge"))
		if ms == nil {
			ms = []control.Mirror{}
		}
		answer(w, ms, err)
	})
	serve := func(call func(control.Mirror) (control.MirrorChange, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var m control.Mirror
			if err := decode(w, r, &m); err != nil {
				fail(w, http.StatusBadRequest, "mirror: "+err.Error())
				return
			}
			if m.Bridge == "" || m.From == "" || m.To == "" {
				fail(w, http.StatusBadRequest, "mirror: want bridge, from and to")
				return
			}
			ch, err := call(m)
			answer(w, ch, err)
		}
	}
	mux.HandleFunc("PUT /v1/mirrors", serve(mc.SetMirror))
	mux.HandleFunc("DELETE /v1/mirrors", serve(mc.DeleteMirror))
}

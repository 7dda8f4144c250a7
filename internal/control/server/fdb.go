package server

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/control"
)

// fdbRoutes serves GET /v1/fdb, POST /v1/fdb/flush, and PUT and DELETE
// /v1/fdb/static when src is a PortControl (501 otherwise).
func fdbRoutes(mux *http.ServeMux, src Source) {
	mux.HandleFunc("GET /v1/fdb", func(w http.ResponseWriter, r *http.Request) {
		list, ok := bridges(src, w, r)
		if !ok {
			return
		}
		out := []control.FDBEntry{}
		now := fdb.Now()
		for _, b := range list {
			b.FDB().Range(func(e fdb.Entry) bool {
				port, _ := b.PortName(e.Port)
				out = append(out, control.FDBEntry{Bridge: b.Name(), VLAN: e.Key.VID(), MAC: e.Key.MAC().String(), Port: port,
					Static: e.Static, AgeSeconds: time.Duration(now - e.LastSeen).Seconds()})
				return true
			})
		}
		sort.Slice(out, func(i, j int) bool {
			a, b := out[i], out[j]
			if a.Bridge != b.Bridge {
				return a.Bridge < b.Bridge
			}
			if a.VLAN != b.VLAN {
				return a.VLAN < b.VLAN
			}
			return a.MAC < b.MAC
		})
		reply(w, out)
	})
	mux.HandleFunc("POST /v1/fdb/flush", func(w http.ResponseWriter, r *http.Request) {
		list, ok := bridges(src, w, r)
		if !ok {
			return
		}
		port := r.URL.Query().Get("port")
		removed := 0
		found := port == ""
		for _, b := range list {
			if port == "" {
				removed += b.FDB().Flush()
				continue
			}
			for _, p := range b.Ports() {
				if p.Name == port {
					found = true
					removed += b.FDB().FlushPort(p.ID)
				}
			}
		}
		if !found {
			fail(w, http.StatusNotFound, fmt.Sprintf("no port %q", port))
			return
		}
		reply(w, control.Flushed{Removed: removed})
	})
	staticRoutes(mux, src)
}

// staticRoutes serves PUT and DELETE /v1/fdb/static.
func staticRoutes(mux *http.ServeMux, src Source) {
	pc, ok := src.(PortControl)
	if !ok {
		mux.HandleFunc("PUT /v1/fdb/static", notImplemented)
		mux.HandleFunc("DELETE /v1/fdb/static", notImplemented)
		return
	}
	serve := func(call func(control.Static) (control.StaticChange, error), needPort bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var s control.Static
			if err := decode(w, r, &s); err != nil {
				fail(w, http.StatusBadRequest, "static MAC: "+err.Error())
				return
			}
			if s.Bridge == "" || s.MAC == "" || needPort && s.Port == "" {
				want := "bridge and mac"
				if needPort {
					want = "bridge, mac and port"
				}
				fail(w, http.StatusBadRequest, fmt.Sprintf("static MAC %q: want %s", s.MAC, want))
				return
			}
			ch, err := call(s)
			answer(w, ch, err)
		}
	}
	mux.HandleFunc("PUT /v1/fdb/static", serve(pc.SetStatic, true))
	mux.HandleFunc("DELETE /v1/fdb/static", serve(pc.DeleteStatic, false))
}

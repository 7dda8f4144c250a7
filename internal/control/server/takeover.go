package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/takeover"
)

// Takeovers is a Source that also takes interfaces over and releases them
// (the daemon).
type Takeovers interface {
	Takeover(iface string, failAt int) (takeover.Result, error)
	Release(iface string, failAt int) (takeover.Result, error)
}

// takeoverRoutes serves POST /v1/takeover and /v1/release with
// ?interface=NAME, and ?fail-at=K to make step K fail and roll back (a
// drill of the rollback).
func takeoverRoutes(mux *http.ServeMux, src Source) {
	tk, ok := src.(Takeovers)
	if !ok {
		return
	}
	serve := func(call func(string, int) (takeover.Result, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			iface := r.URL.Query().Get("interface")
			if iface == "" {
				fail(w, http.StatusBadRequest, "no interface given (?interface=NAME)")
				return
			}
			failAt := 0
			if s := r.URL.Query().Get("fail-at"); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 {
					fail(w, http.StatusBadRequest, "fail-at: want a step number from 1")
					return
				}
				failAt = n
			}
			res, err := call(iface, failAt)
			if err != nil {
				fail(w, http.StatusInternalServerError, err.Error())
				return
			}
			reply(w, takeoverJSON(res))
		}
	}
	mux.HandleFunc("POST /v1/takeover", serve(tk.Takeover))
	mux.HandleFunc("POST /v1/release", serve(tk.Release))
}

func takeoverJSON(r takeover.Result) control.Takeover {
	return control.Takeover{Kind: string(r.Kind), Interface: r.Interface, Bridge: r.Bridge, Uplink: r.Uplink, Ports: r.Ports, HostPort: r.HostPort,
		Changed: r.Changed, Message: r.Message, Steps: r.Steps, Addresses: r.Addresses, Routes: r.Routes,
		OutageMS: float64(r.Outage) / float64(time.Millisecond)}
}

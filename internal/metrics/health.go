package metrics

import (
	"fmt"
	"net/http"
	"strings"
)

// Readiness is what /readyz asks: the reasons the daemon is not ready,
// none when it is.
type Readiness interface {
	NotReady() []string
}

// HandleHealth adds /healthz and /readyz to mux, for monitoring and
// service managers. /healthz answers 200 while the process serves HTTP at
// all. /readyz answers 200 when r has no reason not to be ready, else 503
// with the reasons, one a line, in plain text.
func HandleHealth(mux *http.ServeMux, r Readiness) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		why := r.NotReady()
		if len(why) == 0 {
			plain(w, http.StatusOK, "ready\n")
			return
		}
		plain(w, http.StatusServiceUnavailable, fmt.Sprintf("not ready: %s\n", strings.Join(why, "\n")))
	})
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

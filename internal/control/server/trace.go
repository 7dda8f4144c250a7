package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/control"
)

// FastPathTracer is a Source that can say what a port's eBPF program does
// with a frame.
type FastPathTracer interface {
	// TraceFastPath returns the verdict of the program on port in of
	// bridge, or nil when the port has no fast path.
	TraceFastPath(bridge, in string, frame []byte) (*control.FastPathTrace, error)
}

// traceRoutes serves POST /v1/trace.
func traceRoutes(mux *http.ServeMux, src Source) {
	mux.HandleFunc("POST /v1/trace", func(w http.ResponseWriter, r *http.Request) {
		var req control.TraceRequest
		if err := decode(w, r, &req); err != nil {
			fail(w, http.StatusBadRequest, "trace: "+err.Error())
			return
		}
		if req.Bridge == "" || req.In == "" {
			fail(w, http.StatusBadRequest, "trace: want bridge, in, src and dst")
			return
		}
		frame, err := req.Frame()
		if err != nil {
			fail(w, http.StatusBadRequest, "trace: "+err.Error())
			return
		}
		var br *dataplane.Bridge
		for _, b := range src.Bridges() {
			if b.Name() == req.Bridge {
				br = b
			}
		}
		if br == nil {
			fail(w, http.StatusNotFound, fmt.Sprintf("trace: no bridge %q", req.Bridge))
			return
		}
		var out control.Trace
		if out.Trace, err = br.Trace(req.In, frame); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, dataplane.ErrNoPort) {
				status = http.StatusNotFound
			}
			fail(w, status, "trace: "+err.Error())
			return
		}
		if ft, ok := src.(FastPathTracer); ok {
			if out.FastPath, err = ft.TraceFastPath(req.Bridge, req.In, frame); err != nil {
				fail(w, http.StatusInternalServerError, "trace: fast path of "+req.In+": "+err.Error())
				return
			}
		}
		reply(w, out)
	})
}

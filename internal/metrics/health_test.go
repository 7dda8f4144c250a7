package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

type notReady []string

func (n notReady) NotReady() []string { return n }

func TestHealth(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		why      notReady
		status   int
		wantBody string
	}{
		{"alive", "GET", "/healthz", notReady{"starting"}, 200, "ok\n"},
		{"alive, HEAD", "HEAD", "/healthz", nil, 200, ""},
		{"ready", "GET", "/readyz", nil, 200, "ready\n"},
		{"not ready, one reason", "GET", "/readyz", notReady{"fast path not loaded: no BPF"}, 503,
			"not ready: fast path not loaded: no BPF\n"},
		{"not ready, two reasons", "GET", "/readyz", notReady{"port a of b not attached: x", "port c of b not attached: y"}, 503,
			"not ready: port a of b not attached: x\nport c of b not attached: y\n"},
		{"no POST", "POST", "/readyz", nil, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			HandleHealth(mux, tt.why)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if tt.status < 300 && rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}

package control

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientErrors: an answer that is not 200 reads as the daemon's
// reason, of the kind its status says; no daemon on the socket reads as
// ErrNotRunning.
func TestClientErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/ports/bad":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error": "port bad: VLAN \"x\": want a number"}`))
		case "/v1/ports/gone":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error": "port gone: no such interface"}`))
		default:
			http.Error(w, "plain text", http.StatusInternalServerError)
		}
	})}
	go srv.Serve(l)
	defer srv.Close()
	c := NewClient(sock)
	ctx := context.Background()
	for _, tc := range []struct {
		path, msg string
		kind      error
	}{
		{"/v1/ports/bad", `port bad: VLAN "x": want a number`, ErrInvalid},
		{"/v1/ports/gone", "port gone: no such interface", ErrNotFound},
		{"/v1/ports/other", "plain text", nil},
	} {
		var v PortChange
		err := c.Put(ctx, tc.path, PortSpec{Bridge: "xenbr0"}, &v)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Message != tc.msg || tc.kind != nil && !errors.Is(err, tc.kind) ||
			tc.kind == nil && (errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound)) {
			t.Errorf("%s: %v, want %q of kind %v", tc.path, err, tc.msg, tc.kind)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.sock")
	err = NewClient(missing).Get(ctx, "/v1/ports", nil, nil)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "control socket "+missing+": connect: no such file or directory") {
		t.Errorf("no socket: %v", err)
	}
}

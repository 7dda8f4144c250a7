package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/xswitch/xswitch/internal/control"
)

// TestMain runs the test binary as xswitchctl when the tests start it so.
func TestMain(m *testing.M) {
	if os.Getenv("XSWITCHCTL_TEST_RUN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// xswitchctl runs the command with args against the control socket sock.
func xswitchctl(t *testing.T, sock string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-socket", sock}, args...)...)
	// A binary built with -race waits a second before it exits 0 unless
	// told not to.
	cmd.Env = append(os.Environ(), "XSWITCHCTL_TEST_RUN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// fakeXswitchd answers the control API as xswitchd would, from its ports
// and static MACs, and notes the requests that change them.
type fakeXswitchd struct {
	mu      sync.Mutex
	ports   []control.Port
	statics map[control.Static]bool // Port cleared
	puts    []any                   // the bodies of PUT and DELETE, decoded
	paths   []string                // their method and path
}

func (f *fakeXswitchd) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ports", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := []control.Port{}
		for _, p := range f.ports {
			if b := r.URL.Query().Get("bridge"); b == "" || b == p.Bridge {
				out = append(out, p)
			}
		}
		reply(w, 200, out)
	})
	mux.HandleFunc("PUT /v1/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		var spec control.PortSpec
		f.note(r, &spec)
		name := r.PathValue("name")
		switch spec.Bridge {
		case "xenbr0":
		case "xenbr7":
			reply(w, 500, control.Error{Error: "attach: device busy"})
			return
		default:
			reply(w, 404, control.Error{Error: "port " + name + ": bridge " + spec.Bridge + ": no such bridge"})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, p := range f.ports {
			if p.Name == name {
				changed := p.Spec == nil || !reflect.DeepEqual(*p.Spec, spec)
				f.ports[i].Spec = &spec
				reply(w, 200, control.PortChange{Port: name, Bridge: spec.Bridge, Changed: changed})
				return
			}
		}
		f.ports = append(f.ports, control.Port{Bridge: spec.Bridge, Name: name, Runtime: true, Spec: &spec})
		reply(w, 200, control.PortChange{Port: name, Bridge: spec.Bridge, Changed: true, Message: name + " added to " + spec.Bridge})
	})
	mux.HandleFunc("DELETE /v1/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.note(r, nil)
		f.mu.Lock()
		defer f.mu.Unlock()
		name := r.PathValue("name")
		for i, p := range f.ports {
			if p.Name == name {
				f.ports = append(f.ports[:i], f.ports[i+1:]...)
				reply(w, 200, control.PortChange{Port: name, Bridge: p.Bridge, Changed: true})
				return
			}
		}
		reply(w, 200, control.PortChange{Port: name})
	})
	static := func(set bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var s control.Static
			f.note(r, &s)
			if s.Bridge != "xenbr0" {
				reply(w, 404, control.Error{Error: "bridge " + s.Bridge + ": no such bridge"})
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			key := s
			key.Port = ""
			had := f.statics[key]
			f.statics[key] = set
			reply(w, 200, control.StaticChange{Static: s, Changed: had != set})
		}
	}
	mux.HandleFunc("PUT /v1/fdb/static", static(true))
	mux.HandleFunc("DELETE /v1/fdb/static", static(false))
	mux.HandleFunc("POST /v1/takeover", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 500, control.Error{Error: "takeover of " + r.URL.Query().Get("interface") + ": no such interface"})
	})
	return mux
}

// note notes a request that changes something, and decodes its body into v.
func (f *fakeXswitchd) note(r *http.Request, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	if v != nil {
		json.NewDecoder(r.Body).Decode(v)
	}
	f.puts = append(f.puts, v)
}

// last returns the last change asked for: its method and path, and body.
func (f *fakeXswitchd) last() (string, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.paths) == 0 {
		return "", nil
	}
	return f.paths[len(f.paths)-1], f.puts[len(f.puts)-1]
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// serve serves h on a unix socket in a temporary directory, whose path it
// returns.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func newFake(t *testing.T) (*fakeXswitchd, string) {
	f := &fakeXswitchd{statics: map[control.Static]bool{}}
	f.ports = []control.Port{
		{Bridge: "xenbr0", Name: "peth0", Kind: "afpacket", Uplink: true, VLAN: "trunk 10,20 native 1", Allowed: []string{}, FastPath: "xdp"},
		{Bridge: "xenbr0", Name: "vif3.0", Kind: "afpacket", VLAN: "access 10", AntiSpoof: true, MAC: "00:16:3e:00:00:01",
			Allowed: []string{"192.0.2.5"}, Runtime: true, FastPath: "tc", Drops: map[string]uint64{"spoofed": 4, "vlan": 1},
			Spec: &control.PortSpec{Bridge: "xenbr0", VLAN: "access 10", AntiSpoof: true, MAC: "00:16:3e:00:00:01", Allowed: []string{"192.0.2.5/32"}, FastPath: "tc"}},
	}
	return f, serve(t, f.handler())
}

package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/policy"
)

// fakeDaemon keeps the ports and static MACs it is given, as the daemon
// would, and fails as the daemon does: bridge xenbr0 is the only one, an
// interface named "boom" fails inside.
type fakeDaemon struct {
	bridgesOf
	mu      sync.Mutex
	ports   map[string]control.PortSpec
	statics map[control.Static]bool // Port cleared
}

func newFakeDaemon(b ...*dataplane.Bridge) *fakeDaemon {
	return &fakeDaemon{bridgesOf: b, ports: map[string]control.PortSpec{}, statics: map[control.Static]bool{}}
}

func (d *fakeDaemon) SetPort(name string, spec control.PortSpec) (control.PortChange, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := control.PortChange{Port: name, Bridge: spec.Bridge}
	if spec.Bridge != "xenbr0" {
		return ch, fmt.Errorf("port %s: bridge %s: no such bridge: %w", name, spec.Bridge, control.ErrNotFound)
	}
	if _, err := policy.ParseVLANs(spec.VLAN); err != nil {
		return ch, fmt.Errorf("port %s: %v: %w", name, err, control.ErrInvalid)
	}
	if name == "boom" {
		return ch, fmt.Errorf("port %s: attach: device busy", name)
	}
	if have, ok := d.ports[name]; ok && reflect.DeepEqual(have, spec) {
		ch.Message = "port " + name + ": nothing changed"
		return ch, nil
	}
	d.ports[name], ch.Changed, ch.Message = spec, true, "port "+name+": set"
	return ch, nil
}

func (d *fakeDaemon) RemovePort(name string) (control.PortChange, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	spec, ok := d.ports[name]
	delete(d.ports, name)
	return control.PortChange{Port: name, Bridge: spec.Bridge, Changed: ok}, nil
}

func (d *fakeDaemon) SetStatic(s control.Static) (control.StaticChange, error) {
	return d.static(s, true)
}

func (d *fakeDaemon) DeleteStatic(s control.Static) (control.StaticChange, error) {
	return d.static(s, false)
}

func (d *fakeDaemon) static(s control.Static, set bool) (control.StaticChange, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.Bridge != "xenbr0" {
		return control.StaticChange{Static: s}, fmt.Errorf("bridge %s: no such bridge: %w", s.Bridge, control.ErrNotFound)
	}
	key := s
	key.Port = ""
	had := d.statics[key]
	if set {
		d.statics[key] = true
	} else {
		delete(d.statics, key)
	}
	return control.StaticChange{Static: s, Changed: had != set}, nil
}

func (d *fakeDaemon) RuntimePortSpec(name string) (control.PortSpec, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	spec, ok := d.ports[name]
	return spec, ok
}

var (
	_ PortControl  = (*fakeDaemon)(nil)
	_ RuntimeSpecs = (*fakeDaemon)(nil)
)

// call sends a request to srv and returns the status and the body.
func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: %d answered as %q", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, b
}

// TestPortControl: each call's status, and its answer: whether it changed
// something, or the JSON error naming the port and the cause.
func TestPortControl(t *testing.T) {
	srv := httptest.NewServer(Handler(newFakeDaemon()))
	defer srv.Close()
	const vif = "/v1/ports/vif3.0"
	for _, c := range []struct {
		method, path, body string
		status             int
		changed            bool   // for 200
		err                string // part of the error for the others
	}{
		{"PUT", vif, `{"bridge":"xenbr0","vlan":"access 10","antispoof":true,"mac":"00:16:3e:00:00:01"}`, 200, true, ""},
		{"PUT", vif, `{"bridge":"xenbr0","vlan":"access 10","antispoof":true,"mac":"00:16:3e:00:00:01"}`, 200, false, ""},
		{"PUT", vif, `{"bridge":"xenbr0","vlan":"access 20","antispoof":true,"mac":"00:16:3e:00:00:01"}`, 200, true, ""},
		{"PUT", vif, `{"bridge":"xenbr0","vlan":"access 5000"}`, 400, false, "port vif3.0: VLANs \"access 5000\""},
		{"PUT", vif, `{"bridge":"xenbr9"}`, 404, false, "port vif3.0: bridge xenbr9: no such bridge"},
		{"PUT", "/v1/ports/boom", `{"bridge":"xenbr0"}`, 500, false, "port boom: attach: device busy"},
		{"PUT", vif, `{"bridge":"xenbr0","vlans":"access 10"}`, 400, false, `port vif3.0: body: unknown field "vlans"`},
		{"PUT", vif, `{"bridge":"xenbr0","isolated":"yes"}`, 400, false, `port vif3.0: body: field "isolated": want bool, got string`},
		{"PUT", vif, `{"bridge":"xenbr0",`, 400, false, "port vif3.0: body: JSON cut short"},
		{"PUT", vif, `{"bridge":"xenbr0"}}`, 400, false, "port vif3.0: body: "},
		{"PUT", vif, `{"bridge":"xenbr0"} {}`, 400, false, "port vif3.0: body: more than one JSON value"},
		{"PUT", vif, `[1]`, 400, false, "port vif3.0: body: want a JSON object, got array"},
		{"PUT", vif, ``, 400, false, "port vif3.0: body: empty"},
		{"PUT", vif, `{}`, 400, false, "port vif3.0: no bridge given"},
		{"DELETE", vif, ``, 200, true, ""},
		{"DELETE", vif, ``, 200, false, ""},
		{"PUT", "/v1/fdb/static", `{"bridge":"xenbr0","mac":"02:00:00:00:00:07","vlan":10,"port":"peth0"}`, 200, true, ""},
		{"PUT", "/v1/fdb/static", `{"bridge":"xenbr0","mac":"02:00:00:00:00:07","vlan":10,"port":"peth0"}`, 200, false, ""},
		{"PUT", "/v1/fdb/static", `{"bridge":"xenbr0","mac":"02:00:00:00:00:07"}`, 400, false, `static MAC "02:00:00:00:00:07": want bridge, mac and port`},
		{"PUT", "/v1/fdb/static", `{"bridge":"xenbr0","mac":"02:00:00:00:00:07","vlan":-1,"port":"peth0"}`, 400, false, `static MAC: body: field "vlan": want uint16, got number -1`},
		{"PUT", "/v1/fdb/static", `{"bridge":"xenbr9","mac":"02:00:00:00:00:07","port":"peth0"}`, 404, false, "bridge xenbr9: no such bridge"},
		{"DELETE", "/v1/fdb/static", `{"bridge":"xenbr0","mac":"02:00:00:00:00:07","vlan":10}`, 200, true, ""},
		{"DELETE", "/v1/fdb/static", `{"bridge":"xenbr0","mac":"02:00:00:00:00:07","vlan":10}`, 200, false, ""},
		{"DELETE", "/v1/fdb/static", `{"bridge":"xenbr0"}`, 400, false, "want bridge and mac"},
		{"GET", "/v1/ports?bridge=nope", "", 404, false, `no bridge "nope"`},
		{"POST", "/v1/fdb/flush?port=nope", "", 404, false, `no port "nope"`},
		{"GET", "/v1/nothing", "", 404, false, "no endpoint GET /v1/nothing"},
	} {
		name := c.method + " " + c.path + " " + c.body
		status, body := call(t, srv, c.method, c.path, c.body)
		if status != c.status {
			t.Errorf("%s: status %d, want %d: %s", name, status, c.status, body)
			continue
		}
		if status == http.StatusOK {
			var ch struct{ Changed bool }
			if err := json.Unmarshal(body, &ch); err != nil || ch.Changed != c.changed {
				t.Errorf("%s: %s (%v), want changed %v", name, body, err, c.changed)
			}
			continue
		}
		var e control.Error
		if err := json.Unmarshal(body, &e); err != nil || !strings.HasPrefix(e.Error, c.err) && !strings.Contains(e.Error, c.err) {
			t.Errorf("%s: error %q (%v), want it to say %q", name, body, err, c.err)
		}
	}
}

// TestPortControlNotImplemented: a daemon that cannot change ports says so.
func TestPortControlNotImplemented(t *testing.T) {
	srv := httptest.NewServer(Handler(bridgesOf{}))
	defer srv.Close()
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/v1/ports/vif3.0", `{"bridge":"xenbr0"}`},
		{"DELETE", "/v1/ports/vif3.0", ""},
		{"PUT", "/v1/fdb/static", `{"bridge":"xenbr0","mac":"02:00:00:00:00:07","port":"peth0"}`},
		{"DELETE", "/v1/fdb/static", `{"bridge":"xenbr0","mac":"02:00:00:00:00:07"}`},
	} {
		status, body := call(t, srv, c.method, c.path, c.body)
		var e control.Error
		if err := json.Unmarshal(body, &e); status != http.StatusNotImplemented || err != nil || e.Error == "" {
			t.Errorf("%s %s: %d %s, want 501 and a JSON error", c.method, c.path, status, body)
		}
	}
}

// TestPortsPolicy: GET /v1/ports shows each port's policy and whether it
// was added at run time.
func TestPortsPolicy(t *testing.T) {
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0", FDB: fdb.DefaultConfig()}, nil)
	defer br.Close()
	mac := []byte{0x00, 0x16, 0x3e, 0, 0, 1}
	pols := map[string]policy.Policy{
		"vif3.0": {VLAN: policy.AccessVLAN(10), Isolated: true, AntiSpoof: true, MAC: mac,
			Allowed: []netip.Prefix{netip.MustParsePrefix("192.0.2.5/32"), netip.MustParsePrefix("2001:db8::/64")}},
		"peth0": {VLAN: policy.TrunkVLANs(1, 10, 20, 21, 22)},
	}
	for _, name := range []string{"vif3.0", "peth0"} {
		if _, err := br.AddPort(porttest.New(name, 8), dataplane.PortInfo{Name: name, Kind: "porttest", Policy: pols[name]}); err != nil {
			t.Fatal(err)
		}
	}
	d := newFakeDaemon(br)
	d.ports["vif3.0"] = control.PortSpec{Bridge: "xenbr0", FastPath: "tc"}
	for _, src := range []Source{d, runtimeNamesOnly{d}} {
		_, names := src.(runtimeNamesOnly)
		srv := httptest.NewServer(Handler(src))
		status, body := call(t, srv, "GET", "/v1/ports", "")
		srv.Close()
		var ports []control.Port
		if err := json.Unmarshal(body, &ports); status != http.StatusOK || err != nil || len(ports) != 2 {
			t.Fatalf("ports: %d %v %s", status, err, body)
		}
		v, p := ports[0], ports[1]
		if v.VLAN != "access 10" || !v.Isolated || !v.AntiSpoof || v.MAC != "00:16:3e:00:00:01" ||
			!reflect.DeepEqual(v.Allowed, []string{"192.0.2.5", "2001:db8::/64"}) || !v.Runtime {
			t.Errorf("vif3.0: %+v", v)
		}
		if names && v.Spec != nil || !names && (v.Spec == nil || v.Spec.FastPath != "tc") {
			t.Errorf("vif3.0's spec %+v, from a source that tells names only: %v", v.Spec, names)
		}
		if p.VLAN != "trunk 10,20-22 native 1" || p.Isolated || p.AntiSpoof || p.MAC != "" || p.Allowed == nil || len(p.Allowed) != 0 || p.Runtime || p.Spec != nil {
			t.Errorf("peth0: %+v", p)
		}
	}
}

// runtimeNamesOnly tells the run-time ports but not their specs.
type runtimeNamesOnly struct{ d *fakeDaemon }

func (r runtimeNamesOnly) Bridges() []*dataplane.Bridge { return r.d.Bridges() }

func (r runtimeNamesOnly) RuntimePort(name string) bool {
	_, ok := r.d.RuntimePortSpec(name)
	return ok
}

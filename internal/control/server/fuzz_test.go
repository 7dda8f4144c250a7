package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/takeover"
	"github.com/xswitch/xswitch/policy"
)

// fuzzDaemon serves every optional interface of the handler: ports and
// static MACs (fakeDaemon), mirrors, takeovers and fast-path traces.
type fuzzDaemon struct {
	*fakeDaemon
	tracer
	mirrorsMu sync.Mutex
	mirrors   map[control.Mirror]bool
}

func (d *fuzzDaemon) Bridges() []*dataplane.Bridge { return d.fakeDaemon.Bridges() }

func (d *fuzzDaemon) Mirrors(bridge string) ([]control.Mirror, error) {
	if bridge != "" && bridge != "xenbr0" {
		return nil, fmt.Errorf("bridge %s: %w", bridge, control.ErrNotFound)
	}
	d.mirrorsMu.Lock()
	defer d.mirrorsMu.Unlock()
	var out []control.Mirror
	for m := range d.mirrors {
		out = append(out, m)
	}
	return out, nil
}

func (d *fuzzDaemon) SetMirror(m control.Mirror) (control.MirrorChange, error) {
	return d.mirror(m, true)
}

func (d *fuzzDaemon) DeleteMirror(m control.Mirror) (control.MirrorChange, error) {
	return d.mirror(m, false)
}

func (d *fuzzDaemon) mirror(m control.Mirror, set bool) (control.MirrorChange, error) {
	switch m.Direction {
	case "", "both", "ingress", "egress":
	default:
		return control.MirrorChange{Mirror: m}, fmt.Errorf("direction %q: %w", m.Direction, control.ErrInvalid)
	}
	d.mirrorsMu.Lock()
	defer d.mirrorsMu.Unlock()
	had := d.mirrors[m]
	if set {
		d.mirrors[m] = true
	} else {
		delete(d.mirrors, m)
	}
	return control.MirrorChange{Mirror: m, Changed: had != set}, nil
}

func (d *fuzzDaemon) Takeover(iface string, failAt int) (takeover.Result, error) {
	if failAt > 0 {
		return takeover.Result{}, fmt.Errorf("step %d failed, rolled back", failAt)
	}
	return takeover.Result{Changed: true, Message: "took over " + iface}, nil
}

func (d *fuzzDaemon) Release(iface string, failAt int) (takeover.Result, error) {
	return takeover.Result{Message: iface + " was not taken over"}, nil
}

var (
	_ PortControl    = (*fuzzDaemon)(nil)
	_ MirrorControl  = (*fuzzDaemon)(nil)
	_ Takeovers      = (*fuzzDaemon)(nil)
	_ FastPathTracer = (*fuzzDaemon)(nil)
)

// fuzzBridge is a bridge of in-memory ports with policies: a trunk uplink,
// an isolated access port with anti-spoofing, a plain guest.
func fuzzBridge(f *testing.F) *dataplane.Bridge {
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0", FDB: fdb.DefaultConfig()}, nil)
	f.Cleanup(func() { br.Close() })
	for _, p := range []dataplane.PortInfo{
		{Name: "peth0", Uplink: true, Kind: "porttest", Policy: policy.Policy{VLAN: policy.TrunkVLANs(10, 10, 20)}},
		{Name: "vif3.0", Kind: "porttest", Policy: policy.Policy{VLAN: policy.AccessVLAN(10), Isolated: true, AntiSpoof: true,
			MAC: []byte{2, 0, 0, 0, 0, 3}, Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/32")}}},
		{Name: "vif4.0", Kind: "porttest", FastPath: "tc"},
	} {
		if _, err := br.AddPort(porttest.New(p.Name, 8), p); err != nil {
			f.Fatal(err)
		}
	}
	return br
}

// FuzzHandler sends the control API arbitrary requests. Whatever the
// method, path, query and body: no panic, a 2xx, 4xx or 5xx status, a
// JSON answer (a capture's pcapng stream aside), and every error answer a
// control.Error with a message.
func FuzzHandler(f *testing.F) {
	h := Handler(&fuzzDaemon{fakeDaemon: newFakeDaemon(fuzzBridge(f)), mirrors: map[control.Mirror]bool{}})
	for _, s := range []struct{ method, path, query, body string }{
		{"GET", "/v1/bridges", "", ""},
		{"GET", "/v1/ports", "bridge=xenbr0", ""},
		{"GET", "/v1/fdb", "bridge=nope", ""},
		{"POST", "/v1/fdb/flush", "bridge=xenbr0&port=vif3.0", ""},
		{"PUT", "/v1/fdb/static", "", `{"bridge":"xenbr0","mac":"02:00:00:00:00:09","port":"vif4.0","vlan":10}`},
		{"DELETE", "/v1/fdb/static", "", `{"bridge":"xenbr0","mac":"ff:ff:ff:ff:ff:ff"}`},
		{"PUT", "/v1/ports/vif9.0", "", `{"bridge":"xenbr0","vlan":"access 20","isolated":true,"antispoof":true,"mac":"02:00:00:00:00:09","allowed":["10.0.0.9"]}`},
		{"PUT", "/v1/ports/vif9.0", "", `{"bridge":"xenbr0","vlan":"trunk 4095"}`},
		{"DELETE", "/v1/ports/vif9.0", "", ""},
		{"POST", "/v1/trace", "", `{"bridge":"xenbr0","in":"peth0","src":"02:00:00:00:00:01","dst":"ff:ff:ff:ff:ff:ff","vlan":20,"type":"arp"}`},
		{"POST", "/v1/trace", "", `{"bridge":"xenbr0","in":"vif3.0","src":"02:00:00:00:00:03","dst":"02:00:00:00:00:04","type":"ipv4","src_ip":"10.0.0.4"}`},
		{"GET", "/v1/capture", "port=vif4.0&mac=02:00:00:00:00:01&vlan=10&ethertype=0x0806&count=1", ""},
		{"GET", "/v1/mirrors", "bridge=xenbr0", ""},
		{"PUT", "/v1/mirrors", "", `{"bridge":"xenbr0","from":"vif3.0","to":"vif4.0","direction":"ingress"}`},
		{"POST", "/v1/takeover", "interface=eth0&fail-at=2", ""},
		{"POST", "/v1/release", "interface=xenbr0", ""},
		{"PATCH", "/v1/ports/x", "", "{"},
		{"GET", "/v1//ports/../bridges", "", ""},
	} {
		f.Add(s.method, s.path, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		req, err := http.NewRequest(method, "http://xswitchd"+path, bytes.NewReader(body))
		if err != nil || req.URL.Host != "xswitchd" {
			return
		}
		req.URL.RawQuery = query
		// A capture streams until its client goes: this one has gone.
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		req = req.WithContext(ctx)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		status, ct, out := w.Code, w.Header().Get("Content-Type"), w.Body.Bytes()
		what := fmt.Sprintf("%s %q ?%q body %q: %d %s %q", method, path, query, body, status, ct, out)
		if status < 200 || status >= 600 || (status >= 300 && status < 400) {
			t.Fatalf("%s: status neither success nor error", what)
		}
		if status == http.StatusOK && ct == "application/x-pcapng" {
			return
		}
		if ct != "application/json" || !json.Valid(out) {
			t.Fatalf("%s: not a JSON answer", what)
		}
		if status >= 400 {
			var e control.Error
			if err := json.Unmarshal(out, &e); err != nil || e.Error == "" {
				t.Fatalf("%s: an error without a message", what)
			}
		}
	})
}

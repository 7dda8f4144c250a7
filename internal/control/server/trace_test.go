package server

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/policy"
)

// tracer is a Source whose ports all have a fast path that punts.
type tracer struct{ bridgesOf }

func (tracer) TraceFastPath(bridge, in string, frame []byte) (*control.FastPathTrace, error) {
	return &control.FastPathTrace{Mode: "tc", Verdict: "punt", Reason: "unknown destination"}, nil
}

func TestTrace(t *testing.T) {
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0", FDB: fdb.DefaultConfig()}, nil)
	defer br.Close()
	guest, uplink := porttest.New("vif3.0", 8), porttest.New("peth0", 8)
	if _, err := br.AddPort(guest, dataplane.PortInfo{Name: "vif3.0", Kind: "porttest",
		Policy: policy.Policy{VLAN: policy.AccessVLAN(10), AntiSpoof: true, MAC: []byte{2, 0, 0, 0, 0, 1},
			Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := br.AddPort(uplink, dataplane.PortInfo{Name: "peth0", Uplink: true, Kind: "porttest",
		Policy: policy.Policy{VLAN: policy.TrunkVLANs(0, 10)}}); err != nil {
		t.Fatal(err)
	}
	// The uplink's host 02:00:00:00:00:02 in VLAN 10 is learned.
	uplink.Inject([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x81, 0, 0, 10, 0x88, 0xb5, 'x'})
	guest.WaitSent(1, 2*time.Second)

	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := Listen(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(tracer{bridgesOf{br}})}
	go srv.Serve(l)
	defer srv.Close()
	c := control.NewClient(sock)
	ctx := context.Background()

	var got control.Trace
	req := control.TraceRequest{Bridge: "xenbr0", In: "vif3.0", Src: "02:00:00:00:00:01", Dst: "02:00:00:00:00:02", SrcIP: "10.0.0.1"}
	if err := c.PostJSON(ctx, "/v1/trace", req, &got); err != nil {
		t.Fatal(err)
	}
	if got.Verdict != "unicast" || got.VLAN != 10 || len(got.Egress) != 1 || got.Egress[0].Port != "peth0" || got.Egress[0].Tag != "tagged 10" ||
		got.Destination == nil || got.Destination.Port != "peth0" || got.Source == nil || got.Source.Learn != "learned" {
		t.Errorf("trace: %+v", got)
	}
	if got.FastPath == nil || got.FastPath.Verdict != "punt" {
		t.Errorf("fast path: %+v", got.FastPath)
	}

	req.Src = "02:00:00:00:00:09"
	if err := c.PostJSON(ctx, "/v1/trace", req, &got); err != nil {
		t.Fatal(err)
	}
	if got.Verdict != "drop" || got.Reason != "spoofed" {
		t.Errorf("spoofed source: %s (%s)", got.Verdict, got.Reason)
	}

	for _, tt := range []struct {
		req    control.TraceRequest
		status int
	}{
		{control.TraceRequest{Bridge: "xenbr9", In: "vif3.0", Src: req.Src, Dst: req.Dst}, 404},
		{control.TraceRequest{Bridge: "xenbr0", In: "vif9.9", Src: req.Src, Dst: req.Dst}, 404},
		{control.TraceRequest{Bridge: "xenbr0", In: "vif3.0", Src: "nonsense", Dst: req.Dst}, 400},
		{control.TraceRequest{Bridge: "xenbr0", In: "vif3.0", Src: req.Src, Dst: req.Dst, VLAN: 4095}, 400},
		{control.TraceRequest{Bridge: "xenbr0", In: "vif3.0", Src: req.Src, Dst: req.Dst, Type: "ipv6", SrcIP: "10.0.0.1"}, 400},
		{control.TraceRequest{Bridge: "xenbr0", In: "vif3.0", Src: req.Src, Dst: req.Dst, Type: "0x12"}, 400},
		{control.TraceRequest{Bridge: "xenbr0", Src: req.Src, Dst: req.Dst}, 400},
	} {
		err := c.PostJSON(ctx, "/v1/trace", tt.req, &got)
		var ae *control.APIError
		if !errors.As(err, &ae) || ae.Status != tt.status {
			t.Errorf("%+v: %v, want status %d", tt.req, err, tt.status)
		}
	}
}

func TestTraceFrame(t *testing.T) {
	for _, typ := range []string{"", "ipv4", "ipv6", "arp", "0x88b5"} {
		f, err := control.TraceRequest{Src: "02:00:00:00:00:01", Dst: "ff:ff:ff:ff:ff:ff", Type: typ, VLAN: 7}.Frame()
		if err != nil {
			t.Errorf("type %q: %v", typ, err)
			continue
		}
		if len(f) < 18 || f[12] != 0x81 || f[15] != 7 {
			t.Errorf("type %q: frame %x has no tag of VLAN 7", typ, f)
		}
	}
}

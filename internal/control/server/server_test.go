package server

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/control"
)

type bridgesOf []*dataplane.Bridge

func (b bridgesOf) Bridges() []*dataplane.Bridge { return b }

func TestAPI(t *testing.T) {
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0", FDB: fdb.DefaultConfig()}, nil)
	defer br.Close()
	a, b := porttest.New("vif3.1", 8), porttest.New("peth0", 8)
	for _, p := range []struct {
		p      *porttest.Port
		uplink bool
	}{{a, false}, {b, true}} {
		if _, err := br.AddPort(p.p, dataplane.PortInfo{Name: p.p.Name(), Uplink: p.uplink, Kind: "porttest"}); err != nil {
			t.Fatal(err)
		}
	}
	a.Inject([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 7, 0x88, 0xb5, 'x'})
	b.WaitSent(1, 2*time.Second)

	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := Listen(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(bridgesOf{br})}
	go srv.Serve(l)
	defer srv.Close()
	if _, err := Listen(sock, ""); err == nil {
		t.Error("a second daemon took over a live control socket")
	}

	c := control.NewClient(sock)
	ctx := context.Background()
	var ports []control.Port
	if err := c.Get(ctx, "/v1/ports", nil, &ports); err != nil {
		t.Fatal(err)
	}
	if len(ports) != 2 || ports[0].Name != "vif3.1" || *ports[0].DomID != 3 || *ports[0].DevID != 1 || ports[0].RxPackets != 1 || ports[0].Flooded != 1 ||
		ports[1].Name != "peth0" || !ports[1].Uplink || ports[1].DomID != nil || ports[1].TxPackets != 1 {
		t.Errorf("ports: %+v", ports)
	}
	var entries []control.FDBEntry
	if err := c.Get(ctx, "/v1/fdb", url.Values{"bridge": {"xenbr0"}}, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].MAC != "02:00:00:00:00:07" || entries[0].Port != "vif3.1" || entries[0].Static {
		t.Errorf("fdb: %+v", entries)
	}
	if err := c.Get(ctx, "/v1/fdb", url.Values{"bridge": {"nope"}}, &entries); err == nil {
		t.Error("unknown bridge answered")
	}
	var fl control.Flushed
	if err := c.Post(ctx, "/v1/fdb/flush", url.Values{"bridge": {"xenbr0"}, "port": {"peth0"}}, &fl); err != nil || fl.Removed != 0 {
		t.Errorf("flush peth0: %+v %v", fl, err)
	}
	if err := c.Post(ctx, "/v1/fdb/flush", url.Values{"bridge": {"xenbr0"}, "port": {"vif9.9"}}, &fl); err == nil {
		t.Error("flush of an unknown port succeeded")
	}
	if err := c.Post(ctx, "/v1/fdb/flush", url.Values{"bridge": {"xenbr0"}, "port": {"vif3.1"}}, &fl); err != nil || fl.Removed != 1 {
		t.Errorf("flush vif3.1: %+v %v", fl, err)
	}
	var bs []control.Bridge
	if err := c.Get(ctx, "/v1/bridges", nil, &bs); err != nil || len(bs) != 1 || bs[0].Ports != 2 || bs[0].FDBEntries != 0 || bs[0].Learned != 1 || bs[0].Flushed != 1 {
		t.Errorf("bridges: %+v %v", bs, err)
	}
}

package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/control/server"
	"github.com/xswitch/xswitch/policy"
)

func TestTrace(t *testing.T) {
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0", FDB: fdb.DefaultConfig()}, nil)
	defer br.Close()
	for _, p := range []struct {
		name string
		pol  policy.Policy
	}{{"vif1.0", policy.Policy{VLAN: policy.AccessVLAN(10)}}, {"vif2.0", policy.Policy{VLAN: policy.AccessVLAN(20)}}, {"peth0", policy.Policy{VLAN: policy.TrunkVLANs(0, 10, 20)}}} {
		if _, err := br.AddPort(porttest.New(p.name, 8), dataplane.PortInfo{Name: p.name, Kind: "porttest", Policy: p.pol}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := server.Listen(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: server.Handler(bridges{br})}
	go srv.Serve(l)
	defer srv.Close()

	out, errOut, code := xswitchctl(t, sock, "trace", "xenbr0", "in=vif1.0", "src=02:00:00:00:00:01", "dst=ff:ff:ff:ff:ff:ff", "type=arp", "src_ip=10.0.0.1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"frame: 02:00:00:00:00:01 -> ff:ff:ff:ff:ff:ff, untagged, in on vif1.0 of xenbr0",
		"fast path: no verdict (the port has no fast path, or is an AF_XDP port, whose program is not traced)",
		"VLAN inside the bridge: 10",
		"source 02:00:00:00:00:01: not in the MAC table; learned",
		"verdict: flood (broadcast)",
		"  out peth0, tagged 10",
		"  not vif2.0: vlan",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "out vif2.0") {
		t.Errorf("a VLAN 10 broadcast leaves on the VLAN 20 port:\n%s", out)
	}

	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"trace", "xenbr0", "in=vif9.9", "src=02:00:00:00:00:01", "dst=02:00:00:00:00:02"}, 1, "vif9.9"},
		{[]string{"trace", "xenbr0", "in=vif1.0", "src=02:00:00:00:00:01"}, 2, "too few arguments"},
		{[]string{"trace", "xenbr0", "in=vif1.0", "src=zz", "dst=02:00:00:00:00:02"}, 2, `src "zz"`},
		{[]string{"trace", "xenbr0", "in=vif1.0", "src=02:00:00:00:00:01", "dst=02:00:00:00:00:02", "colour=red"}, 2, "unknown key"},
		{[]string{"trace", "xenbr0", "in=vif1.0", "src=02:00:00:00:00:01", "dst=02:00:00:00:00:02", "vlan=5000"}, 2, "vlan 5000"},
	} {
		_, errOut, code := xswitchctl(t, sock, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", tt.args, code, errOut, tt.code, tt.msg)
		}
	}
}

type bridges []*dataplane.Bridge

func (b bridges) Bridges() []*dataplane.Bridge { return b }

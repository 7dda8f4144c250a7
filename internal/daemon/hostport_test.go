package daemon

import (
	"testing"

	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/hostport"
)

func TestMatchPortKnowsSwitchEnds(t *testing.T) {
	file, err := config.Parse("x.yaml", []byte(`
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*.0"]
    host-port: eth0
  - name: drbd
    uplink: peth1
    host-port: {name: a-long-hostport, mtu: 9000}
`))
	if err != nil {
		t.Fatal(err)
	}
	auto := config.Auto()
	off := config.Auto()
	off.HostPorts = false
	for _, c := range []*config.Config{auto, off} {
		c.Match("peth3")
	}
	tests := []struct {
		cfg    *config.Config
		ifname string
		bridge string
		uplink bool
	}{
		{file, hostport.Peer("eth0"), "xenbr0", false},
		{file, hostport.Peer("a-long-hostport"), "drbd", false},
		{file, "eth0", "", false}, // dom0's end is never a switch port
		{file, "peth0", "xenbr0", true},
		{file, "vif1.0", "xenbr0", false},
		{auto, hostport.Peer("eth3"), "xenbr3", false},
		{auto, "eth3", "", false},
		{auto, hostport.Peer("eth4"), "", false}, // no peth4 yet
		{off, hostport.Peer("eth3"), "", false},
	}
	for _, tt := range tests {
		b, uplink, ok := matchPort(tt.cfg, tt.ifname)
		if ok != (tt.bridge != "") || b.Name != tt.bridge || uplink != tt.uplink {
			t.Errorf("matchPort(%q) = %q, uplink %v, %v; want %q, uplink %v", tt.ifname, b.Name, uplink, ok, tt.bridge, tt.uplink)
		}
	}
}

func TestHostPortSwitchEndKeepsGSO(t *testing.T) {
	c, err := config.Parse("x.yaml", []byte(`
bridges:
  - name: a
    ports: ["vif*"]
    host-port: eth0
  - name: b
    ports: ["tap*"]
    host-port: eth1
    port-fastpath: {xhp-eth1: xdp}
    port-types: {xhp-eth1: afxdp}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Bridges[0], c.Bridges[1]
	tests := []struct {
		b        config.Bridge
		ifname   string
		mode     config.Mode
		wantMode config.Mode
		typ      config.PortType
		wantType config.PortType
	}{
		{a, "xhp-eth0", config.ModeXDP, config.ModeTC, config.PortTypeAFXDP, config.PortTypeAFPacket}, // from a default
		{a, "xhp-eth0", config.ModeAuto, config.ModeAuto, config.PortTypeAuto, config.PortTypeAuto},
		{a, "vif1.0", config.ModeXDP, config.ModeXDP, config.PortTypeAFXDP, config.PortTypeAFXDP},   // not a host port
		{b, "xhp-eth1", config.ModeXDP, config.ModeXDP, config.PortTypeAFXDP, config.PortTypeAFXDP}, // named: as asked
	}
	for _, tt := range tests {
		if got := hostPortMode(tt.b, tt.ifname, tt.mode); got != tt.wantMode {
			t.Errorf("hostPortMode(%s, %s) = %s, want %s", tt.ifname, tt.mode, got, tt.wantMode)
		}
		if got := hostPortType(tt.b, tt.ifname, tt.typ); got != tt.wantType {
			t.Errorf("hostPortType(%s, %s) = %s, want %s", tt.ifname, tt.typ, got, tt.wantType)
		}
	}
}

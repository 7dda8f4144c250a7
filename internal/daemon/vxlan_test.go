package daemon

import (
	"bytes"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/nstest"
	"github.com/xswitch/xswitch/internal/vxlan"
)

func TestTunnelPortModeAndType(t *testing.T) {
	named := config.Bridge{
		PortModes: config.Patterns[config.Mode]{{Pattern: "vx1", Value: config.ModeXDP}},
		PortTypes: config.Patterns[config.PortType]{{Pattern: "vx1", Value: config.PortTypeAFXDP}},
	}
	for _, tt := range []struct {
		name     string
		b        config.Bridge
		port     bpf.Port
		typ      config.PortType
		wantMode bpf.Mode
		wantType config.PortType
	}{
		{"vxlan xdp from a default", config.Bridge{}, bpf.Port{Name: "vx1", Kind: "vxlan", Mode: bpf.ModeXDP}, config.PortTypeAFXDP, bpf.ModeTC, config.PortTypeAFPacket},
		{"vxlan named", named, bpf.Port{Name: "vx1", Kind: "vxlan", Mode: bpf.ModeXDP}, config.PortTypeAFXDP, bpf.ModeXDP, config.PortTypeAFXDP},
		{"vxlan off", config.Bridge{}, bpf.Port{Name: "vx1", Kind: "vxlan", Mode: bpf.ModeOff}, config.PortTypeAFPacket, bpf.ModeOff, config.PortTypeAFPacket},
		{"vxlan auto", config.Bridge{}, bpf.Port{Name: "vx1", Kind: "vxlan", Mode: bpf.ModeAuto}, config.PortTypeAuto, bpf.ModeAuto, config.PortTypeAuto},
		{"veth", config.Bridge{}, bpf.Port{Name: "vif1.0", Kind: "veth", Mode: bpf.ModeXDP}, config.PortTypeAFXDP, bpf.ModeXDP, config.PortTypeAFXDP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tunnelPortMode(tt.b, tt.port); got != tt.wantMode {
				t.Errorf("mode = %s, want %s", got, tt.wantMode)
			}
			if got := tunnelPortType(tt.b, tt.port, tt.typ); got != tt.wantType {
				t.Errorf("type = %s, want %s", got, tt.wantType)
			}
		})
	}
}

func TestEnsureTunnels(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "vxd")
	peer := nstest.Netns(t, "vxdp")
	nstest.Veth(t, ns, "ul0", peer, "ul1")
	nstest.Run(t, "ip", "-n", ns, "addr", "add", "10.9.0.1/24", "dev", "ul0")
	nstest.Enter(t, ns)

	local := netip.MustParseAddr("10.9.0.1")
	b, c := netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("10.9.0.3")
	cfgWith := func(vs ...config.VXLAN) *config.Config {
		return &config.Config{Bridges: []config.Bridge{{Name: "br0", VXLAN: vs}}}
	}
	var logs bytes.Buffer
	d := &Daemon{cfg: cfgWith(config.VXLAN{Name: "vxlan7", VNI: 7, Local: local, Port: 4789, Underlay: "ul0", Flood: []netip.Addr{b, c}}),
		log: slog.New(slog.NewTextHandler(&logs, nil))}
	d.ensureTunnels()
	dev, err := vxlan.Open("vxlan7")
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	if !dev.Owned() || dev.VNI() != 7 || dev.Learning() {
		t.Fatalf("device %+v", dev)
	}
	flood := func() []netip.Addr {
		t.Helper()
		got, err := dev.FloodVTEPs()
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, netip.Addr.Compare)
		return got
	}
	if got := flood(); !slices.Equal(got, []netip.Addr{b, c}) {
		t.Fatalf("flood list %v", got)
	}

	// A VTEP another control plane added is left alone; one the file
	// dropped goes.
	other := netip.MustParseAddr("10.9.0.9")
	if err := dev.AddFloodVTEP(other); err != nil {
		t.Fatal(err)
	}
	d.cfg = cfgWith(config.VXLAN{Name: "vxlan7", VNI: 7, Local: local, Port: 4789, Underlay: "ul0", Flood: []netip.Addr{c}})
	d.ensureTunnels()
	if got := flood(); !slices.Equal(got, []netip.Addr{c, other}) {
		t.Fatalf("flood list %v, want [%v %v]", got, c, other)
	}
	if n := strings.Count(logs.String(), "tunnel port ready"); n != 1 {
		t.Errorf("logged ready %d times, want once:\n%s", n, logs.String())
	}

	// An operator's device the file stops naming stays; xswitchd's goes.
	nstest.Run(t, "ip", "link", "add", "vxop", "type", "vxlan", "id", "8", "local", "10.9.0.1", "dstport", "4789", "nolearning")
	d.cfg = cfgWith(config.VXLAN{Name: "vxop", VNI: 8, Local: local, Port: 4789})
	d.ensureTunnels()
	if _, err := vxlan.Open("vxlan7"); err == nil {
		t.Error("vxlan7 still there after its entry was dropped")
	}
	d.cfg = cfgWith()
	d.ensureTunnels()
	if _, err := vxlan.Open("vxop"); err != nil {
		t.Errorf("the operator's vxop was deleted: %v", err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

func TestTunnelMTUWarnings(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "vxm")
	peer := nstest.Netns(t, "vxmp")
	nstest.Veth(t, ns, "ul0", peer, "ul1")
	nstest.Run(t, "ip", "-n", ns, "addr", "add", "10.9.0.1/24", "dev", "ul0")
	nstest.Enter(t, ns)
	dev, err := vxlan.Create(vxlan.Config{VNI: 9, Local: netip.MustParseAddr("10.9.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d := &Daemon{cfg: &config.Config{}, log: slog.New(slog.NewTextHandler(&logs, nil)), sys: system{links: netlinkLinks{}},
		attached: map[int]attachment{
			100: {name: "vif1.0", bridge: "br0", mtu: 1450},
			101: {name: "vif2.0", bridge: "br0", mtu: 9000},
			102: {name: "vif3.0", bridge: "other", mtu: 9000},
		}}
	b := config.Bridge{Name: "br0"}
	d.tunnelAttached(b, bpf.Port{Name: "vxlan9", Index: dev.Ifindex(), Kind: "vxlan", MTU: dev.MTU()})
	if got := d.TunnelPorts(); len(got) != 1 || got[0].VNI != 9 || got[0].Port != "vxlan9" || !got[0].Created {
		t.Fatalf("TunnelPorts = %+v", got)
	}
	// Without an underlay device, the one with the local address counts.
	want := `port MTU 9000 exceeds what tunnel port vxlan9 carries (1450: underlay ul0's MTU 1500 minus 50 bytes of VXLAN overhead)`
	if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "port=vif2.0") {
		t.Errorf("no warning for vif2.0:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "port=vif1.0") || strings.Contains(logs.String(), "port=vif3.0") {
		t.Errorf("a warning for a port that fits, or of another bridge:\n%s", logs.String())
	}
	logs.Reset()
	d.tunnelAttached(b, bpf.Port{Name: "vif4.0", Index: 103, Kind: "veth", MTU: 1500})
	if !strings.Contains(logs.String(), "port MTU 1500 exceeds") || !strings.Contains(logs.String(), "port=vif4.0") {
		t.Errorf("no warning for vif4.0 attaching after the tunnel:\n%s", logs.String())
	}
	d.tunnelDetached(dev.Ifindex())
	if got := d.TunnelPorts(); len(got) != 0 {
		t.Errorf("TunnelPorts after detach = %+v", got)
	}
}

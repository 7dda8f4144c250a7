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

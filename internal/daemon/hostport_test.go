package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/bpf"
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

// fakeHostPorts makes host ports in fakeLinks: Ensure adds the switch end.
type fakeHostPorts struct {
	links   *fakeLinks
	next    int
	ensured []string // "name bridge mac mtu"
}

func (f *fakeHostPorts) Ensure(s hostport.Spec) (bool, error) {
	f.ensured = append(f.ensured, fmt.Sprintf("%s %s %s %d", s.Name, s.Bridge, s.MAC, s.MTU))
	for _, l := range f.links.byIndex {
		if l.Attrs().Name == hostport.Peer(s.Name) {
			return false, nil
		}
	}
	f.next++
	f.links.add(f.next, hostport.Peer(s.Name), "veth", 1500)
	return true, nil
}

func (f *fakeHostPorts) LinkByName(name string) (netlink.Link, error) {
	f.links.mu.Lock()
	defer f.links.mu.Unlock()
	for _, l := range f.links.byIndex {
		if l.Attrs().Name == name {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

// newHostPortRig is a daemon on cfg, without a fast path, whose host ports
// are fakes.
func newHostPortRig(t *testing.T, cfg *config.Config) (*rig, *fakeHostPorts) {
	t.Helper()
	r := &rig{t: t, links: &fakeLinks{byIndex: map[int]netlink.Link{}},
		socks: &fakeSockets{queues: 1, fail: map[string]error{}, xsk: map[string]*fakeXSK{}}, native: map[int]bool{}}
	hp := &fakeHostPorts{links: r.links, next: 100}
	cfg.FastPath, cfg.PortType = config.ModeOff, config.PortTypeAFPacket
	sys := system{
		loadFastPath:  func(bpf.Options) (FastPath, error) { return nil, errors.New("no BPF here") },
		cleanup:       func(string) error { return nil },
		nativeXDP:     func(int) bool { return false },
		watchFeatures: func(context.Context, func(int)) error { return nil },
		links:         r.links,
		sockets:       r.socks,
		hostPorts:     hp,
	}
	r.d = newDaemon(cfg, slog.New(slog.DiscardHandler), sys)
	t.Cleanup(func() { r.d.Close() })
	return r, hp
}

func TestHostPortsMadeAndAttached(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		cfg, err := config.Parse("x.yaml", []byte(testBridge+"    host-port: {name: eth0, mtu: 9000}\n"))
		if err != nil {
			t.Fatal(err)
		}
		r, hp := newHostPortRig(t, cfg)
		if err := r.d.Resync(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"eth0 xenbr0  9000"}; !slices.Equal(hp.ensured, want) {
			t.Errorf("ensured %q, want %q", hp.ensured, want)
		}
		if _, ok := r.port(hostport.Peer("eth0")); !ok {
			t.Errorf("the switch end is not a port of xenbr0")
		}
	})
	t.Run("auto", func(t *testing.T) {
		r, hp := newHostPortRig(t, config.Auto())
		r.links.add(3, "vif1.0", "veth", 1500)
		if err := r.d.Resync(); err != nil {
			t.Fatal(err)
		}
		if len(hp.ensured) != 0 {
			t.Errorf("host ports made before the uplink: %q", hp.ensured)
		}
		up := r.links.add(2, "peth0", "device", 9000)
		up.Attrs().HardwareAddr = mac(7)
		r.d.linkPresent(2, "peth0")
		if want := []string{"eth0 xenbr0 02:00:00:00:00:07 9000"}; !slices.Equal(hp.ensured, want) {
			t.Errorf("ensured %q, want %q (pethN's MAC and MTU)", hp.ensured, want)
		}
		for _, p := range []string{"peth0", "vif1.0", hostport.Peer("eth0")} {
			if _, ok := r.port(p); !ok {
				t.Errorf("%s is not a port of xenbr0", p)
			}
		}
		// The host port follows a change of the uplink's MTU at once.
		up.Attrs().MTU = 1500
		r.d.linkPresent(2, "peth0")
		if got := hp.ensured[len(hp.ensured)-1]; got != "eth0 xenbr0 02:00:00:00:00:07 1500" {
			t.Errorf("after peth0's MTU changed, ensured %q", got)
		}
		// The next resync adopts it and keeps the switch end, made after
		// no listing, attached.
		if err := r.d.Resync(); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.port(hostport.Peer("eth0")); !ok || len(hp.ensured) != 3 {
			t.Errorf("after a resync: switch end attached %v, ensured %q", ok, hp.ensured)
		}
	})
	t.Run("auto, uplink at start", func(t *testing.T) {
		// The switch end is made during the first resync, after its
		// listing: it must stay attached all the same.
		r, _ := newHostPortRig(t, config.Auto())
		r.links.add(2, "peth0", "device", 1500)
		if err := r.d.Resync(); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.port(hostport.Peer("eth0")); !ok {
			t.Errorf("the switch end made during the first resync is not a port")
		}
	})
}

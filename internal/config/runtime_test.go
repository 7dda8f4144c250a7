package config

import (
	"testing"

	"github.com/xswitch/xswitch/policy"
)

// TestRuntime: a runtime bridge's exact names win over the naming rule and
// the file, keep the settings of the bridge of the same name, and go when
// dropped.
func TestRuntime(t *testing.T) {
	c := Auto()
	if _, _, ok := c.Match("eth0"); ok {
		t.Fatal("auto mode matched eth0")
	}
	vif, _, _ := c.Match("vif1.0")
	vif.FDB.AgingTime = 42
	c.Bridges[0] = vif
	c.SetRuntime(c.RuntimeBridge("xenbr0", "eth0", []string{"vif1.0", "xhp-xenbr0"}, "xenbr0"))
	for _, tt := range []struct {
		ifname string
		uplink bool
	}{{"eth0", true}, {"vif1.0", false}, {"xhp-xenbr0", false}} {
		b, uplink, ok := c.Match(tt.ifname)
		if !ok || b.Name != "xenbr0" || uplink != tt.uplink || b.HostPort.Name != "xenbr0" || b.FDB.AgingTime != 42 {
			t.Errorf("Match(%q) = %q uplink %v ok %v host port %q aging %v; want xenbr0, uplink %v, host port xenbr0, the bridge's aging", tt.ifname, b.Name, uplink, ok, b.HostPort.Name, b.FDB.AgingTime, tt.uplink)
		}
	}
	if b, _, ok := c.Match("vif2.0"); !ok || b.Name != "xenbr0" {
		t.Errorf("vif2.0 left the naming rule: %q %v", b.Name, ok)
	}
	c.DropRuntime("xenbr0")
	if _, _, ok := c.Match("eth0"); ok || len(c.Runtime) != 0 {
		t.Errorf("eth0 still matches after the runtime bridge was dropped")
	}
}

// A runtime port wins over the file's globs, the naming rule and the
// runtime bridges, with its own settings first; one whose bridge is not
// there matches nothing.
func TestRuntimePorts(t *testing.T) {
	c, err := Parse("x.yaml", []byte("bridges:\n  - name: a\n    ports: [\"vif*\"]\n    port-fastpath: {\"vif*\": tc}\n  - name: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetRuntime(c.RuntimeBridge("c", "eth0", []string{"vif3.0"}, ""))
	pol := policy.Policy{VLAN: policy.AccessVLAN(10), Isolated: true}
	c.SetRuntimePort(RuntimePort{Name: "vif1.0", Bridge: "b", Policy: pol, FastPath: ModeOff})
	c.SetRuntimePort(RuntimePort{Name: "vif3.0", Bridge: "a"})
	c.SetRuntimePort(RuntimePort{Name: "vif4.0", Bridge: "gone"})
	for _, tt := range []struct {
		ifname, bridge string
		ok             bool
		mode           Mode
	}{
		{"vif1.0", "b", true, ModeOff}, // the runtime port's mode
		{"vif2.0", "a", true, ModeTC},  // the glob
		{"vif3.0", "a", true, ModeTC},  // beats the runtime bridge's name, keeps the bridge's mode
		{"vif4.0", "", false, ""},      // not the glob's either
	} {
		b, _, ok := c.Match(tt.ifname)
		if ok != tt.ok || b.Name != tt.bridge || ok && b.Mode(tt.ifname, ModeAuto) != tt.mode {
			t.Errorf("Match(%q) = %q %v mode %s; want %q %v mode %s", tt.ifname, b.Name, ok, b.Mode(tt.ifname, ModeAuto), tt.bridge, tt.ok, tt.mode)
		}
	}
	if b, _, _ := c.Match("vif1.0"); b.Policy("vif1.0").VLAN.String() != "access 10" || !b.Policy("vif1.0").Isolated {
		t.Errorf("vif1.0's policy: %+v", b.Policy("vif1.0"))
	}
	if len(c.Bridges[0].PortModes) != 1 || len(c.Bridges[1].PortPolicies) != 0 {
		t.Error("matching a runtime port changed the file's bridges")
	}
	c.DropRuntimePort("vif1.0")
	if b, _, _ := c.Match("vif1.0"); b.Name != "a" {
		t.Errorf("dropped runtime port vif1.0 matches %q, want the glob's a", b.Name)
	}
	if !c.WantsFastPath() {
		t.Error("fast path not wanted")
	}
}

// In auto mode a runtime port may name a bridge the naming rule has made,
// or xenbrN, which it makes.
func TestRuntimePortsAuto(t *testing.T) {
	c := Auto()
	c.Match("peth1")
	for _, tt := range []struct {
		bridge string
		ok     bool
	}{{"xenbr1", true}, {"xenbr7", true}, {"xenbr", false}, {"xenbrx", false}, {"br0", false}} {
		if _, ok := c.LookupBridge(tt.bridge); ok != tt.ok {
			t.Errorf("LookupBridge(%q) = %v, want %v", tt.bridge, ok, tt.ok)
		}
	}
	c.SetRuntimePort(RuntimePort{Name: "tap0", Bridge: "xenbr7"})
	if b, _, ok := c.Match("tap0"); !ok || b.Name != "xenbr7" || len(b.Ports) != 2 {
		t.Errorf("tap0: %+v %v", b, ok)
	}
}

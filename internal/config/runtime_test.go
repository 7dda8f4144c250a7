package config

import "testing"

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

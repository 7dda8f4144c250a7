package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xswitch/xswitch/policy"
)

func TestPortSettings(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*"]
    port-settings:
      peth0: {vlan: "trunk 10,20 native 5"}
      vif1.0: {vlan: "access 10", isolated: true, antispoof: true, mac: "00:16:3e:00:00:01", allowed: ["192.0.2.5", "2001:db8::/64"]}
      "vif1.*": {vlan: "30", allowed: "192.0.2.6 192.0.2.7"}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bridges[0]
	up := b.Policy("peth0")
	if up.VLAN.String() != "trunk 10,20 native 5" || up.Isolated || up.AntiSpoof {
		t.Errorf("peth0: %+v", up)
	}
	vif := b.Policy("vif1.0") // the first match wins
	if vif.VLAN.String() != "access 10" || !vif.Isolated || !vif.AntiSpoof || vif.MAC.String() != "00:16:3e:00:00:01" ||
		!slices.Equal(vif.Allowed, []netip.Prefix{netip.MustParsePrefix("192.0.2.5/32"), netip.MustParsePrefix("2001:db8::/64")}) {
		t.Errorf("vif1.0: %+v", vif)
	}
	if other := b.Policy("vif1.1"); other.VLAN.String() != "access 30" || len(other.Allowed) != 2 || other.AntiSpoof {
		t.Errorf("vif1.1: %+v", other)
	}
	if none := b.Policy("vif2.0"); none.VLAN.Mode != policy.Transparent || none.Isolated || none.AntiSpoof || none.MAC != nil {
		t.Errorf("vif2.0 has settings: %+v", none)
	}
}

func TestPortSettingsErrors(t *testing.T) {
	const head = "bridges:\n  - name: a\n    port-settings:\n"
	for _, tt := range []struct{ name, yaml, want string }{
		{"list", "bridges:\n  - name: a\n    port-settings: [vif1.0]\n", `x.yaml:3: bridge "a": port-settings: want a mapping`},
		{"bad glob", head + "      \"vif[\": {vlan: 10}\n", `x.yaml:4: bridge "a": port-settings: "vif[" is not an interface name or glob`},
		{"not a mapping", head + "      vif1.0: 10\n", `x.yaml:4: bridge "a": port-settings: vif1.0: want a mapping`},
		{"unknown key", head + "      vif1.0:\n        vlan: 10\n        colour: red\n", `x.yaml:6: bridge "a": port-settings: vif1.0: unknown key "colour"`},
		{"bad vlan", head + "      vif1.0:\n        isolated: true\n        vlan: \"trunk 1-5000\"\n", `x.yaml:6: bridge "a": port-settings: vif1.0: vlan: VLANs "trunk 1-5000"`},
		{"bad mac", head + "      vif1.0: {mac: \"01:00:5e:00:00:01\"}\n", `x.yaml:4: bridge "a": port-settings: vif1.0: mac: "01:00:5e:00:00:01" is not a unicast`},
		{"bad address", head + "      vif1.0:\n        allowed: [192.0.2.300]\n", `x.yaml:5: bridge "a": port-settings: vif1.0: allowed: allowed address "192.0.2.300"`},
		{"anti-spoofing without a MAC", head + "      vif1.0: {antispoof: true}\n", `x.yaml:4: bridge "a": port-settings: vif1.0: anti-spoofing needs the port's MAC`},
		{"wrong type", head + "      vif1.0:\n        isolated: maybe\n", `x.yaml:5: bridge "a": port-settings: vif1.0: cannot unmarshal`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

package config

import (
	"strings"
	"testing"
)

func TestStormControl(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
    storm-control: {broadcast: 1000, multicast: 2000}
    port-settings:
      vif1.0: {storm-control: {broadcast: 50, unknown-unicast: 300}}
      "vif2.*": {vlan: "access 10"}
      "vif*": {storm-control: {multicast: 0}}
  - name: xenbr1
    ports: [vif9.0]
`))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bridges[0]
	for _, tt := range []struct {
		port string
		want StormControl
	}{
		{"vif1.0", StormControl{Broadcast: 50, Multicast: 2000, UnknownUnicast: 300}}, // kinds it does not name are the bridge's
		{"vif2.0", StormControl{Broadcast: 1000}},                                     // the first entry with storm-control
		{"peth0", StormControl{Broadcast: 1000, Multicast: 2000}},                     // no entry: the bridge's
	} {
		if got := b.Storm(tt.port); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.port, got, tt.want)
		}
	}
	if got := b.Policy("vif2.0"); got.VLAN.String() != "access 10" {
		t.Errorf("vif2.0's policy %+v: storm-control took its entry", got)
	}
	// vif1.0's first entry sets only storm-control: its VLANs come from
	// the next entry that matches.
	c2, err := Parse("y.yaml", []byte(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
    port-settings:
      "vif*": {storm-control: {broadcast: 100}}
      vif1.0: {vlan: "access 20"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.Bridges[0].Policy("vif1.0"); got.VLAN.String() != "access 20" {
		t.Errorf("vif1.0's policy %+v: an entry of storm-control only took the place of its VLANs", got)
	}
	if got := c2.Bridges[0].Storm("vif1.0"); got.Broadcast != 100 {
		t.Errorf("vif1.0's storm-control %+v, want broadcast 100", got)
	}
	if got := c.Bridges[1].Storm("vif9.0"); got != (StormControl{}) {
		t.Errorf("no storm-control: %+v, want no limit", got)
	}
}

func TestStormControlErrors(t *testing.T) {
	const head = "bridges:\n  - name: a\n"
	for _, tt := range []struct{ name, yaml, want string }{
		{"not a mapping", head + "    storm-control: 1000\n", `x.yaml:3: bridge "a": storm-control: want a mapping`},
		{"unknown kind", head + "    storm-control:\n      unicast: 5\n", `x.yaml:4: bridge "a": storm-control: unknown key "unicast"`},
		{"negative", head + "    storm-control:\n      broadcast: -1\n", `x.yaml:4: bridge "a": storm-control: broadcast: "-1" is not a rate`},
		{"not a number", head + "    storm-control: {multicast: lots}\n", `x.yaml:3: bridge "a": storm-control: multicast: "lots" is not a rate`},
		{"too high", head + "    storm-control: {broadcast: 100000001}\n", `bridge "a": storm-control: broadcast: "100000001" is not a rate in frames per second between 0 (no limit) and 100000000`},
		{"port", head + "    port-settings:\n      vif1.0:\n        storm-control: {unknown-unicast: 1.5}\n",
			`x.yaml:5: bridge "a": port-settings: vif1.0: storm-control: unknown-unicast: "1.5" is not a rate`},
		{"port, unknown kind", head + "    port-settings:\n      vif1.0:\n        storm-control:\n          bcast: 10\n",
			`x.yaml:6: bridge "a": port-settings: vif1.0: storm-control: unknown key "bcast"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

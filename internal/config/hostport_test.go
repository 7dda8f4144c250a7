package config

import (
	"strings"
	"testing"
)

func TestHostPort(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*.0"]
    host-port: eth0
  - name: xenbr1
    uplink: peth1
    host-port: {name: drbd, mac: "02:00:00:00:01:01", mtu: 9000}
  - name: guests
    ports: ["vif*.2"]
    host-port: guests
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		bridge  int
		name    string
		mac     string
		mtu, ln int
	}{
		{0, "eth0", "", 0, 6},
		{1, "drbd", "02:00:00:00:01:01", 9000, 9},
		{2, "guests", "", 0, 12}, // a bridge is no netdev: its name is free, as a migrated kernel bridge's
	}
	for _, tt := range tests {
		h := c.Bridges[tt.bridge].HostPort
		mac := ""
		if h.MAC != nil {
			mac = h.MAC.String()
		}
		if h.Name != tt.name || mac != tt.mac || h.MTU != tt.mtu || h.Line != tt.ln || h.FromUplink {
			t.Errorf("bridge %d: host port %+v, want %s, %q, %d at line %d", tt.bridge, h, tt.name, tt.mac, tt.mtu, tt.ln)
		}
	}
}

func TestHostPortErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"bad name", "bridges:\n  - name: a\n    host-port: \"eth 0\"\n", `x.yaml:3: bridge "a": host-port: "eth 0" is not an interface name`},
		{"long name", "bridges:\n  - name: a\n    host-port: {name: a-very-long-name0}\n", `x.yaml:3: bridge "a": host-port: "a-very-long-name0" is not an interface name`},
		{"glob name", "bridges:\n  - name: a\n    host-port: \"eth*\"\n", `x.yaml:3: bridge "a": host-port: "eth*" is not an interface name`},
		{"no name", "bridges:\n  - name: a\n    host-port:\n      mtu: 1500\n", `x.yaml:4: bridge "a": host-port: "" is not an interface name`},
		{"uplink's name", "bridges:\n  - name: a\n    uplink: eth0\n    host-port: eth0\n", `x.yaml:4: bridge "a": host-port eth0 is already a port of bridge "a"`},
		{"in two bridges", "bridges:\n  - name: a\n    host-port: eth0\n  - name: b\n    host-port: eth0\n", `x.yaml:5: bridge "b": host-port eth0 is already a port of bridge "a"`},
		{"matched by a glob", "bridges:\n  - name: a\n    host-port: eth0\n  - name: b\n    ports: [\"eth*\"]\n", `x.yaml:3: bridge "a": host-port eth0 matches port "eth*" of bridge "b"`},
		{"bad mac", "bridges:\n  - name: a\n    host-port:\n      name: eth0\n      mac: 02:00:00\n", `x.yaml:5: bridge "a": host-port eth0: mac "02:00:00" is not a unicast Ethernet address`},
		{"multicast mac", "bridges:\n  - name: a\n    host-port: {name: eth0, mac: \"01:00:5e:00:00:01\"}\n", `x.yaml:3: bridge "a": host-port eth0: mac "01:00:5e:00:00:01" is not a unicast`},
		{"mtu too small", "bridges:\n  - name: a\n    host-port:\n      name: eth0\n      mtu: 67\n", `x.yaml:5: bridge "a": host-port eth0: mtu 67 is not between 68 and 65535`},
		{"mtu too large", "bridges:\n  - name: a\n    host-port: {name: eth0, mtu: 65536}\n", `x.yaml:3: bridge "a": host-port eth0: mtu 65536 is not between 68 and 65535`},
		{"mtu not a number", "bridges:\n  - name: a\n    host-port: {name: eth0, mtu: big}\n", `x.yaml:3: bridge "a": host-port: `},
		{"unknown key", "bridges:\n  - name: a\n    host-port:\n      name: eth0\n      ip: 10.0.0.1/24\n", `x.yaml:5: bridge "a": host-port: unknown key "ip"`},
		{"list", "bridges:\n  - name: a\n    host-port: [eth0]\n", `x.yaml:3: bridge "a": host-port: want an interface name, or a mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestAutoHostPort(t *testing.T) {
	for _, tt := range []struct {
		hostPorts bool
		want      string
	}{{true, "eth3"}, {false, ""}} {
		c := Auto()
		c.HostPorts = tt.hostPorts
		// A vif may come first: the bridge gets its host port with its uplink.
		if b, _, _ := c.Match("vif1.3"); b.HostPort.Name != "" {
			t.Errorf("xenbr3 without an uplink got host port %+v", b.HostPort)
		}
		b, _, _ := c.Match("peth3")
		if b.HostPort.Name != tt.want || tt.want != "" && !b.HostPort.FromUplink {
			t.Errorf("HostPorts %v: xenbr3 of peth3 got host port %+v, want %q from the uplink", tt.hostPorts, b.HostPort, tt.want)
		}
		if b, _, _ := c.Match("vif2.3"); b.HostPort.Name != tt.want {
			t.Errorf("HostPorts %v: xenbr3 lost its host port: %+v", tt.hostPorts, b.HostPort)
		}
		if _, _, ok := c.Match(tt.want); tt.want != "" && ok {
			t.Errorf("the host port %s matches as a port", tt.want)
		}
	}
	if !Auto().HostPorts {
		t.Error("auto mode has host ports off by default")
	}
}

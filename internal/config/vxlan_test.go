package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xswitch/xswitch/policy"
)

func TestVXLAN(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*.0", vxlan100]
    vxlan:
      - {vni: 100, local: 192.0.2.1, underlay: eth1, flood: [192.0.2.2, 192.0.2.3]}
      - vni: 200
        name: vx-blue
        local: 192.0.2.1
        port: 8472
        mtu: 1450
        learning: true
        vlan: 20
  - name: xenbr1
    port-settings:
      vxlan300: {vlan: "trunk 5,6"}
    vxlan:
      - {vni: 300, local: "2001:db8::1", vlan: 30}
`))
	if err != nil {
		t.Fatal(err)
	}
	b0, b1 := c.Bridges[0], c.Bridges[1]
	want := []VXLAN{
		{Name: "vxlan100", VNI: 100, Local: netip.MustParseAddr("192.0.2.1"), Port: 4789, Underlay: "eth1",
			Flood: []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")}, Line: 7},
		{Name: "vx-blue", VNI: 200, Local: netip.MustParseAddr("192.0.2.1"), Port: 8472, MTU: 1450, Learning: true, VLAN: 20, Line: 8},
	}
	if len(b0.VXLAN) != 2 {
		t.Fatalf("xenbr0 vxlan = %+v", b0.VXLAN)
	}
	for i, w := range want {
		g := b0.VXLAN[i]
		if g.Name != w.Name || g.VNI != w.VNI || g.Local != w.Local || g.Port != w.Port || g.Underlay != w.Underlay ||
			g.MTU != w.MTU || g.Learning != w.Learning || g.VLAN != w.VLAN || g.Line != w.Line || !slices.Equal(g.Flood, w.Flood) {
			t.Errorf("vxlan %d = %+v, want %+v", i, g, w)
		}
	}
	// Named once in ports, the device is not listed twice.
	if !slices.Equal(b0.Ports, []string{"vif*.0", "vxlan100", "vx-blue"}) {
		t.Errorf("xenbr0 ports = %v", b0.Ports)
	}
	if m, _, ok := c.Match("vx-blue"); !ok || m.Name != "xenbr0" {
		t.Errorf("vx-blue matches %q, %v", m.Name, ok)
	}
	if got := b0.Policy("vx-blue").VLAN; got.Mode != policy.Access || got.PVID != 20 {
		t.Errorf("vx-blue VLANs = %+v, want access 20", got)
	}
	if got := b0.Policy("vxlan100").VLAN; got.Mode != policy.Transparent {
		t.Errorf("vxlan100 VLANs = %+v, want transparent", got)
	}
	// The file's own port-settings entry wins over the vlan shorthand.
	if got := b1.Policy("vxlan300").VLAN; got.Mode != policy.Trunk {
		t.Errorf("vxlan300 VLANs = %+v, want the file's trunk", got)
	}
	if d := b1.VXLAN[0].Device(); d.Name != "vxlan300" || d.VNI != 300 || d.Local != netip.MustParseAddr("2001:db8::1") || d.Port != 4789 {
		t.Errorf("Device() = %+v", d)
	}
}

func TestVXLANErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"not a list", "vxlan: {vni: 1}", "want a list"},
		{"unknown key", "vxlan: [{vni: 1, local: 192.0.2.1, group: 239.1.1.1}]", `x.yaml:3: bridge "br": vxlan: unknown key "group"`},
		{"no vni", "vxlan: [{local: 192.0.2.1}]", "vni 0 is not between 1 and 16777215"},
		{"big vni", "vxlan: [{vni: 16777216, local: 192.0.2.1}]", "vni 16777216 is not between"},
		{"vni twice", "vxlan: [{vni: 5, local: 192.0.2.1}, {vni: 5, name: vx2, local: 192.0.2.1}]", "vni 5 is already used by bridge \"br\""},
		{"no local", "vxlan: [{vni: 5}]", `local "" is not a unicast IP address`},
		{"multicast local", "vxlan: [{vni: 5, local: 239.0.0.1}]", "is not a unicast IP address"},
		{"bad name", "vxlan: [{vni: 5, local: 192.0.2.1, name: 'vx*'}]", "is not an interface name"},
		{"name of another bridge", "vxlan: [{vni: 5, local: 192.0.2.1, name: vif1.0}]\n  - name: other\n    ports: [vif1.0]", ""},
		{"port", "vxlan: [{vni: 5, local: 192.0.2.1, port: 70000}]", "port 70000 is not a UDP port"},
		{"mtu", "vxlan: [{vni: 5, local: 192.0.2.1, mtu: 10}]", "mtu 10 is not between 68 and 65535"},
		{"flood", "vxlan: [{vni: 5, local: 192.0.2.1, flood: [nope]}]", `flood: "nope" is not a unicast IP address`},
		{"flood family", "vxlan: [{vni: 5, local: 192.0.2.1, flood: ['2001:db8::2']}]", "different IP families"},
		{"vlan", "vxlan: [{vni: 5, local: 192.0.2.1, vlan: 4095}]", "vlan 4095 is not between 1 and 4094"},
		{"underlay is a port", "ports: [eth1]\n    vxlan: [{vni: 5, local: 192.0.2.1, underlay: eth1}]", "underlay eth1 is a port of bridge"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte("bridges:\n  - name: br\n    "+tt.yaml+"\n"))
			if tt.want == "" {
				// A later bridge naming the device is refused by the ports check.
				if err == nil || !strings.Contains(err.Error(), "already a port of bridge") {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

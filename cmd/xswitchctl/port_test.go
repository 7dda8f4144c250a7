package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/xswitch/xswitch/internal/control"
)

// TestPortAdd: the flags may stand before, between or after the
// arguments; the spec sent is the same, and a second add changes nothing.
func TestPortAdd(t *testing.T) {
	t.Parallel()
	want := &control.PortSpec{Bridge: "xenbr0", VLAN: "access 10", AntiSpoof: true, Isolated: true, MAC: "00:16:3e:00:00:02",
		Allowed: []string{"192.0.2.6", "2001:db8::/64"}, FastPath: "off", PortType: "afpacket"}
	flags := []string{"-access", "10", "-mac", "00:16:3E:00:00:02", "-allow", "192.0.2.6, 2001:db8::/64", "-antispoof", "-isolated", "-fastpath", "off", "-type", "afpacket"}
	for i, args := range [][]string{
		append([]string{"port", "add", "xenbr0", "vif4.0"}, flags...),
		append(append([]string{"port", "add"}, flags...), "xenbr0", "vif4.0"),
		append(append(append([]string{"port", "add", "xenbr0"}, flags[:4]...), "vif4.0"), flags[4:]...),
	} {
		f, sock := newFake(t)
		out, errOut, code := xswitchctl(t, sock, args...)
		if code != 0 || out != "vif4.0 added to xenbr0\n" || errOut != "" {
			t.Errorf("order %d: exit %d, %q %q", i, code, out, errOut)
		}
		if path, body := f.last(); path != "PUT /v1/ports/vif4.0" || !reflect.DeepEqual(body, want) {
			t.Errorf("order %d: %s %+v, want %+v", i, path, body, want)
		}
		out, _, code = xswitchctl(t, sock, args...)
		if code != 0 || out != "port vif4.0 on xenbr0: nothing changed\n" {
			t.Errorf("order %d, again: exit %d, %q", i, code, out)
		}
	}
}

// TestPortJSON: -json before or after the command prints the daemon's
// answer as it came.
func TestPortJSON(t *testing.T) {
	t.Parallel()
	_, sock := newFake(t)
	for _, args := range [][]string{
		{"-json", "port", "add", "xenbr0", "vif4.0", "-trunk", "20,30", "-native", "10"},
		{"port", "add", "xenbr0", "vif4.0", "-trunk", "20,30", "-native", "10", "-json"},
	} {
		out, _, code := xswitchctl(t, sock, args...)
		var ch control.PortChange
		if err := json.Unmarshal([]byte(out), &ch); code != 0 || err != nil || ch.Port != "vif4.0" || ch.Bridge != "xenbr0" {
			t.Errorf("%q: exit %d, %q (%v)", args, code, out, err)
		}
		if !strings.HasPrefix(out, "{\n  \"port\": \"vif4.0\",") {
			t.Errorf("%q: not the daemon's answer as it came: %q", args, out)
		}
	}
	out, _, code := xswitchctl(t, sock, "port", "list", "xenbr0", "-json")
	var ports []control.Port
	if err := json.Unmarshal([]byte(out), &ports); code != 0 || err != nil || len(ports) != 3 || ports[2].Spec.VLAN != "trunk 20,30 native 10" {
		t.Errorf("port list -json: exit %d, %q (%v)", code, out, err)
	}
}

// TestPortSet: only the settings given change; the others are the port's
// spec when the daemon tells it, else what the port has.
func TestPortSet(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want control.PortSpec
	}{
		{[]string{"vif3.0", "-isolated"}, control.PortSpec{Bridge: "xenbr0", VLAN: "access 10", Isolated: true, AntiSpoof: true,
			MAC: "00:16:3e:00:00:01", Allowed: []string{"192.0.2.5/32"}, FastPath: "tc"}},
		{[]string{"-antispoof=false", "-mac", "", "-allow", "", "vif3.0", "-vlan", "transparent", "-fastpath", ""},
			control.PortSpec{Bridge: "xenbr0", VLAN: "transparent"}},
		{[]string{"vif3.0", "-bridge", "xenbr1", "-type", "afxdp"}, control.PortSpec{Bridge: "xenbr1", VLAN: "access 10", AntiSpoof: true,
			MAC: "00:16:3e:00:00:01", Allowed: []string{"192.0.2.5/32"}, FastPath: "tc", PortType: "afxdp"}},
		{[]string{"peth0", "-native", "5"}, control.PortSpec{Bridge: "xenbr0", VLAN: "trunk 10,20 native 5"}},
		{[]string{"peth0", "-trunk", "30-32"}, control.PortSpec{Bridge: "xenbr0", VLAN: "trunk 30-32 native 1"}},
		{[]string{"peth0", "-access", "7"}, control.PortSpec{Bridge: "xenbr0", VLAN: "access 7"}},
	} {
		f, sock := newFake(t)
		_, errOut, _ := xswitchctl(t, sock, append([]string{"port", "set"}, c.args...)...)
		if path, body := f.last(); !strings.HasPrefix(path, "PUT /v1/ports/") || !reflect.DeepEqual(body, &c.want) {
			t.Errorf("%q: %s %+v, want %+v (%s)", c.args, path, body, c.want, errOut)
		}
	}
}

// TestPortErrors: what xswitchd refuses exits 1 and names the port and the
// cause; a wrong command line exits 2 and sends nothing.
func TestPortErrors(t *testing.T) {
	t.Parallel()
	f, sock := newFake(t)
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"port", "add", "xenbr9", "vif4.0"}, 1, "xswitchctl: port vif4.0: bridge xenbr9: no such bridge\n"},
		{[]string{"port", "add", "xenbr7", "vif4.0"}, 1, "xswitchctl: port vif4.0: attach: device busy\n"},
		{[]string{"port", "set", "vif9.0", "-isolated"}, 1, "xswitchctl: port vif9.0: not a port of xswitchd"},
		{[]string{"port", "set", "vif3.0", "-mac", ""}, 2, "xswitchctl port set: -antispoof needs -mac\n"},
		{[]string{"port", "set", "vif3.0"}, 2, "xswitchctl port set: no setting to change\n"},
		{[]string{"port", "set", "vif3.0", "-json"}, 2, "xswitchctl port set: no setting to change\n"},
		{[]string{"port", "add", "xenbr0"}, 2, "xswitchctl port add: too few arguments\nUsage: xswitchctl port add [flags] BRIDGE IFACE"},
		{[]string{"port", "add", "xenbr0", "vif4.0", "vif5.0"}, 2, "too many arguments: vif5.0"},
		{[]string{"port", "add", "xenbr0", "vif4.0", "-access", "4095"}, 2, `invalid value "4095" for flag -access`},
		{[]string{"port", "add", "xenbr0", "vif4.0", "-access", "10", "-trunk", "20"}, 2, "exclude each other"},
		{[]string{"port", "add", "xenbr0", "vif4.0", "-native", "10"}, 2, "-native needs -trunk"},
		{[]string{"port", "add", "xenbr0", "vif4.0", "-antispoof"}, 2, "-antispoof needs -mac"},
		{[]string{"port", "add", "xenbr0", "vif4.0", "-mac", "01:00:5e:00:00:01"}, 2, "want a unicast Ethernet address"},
		{[]string{"port", "add", "xenbr0", "vif4.0", "-allow", "192.0.2.300"}, 2, `allowed address "192.0.2.300"`},
		{[]string{"port", "add", "xenbr0", "vif4.0", "-fastpath", "fast"}, 2, `unknown fast path mode "fast"`},
		{[]string{"port", "add", "xenbr0", "vif4.0", "-bridge", "xenbr1"}, 2, "flag provided but not defined: -bridge"},
		{[]string{"port", "move", "vif4.0"}, 2, `xswitchctl port: unknown verb "move"`},
		{[]string{"port"}, 2, "xswitchctl port: no verb"},
		{[]string{"static", "add", "xenbr0", "02:00:00:00:00:zz", "peth0"}, 2, `MAC "02:00:00:00:00:zz"`},
		{[]string{"static", "add", "xenbr0", "02:00:00:00:00:07", "peth0", "-vlan", "4095"}, 2, `invalid value "4095" for flag -vlan`},
		{[]string{"static", "del", "xenbr9", "02:00:00:00:00:07"}, 1, "xswitchctl: static MAC 02:00:00:00:00:07 (VLAN 0) on xenbr9: bridge xenbr9: no such bridge\n"},
		{[]string{"ports", "xenbr0", "xenbr1"}, 2, "too many arguments"},
		{[]string{"nope"}, 2, `xswitchctl: unknown command "nope"`},
		// Other commands keep the endpoint in the reason, as before.
		{[]string{"takeover", "eth7"}, 1, "xswitchctl: xswitchd: POST /v1/takeover: takeover of eth7: no such interface\n"},
	} {
		before, _ := f.last()
		out, errOut, code := xswitchctl(t, sock, c.args...)
		if code != c.code || !strings.Contains(errOut, c.stderr) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.stderr)
		}
		if after, _ := f.last(); c.code == 2 && after != before {
			t.Errorf("%q: a wrong command line sent %s", c.args, after)
		}
	}
}

// TestPortDelAndStatic: removal and static MACs, and their answers the
// second time.
func TestPortDelAndStatic(t *testing.T) {
	t.Parallel()
	f, sock := newFake(t)
	for _, c := range []struct {
		args []string
		out  string
		path string
		body any
	}{
		{[]string{"port", "del", "vif3.0"}, "port vif3.0: removed\n", "DELETE /v1/ports/vif3.0", nil},
		{[]string{"port", "del", "vif3.0"}, "port vif3.0: nothing changed\n", "DELETE /v1/ports/vif3.0", nil},
		{[]string{"static", "add", "-vlan", "10", "xenbr0", "02:00:00:00:00:0A", "peth0"}, "static MAC 02:00:00:00:00:0a (VLAN 10) on xenbr0: pinned to peth0\n",
			"PUT /v1/fdb/static", &control.Static{Bridge: "xenbr0", MAC: "02:00:00:00:00:0a", VLAN: 10, Port: "peth0"}},
		{[]string{"static", "add", "xenbr0", "02:00:00:00:00:0a", "peth0", "-vlan", "10"}, "static MAC 02:00:00:00:00:0a (VLAN 10) on xenbr0: nothing changed\n",
			"PUT /v1/fdb/static", &control.Static{Bridge: "xenbr0", MAC: "02:00:00:00:00:0a", VLAN: 10, Port: "peth0"}},
		{[]string{"static", "del", "xenbr0", "02:00:00:00:00:0a", "-vlan", "10"}, "static MAC 02:00:00:00:00:0a (VLAN 10) on xenbr0: unpinned\n",
			"DELETE /v1/fdb/static", &control.Static{Bridge: "xenbr0", MAC: "02:00:00:00:00:0a", VLAN: 10}},
		{[]string{"static", "del", "xenbr0", "02:00:00:00:00:0a", "-vlan", "10"}, "static MAC 02:00:00:00:00:0a (VLAN 10) on xenbr0: nothing changed\n",
			"DELETE /v1/fdb/static", &control.Static{Bridge: "xenbr0", MAC: "02:00:00:00:00:0a", VLAN: 10}},
	} {
		out, errOut, code := xswitchctl(t, sock, c.args...)
		if code != 0 || out != c.out {
			t.Errorf("%q: exit %d, %q %q; want %q", c.args, code, out, errOut, c.out)
		}
		if path, body := f.last(); path != c.path || !reflect.DeepEqual(body, c.body) {
			t.Errorf("%q: %s %+v, want %s %+v", c.args, path, body, c.path, c.body)
		}
	}
}

// TestPortsTable: the ports and port list tables show each port's VLANs,
// isolation and anti-spoofing.
func TestPortsTable(t *testing.T) {
	t.Parallel()
	_, sock := newFake(t)
	for _, args := range [][]string{{"ports"}, {"port", "list", "xenbr0"}} {
		out, _, code := xswitchctl(t, sock, args...)
		lines := strings.Split(out, "\n")
		if code != 0 || len(lines) != 4 {
			t.Fatalf("%q: exit %d\n%s", args, code, out)
		}
		if f := strings.Fields(lines[0]); len(f) < 7 || f[4] != "VLAN" || f[5] != "ISOLATED" || f[6] != "ANTISPOOF" {
			t.Errorf("%q: header %q", args, lines[0])
		}
		if !strings.Contains(lines[1], "trunk 10,20 native 1  no        no") ||
			!strings.Contains(lines[2], "access 10             no        yes") || !strings.HasSuffix(lines[2], " 5") {
			t.Errorf("%q:\n%s", args, out)
		}
	}
}

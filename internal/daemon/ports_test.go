package daemon

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/control/server"
	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
	"github.com/xswitch/xswitch/internal/metrics"
)

// The control API and the exporter reach the daemon through these.
var (
	_ server.PortControl   = (*Daemon)(nil)
	_ server.RuntimePorts  = (*Daemon)(nil)
	_ server.RuntimeSpecs  = (*Daemon)(nil)
	_ metrics.SharedSource = (*Daemon)(nil)
	_ metrics.TapSource    = (*Daemon)(nil)
)

const portsBase = `
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*"]
  - name: xenbr1
`

// portOn returns the status of a port of bridge.
func (r *rig) portOn(bridge, name string) (dataplane.PortStatus, bool) {
	br, ok := r.d.Bridge(bridge)
	if !ok {
		return dataplane.PortStatus{}, false
	}
	for _, ps := range br.Ports() {
		if ps.Name == name {
			return ps, true
		}
	}
	return dataplane.PortStatus{}, false
}

// callsSince returns the fast path's calls after the first n.
func (r *rig) callsSince(n int) []string { return slices.Clone(r.calls()[n:]) }

func (r *rig) setPort(name string, spec control.PortSpec) control.PortChange {
	r.t.Helper()
	res, err := r.d.SetPort(name, spec)
	if err != nil {
		r.t.Fatalf("SetPort(%s, %+v): %v", name, spec, err)
	}
	return res
}

// newPortsRig is a daemon on portsBase with a port state file, and links
// eth5 (7), vif1.0 (8) and eth6 (9), listed once.
func newPortsRig(t *testing.T, state string) *rig {
	t.Helper()
	return newPortsRigFrom(t, portsBase, state)
}

// newPortsRigFrom is newPortsRig on the configuration base.
func newPortsRigFrom(t *testing.T, base, state string) *rig {
	t.Helper()
	cfg := mustParse(t, base)
	if err := LoadPortState(cfg, state, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	r := newRigConfig(t, cfg, fastpathtest.New())
	r.links.add(7, "eth5", "veth", 1500)
	r.links.add(8, "vif1.0", "veth", 1500)
	r.links.add(9, "eth6", "veth", 1500)
	r.d.adopt()
	return r
}

func TestSetPort(t *testing.T) {
	r := newPortsRig(t, filepath.Join(t.TempDir(), "ports.json"))
	if _, ok := r.port("eth5"); ok {
		t.Fatal("eth5 attached before it was asked")
	}
	access := control.PortSpec{Bridge: "xenbr0", VLAN: "access 10", AntiSpoof: true, MAC: "00:16:3e:00:00:01", Allowed: []string{"192.0.2.5", "2001:db8::1 2001:db8::2"}}
	res := r.setPort("eth5", access)
	ps, ok := r.port("eth5")
	if !res.Changed || res.Bridge != "xenbr0" || !ok || ps.Policy.VLAN.String() != "access 10" || !ps.Policy.AntiSpoof || len(ps.Policy.Allowed) != 3 {
		t.Fatalf("added: %+v, port %+v (attached %v)", res, ps, ok)
	}
	if p := r.fp.Attached()[7]; p.Policy.VLAN.String() != "access 10" || p.Policy.MAC.String() != "00:16:3e:00:00:01" {
		t.Errorf("the fast path got policy %+v", p.Policy)
	}
	if !r.d.RuntimePort("eth5") || r.d.RuntimePort("vif1.0") {
		t.Error("RuntimePort wrong")
	}
	if spec, ok := r.d.RuntimePortSpec("eth5"); !ok || !sameSpec(spec, control.PortSpec{Bridge: "xenbr0", VLAN: "access 10", AntiSpoof: true,
		MAC: "00:16:3e:00:00:01", Allowed: []string{"192.0.2.5", "2001:db8::1", "2001:db8::2"}}) {
		t.Errorf("spec %+v", spec)
	}

	// The same again: nothing happens.
	n := len(r.calls())
	if res := r.setPort("eth5", access); res.Changed {
		t.Errorf("same spec again: %+v", res)
	}
	if got := r.callsSince(n); len(got) != 0 {
		t.Errorf("same spec again asked the fast path %q", got)
	}

	// Only the policy changes: in place, in the bridge and the fast path;
	// the MACs learned on the port go, its static MACs stay.
	if _, err := r.d.SetStatic(control.Static{Bridge: "xenbr0", MAC: mac(2).String(), VLAN: 20, Port: "eth5"}); err != nil {
		t.Fatal(err)
	}
	b, _ := r.d.Bridge("xenbr0")
	b.FDB().Learn(fdb.MakeKey(10, mac(1)), ps.ID, fdb.Now())
	n = len(r.calls())
	trunk := access
	trunk.VLAN, trunk.Isolated = "trunk 20,30 native 10", true
	res = r.setPort("eth5", trunk)
	after, _ := r.port("eth5")
	if !res.Changed || after.ID != ps.ID || after.Policy.VLAN.String() != "trunk 20,30 native 10" || !after.Policy.Isolated {
		t.Errorf("policy change: %+v; port %+v, was id %d", res, after, ps.ID)
	}
	if got, want := r.callsSince(n), []string{"policy eth5 trunk 20,30 native 10 isolated antispoof"}; !slices.Equal(got, want) {
		t.Errorf("policy change asked the fast path %q, want %q", got, want)
	}
	if _, ok := b.FDB().Lookup(fdb.MakeKey(10, mac(1))); ok {
		t.Error("a MAC learned under the old policy stayed")
	}
	if id, ok := b.FDB().Lookup(fdb.MakeKey(20, mac(2))); !ok || id != ps.ID {
		t.Error("the static MAC went with the policy change")
	}

	// Another bridge: attached again there.
	n = len(r.calls())
	moved := trunk
	moved.Bridge = "xenbr1"
	res = r.setPort("eth5", moved)
	if _, still := r.port("eth5"); still || !res.Changed || !strings.Contains(res.Message, "moved from xenbr0 to xenbr1") {
		t.Errorf("bridge change: %+v", res)
	}
	if ps, ok := r.portOn("xenbr1", "eth5"); !ok || !ps.Policy.Isolated {
		t.Errorf("eth5 on xenbr1: %+v %v", ps, ok)
	}
	if got, want := r.callsSince(n), []string{"detach eth5", "attach eth5 tc"}; !slices.Equal(got, want) {
		t.Errorf("bridge change asked the fast path %q, want %q", got, want)
	}

	// Another fast-path mode: attached again.
	n = len(r.calls())
	off := moved
	off.FastPath = "off"
	r.setPort("eth5", off)
	if ps, ok := r.portOn("xenbr1", "eth5"); !ok || ps.FastPath != "off" {
		t.Errorf("fast path off: %+v %v", ps, ok)
	}
	if got, want := r.callsSince(n), []string{"detach eth5", "detach eth5"}; !slices.Equal(got, want) {
		t.Errorf("mode change asked the fast path %q, want %q", got, want)
	}
	// A policy change of a port without the fast path is the bridge's only.
	n = len(r.calls())
	off.VLAN = "access 30"
	r.setPort("eth5", off)
	if ps, _ := r.portOn("xenbr1", "eth5"); ps.Policy.VLAN.String() != "access 30" || len(r.callsSince(n)) != 0 {
		t.Errorf("userspace port's policy %s, fast path asked %q", ps.Policy.VLAN, r.callsSince(n))
	}
}

// A runtime port wins over the file's glob: vif1.0 leaves xenbr0.
func TestSetPortWinsOverTheFile(t *testing.T) {
	r := newPortsRig(t, "")
	before, _ := r.port("vif1.0")
	r.setPort("vif1.0", control.PortSpec{Bridge: "xenbr1"})
	if _, ok := r.port("vif1.0"); ok {
		t.Error("vif1.0 still on xenbr0")
	}
	if _, ok := r.portOn("xenbr1", "vif1.0"); !ok {
		t.Error("vif1.0 not on xenbr1")
	}
	// Same bridge as the file's, settings of its own: in place.
	r.setPort("eth6", control.PortSpec{Bridge: "xenbr0"})
	r.setPort("vif1.0", control.PortSpec{Bridge: "xenbr0"})
	now, _ := r.port("vif1.0")
	n := len(r.calls())
	r.setPort("vif1.0", control.PortSpec{Bridge: "xenbr0", VLAN: "5"})
	if after, _ := r.port("vif1.0"); after.ID != now.ID || after.Policy.VLAN.String() != "access 5" || len(r.callsSince(n)) != 1 {
		t.Errorf("vif1.0 %+v (was %d), fast path asked %q", after, before.ID, r.callsSince(n))
	}
}

func TestSetPortErrors(t *testing.T) {
	r := newPortsRig(t, "")
	r.fp.Refuse["eth6"] = errors.New("driver says no")
	for _, tt := range []struct {
		name string
		spec control.PortSpec
		kind error // nil: neither invalid nor not found
		want string
	}{
		{"eth5", control.PortSpec{Bridge: "xenbr9"}, control.ErrNotFound, "port eth5: bridge xenbr9: no such bridge"},
		{"eth9", control.PortSpec{Bridge: "xenbr0"}, control.ErrNotFound, "port eth9: no such interface"},
		{"eth5", control.PortSpec{}, control.ErrInvalid, "port eth5: no bridge given"},
		{"vif*", control.PortSpec{Bridge: "xenbr0"}, control.ErrInvalid, `port: "vif*" is not a valid interface name`},
		{"eth5", control.PortSpec{Bridge: "xenbr0", VLAN: "trunk 10,5000"}, control.ErrInvalid, `port eth5: VLANs "trunk 10,5000"`},
		{"eth5", control.PortSpec{Bridge: "xenbr0", VLAN: "access"}, control.ErrInvalid, `port eth5: VLANs "access"`},
		{"eth5", control.PortSpec{Bridge: "xenbr0", MAC: "01:00:5e:00:00:01"}, control.ErrInvalid, `port eth5: mac: "01:00:5e:00:00:01" is not a unicast`},
		{"eth5", control.PortSpec{Bridge: "xenbr0", Allowed: []string{"192.0.2.1", "nowhere"}}, control.ErrInvalid, `port eth5: allowed address "nowhere"`},
		{"eth5", control.PortSpec{Bridge: "xenbr0", AntiSpoof: true}, control.ErrInvalid, "port eth5: anti-spoofing needs the port's MAC"},
		{"eth5", control.PortSpec{Bridge: "xenbr0", FastPath: "fast"}, control.ErrInvalid, `port eth5: unknown fast path mode "fast"`},
		{"eth5", control.PortSpec{Bridge: "xenbr0", PortType: "tap"}, control.ErrInvalid, `port eth5: unknown port type "tap"`},
		{"eth6", control.PortSpec{Bridge: "xenbr0", FastPath: "tc"}, nil, "port eth6: bridge xenbr0: driver says no; nothing changed"},
	} {
		_, err := r.d.SetPort(tt.name, tt.spec)
		switch {
		case err == nil:
			t.Errorf("SetPort(%s, %+v) succeeded, want %q", tt.name, tt.spec, tt.want)
		case !strings.Contains(err.Error(), tt.want):
			t.Errorf("SetPort(%s, %+v): %q, want %q", tt.name, tt.spec, err, tt.want)
		case tt.kind != nil && !errors.Is(err, tt.kind):
			t.Errorf("SetPort(%s, %+v): %v is not %v", tt.name, tt.spec, err, tt.kind)
		case tt.kind == nil && (errors.Is(err, control.ErrInvalid) || errors.Is(err, control.ErrNotFound)):
			t.Errorf("SetPort(%s, %+v): %v is a bad request", tt.name, tt.spec, err)
		}
	}
	if len(r.d.cfg.RuntimePorts) != 0 {
		t.Errorf("refused requests left runtime ports: %+v", r.d.cfg.RuntimePorts)
	}
	if _, ok := r.port("eth6"); ok {
		t.Error("eth6 attached though the fast path refused it")
	}
}

// A port that cannot attach with new settings keeps its old ones.
func TestSetPortFailureKeepsThePort(t *testing.T) {
	r := newPortsRig(t, "")
	r.setPort("eth5", control.PortSpec{Bridge: "xenbr0", VLAN: "10"})
	r.fp.Refuse["eth5"] = errors.New("driver says no")
	if _, err := r.d.SetPort("eth5", control.PortSpec{Bridge: "xenbr1", VLAN: "10", FastPath: "tc"}); err == nil {
		t.Fatal("moved though the fast path refused")
	}
	delete(r.fp.Refuse, "eth5")
	// Back on xenbr0 (the refusal made it a userspace port there).
	if ps, ok := r.port("eth5"); !ok || ps.Policy.VLAN.String() != "access 10" {
		t.Errorf("eth5 after a failed move: %+v %v", ps, ok)
	}
	if rp, _ := r.d.cfg.RuntimePort("eth5"); rp.Bridge != "xenbr0" {
		t.Errorf("runtime port after a failed move: %+v", rp)
	}
}

func TestRemovePort(t *testing.T) {
	r := newPortsRig(t, "")
	r.setPort("eth5", control.PortSpec{Bridge: "xenbr0"})
	for i, want := range []bool{true, false} {
		res, err := r.d.RemovePort("eth5")
		if err != nil || res.Changed != want {
			t.Errorf("remove %d: %+v %v, want changed %v", i, res, err, want)
		}
	}
	if _, ok := r.port("eth5"); ok || r.d.RuntimePort("eth5") {
		t.Error("eth5 still a port")
	}
	if res, err := r.d.RemovePort("eth9"); err != nil || res.Changed {
		t.Errorf("removing what never was: %+v %v", res, err)
	}

	// A port of the file's glob stays out until its interface goes.
	if res, err := r.d.RemovePort("vif1.0"); err != nil || !res.Changed || res.Bridge != "xenbr0" {
		t.Errorf("remove vif1.0: %+v %v", res, err)
	}
	if err := r.d.Resync(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.port("vif1.0"); ok {
		t.Error("the glob took vif1.0 back")
	}
	r.links.remove(8)
	if err := r.d.Resync(); err != nil {
		t.Fatal(err)
	}
	r.links.add(8, "vif1.0", "veth", 1500)
	if err := r.d.Resync(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.port("vif1.0"); !ok {
		t.Error("a new vif1.0 did not attach")
	}
	// An interface already gone: its record goes, fine.
	r.setPort("eth6", control.PortSpec{Bridge: "xenbr1"})
	r.links.remove(9)
	if res, err := r.d.RemovePort("eth6"); err != nil || !res.Changed || r.d.RuntimePort("eth6") {
		t.Errorf("remove a gone eth6: %+v %v", res, err)
	}
	// And a port added again after a removal attaches.
	r.d.RemovePort("eth5")
	r.setPort("eth5", control.PortSpec{Bridge: "xenbr0"})
	if _, ok := r.port("eth5"); !ok {
		t.Error("eth5 not attached again")
	}
}

// Runtime ports and static MACs outlive a reload and a restart.
func TestRuntimePortsKept(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state", "ports.json")
	r := newPortsRig(t, state)
	r.setPort("eth5", control.PortSpec{Bridge: "xenbr1", VLAN: "trunk 20,30", Isolated: true})
	if _, err := r.d.SetStatic(control.Static{Bridge: "xenbr1", MAC: mac(7).String(), VLAN: 20, Port: "eth5"}); err != nil {
		t.Fatal(err)
	}
	before, _ := r.portOn("xenbr1", "eth5")

	if err := r.d.Reload(mustParse(t, portsBase+"    aging-time: 10s\n")); err != nil {
		t.Fatal(err)
	}
	ps, ok := r.portOn("xenbr1", "eth5")
	if !ok || !ps.Policy.Isolated || !r.d.RuntimePort("eth5") {
		t.Errorf("after a reload that rebuilt xenbr1: %+v %v", ps, ok)
	}
	if b, _ := r.d.Bridge("xenbr1"); b.FDB().Len() != 1 {
		t.Errorf("static MAC not pinned again: %d entries", b.FDB().Len())
	}
	if err := r.d.Reload(mustParse(t, portsBase+"    aging-time: 10s\n  - name: xenbr2\n")); err != nil {
		t.Fatal(err)
	}
	if after, _ := r.portOn("xenbr1", "eth5"); after.ID != ps.ID {
		t.Errorf("an unrelated reload attached eth5 again: %d → %d (first %d)", ps.ID, after.ID, before.ID)
	}
	r.d.Close()

	// A restart reads the state file.
	data, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(data), `"vlan": "trunk 20,30"`) {
		t.Fatalf("state file: %s %v", data, err)
	}
	r2 := newPortsRig(t, state)
	ps, ok = r2.portOn("xenbr1", "eth5")
	if !ok || ps.Policy.VLAN.String() != "trunk 20,30" || !ps.Policy.Isolated {
		t.Errorf("after a restart: %+v %v", ps, ok)
	}
	b, _ := r2.d.Bridge("xenbr1")
	if id, ok := b.FDB().Lookup(fdb.MakeKey(20, mac(7))); !ok || id != ps.ID {
		t.Errorf("static MAC after a restart: on %d %v, want %d", id, ok, ps.ID)
	}
	// Without a state file they live in memory only.
	r3 := newPortsRig(t, "")
	r3.setPort("eth5", control.PortSpec{Bridge: "xenbr1"})
	if r3.d.cfg.PortState != "" {
		t.Error("a state file without one")
	}
}

func TestLoadPortStateErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if err := LoadPortState(config.Auto(), bad, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a broken file: %v", err)
	}
	odd := filepath.Join(dir, "odd.json")
	os.WriteFile(odd, []byte(`{"ports": [{"name": "eth5", "bridge": "xenbr0", "vlan": "access 9999"}, {"name": "eth6", "bridge": "xenbr0"}]}`), 0o644)
	cfg := config.Auto()
	if err := LoadPortState(cfg, odd, slog.New(slog.DiscardHandler)); err != nil || len(cfg.RuntimePorts) != 1 || cfg.RuntimePorts[0].Name != "eth6" {
		t.Errorf("an entry that does not read: %v, %+v", err, cfg.RuntimePorts)
	}
	if err := LoadPortState(config.Auto(), filepath.Join(dir, "none.json"), nil); err != nil {
		t.Errorf("a missing file: %v", err)
	}
}

// In auto mode a runtime port may name xenbrN before any of its
// interfaces made it.
func TestSetPortAuto(t *testing.T) {
	cfg := config.Auto()
	r := newRigConfig(t, cfg, fastpathtest.New())
	r.links.add(7, "tap0", "veth", 1500)
	r.d.adopt()
	r.setPort("tap0", control.PortSpec{Bridge: "xenbr3", VLAN: "access 10"})
	if _, ok := r.portOn("xenbr3", "tap0"); !ok {
		t.Error("tap0 not on xenbr3")
	}
	if _, err := r.d.SetPort("tap0", control.PortSpec{Bridge: "br0"}); !errors.Is(err, control.ErrNotFound) {
		t.Errorf("bridge br0 in auto mode: %v", err)
	}
}

// A reload that changes only the file's port-settings changes the ports in
// place.
func TestReloadPortSettings(t *testing.T) {
	r := newPortsRig(t, "")
	before, _ := r.port("vif1.0")
	n := len(r.calls())
	if err := r.d.Reload(mustParse(t, strings.Replace(portsBase, `["vif*"]`, "[\"vif*\"]\n    port-settings:\n      \"vif*\": {vlan: 10, isolated: true}", 1))); err != nil {
		t.Fatal(err)
	}
	after, _ := r.port("vif1.0")
	if after.ID != before.ID || after.Policy.VLAN.String() != "access 10" || !after.Policy.Isolated {
		t.Errorf("vif1.0 after the reload: %+v (was id %d)", after, before.ID)
	}
	got := slices.DeleteFunc(r.callsSince(n), func(c string) bool { return strings.HasPrefix(c, "refresh ") })
	if want := []string{"policy vif1.0 access 10 isolated"}; !slices.Equal(got, want) {
		t.Errorf("fast path asked %q, want %q", got, want)
	}
}

func TestStatics(t *testing.T) {
	state := filepath.Join(t.TempDir(), "ports.json")
	r := newPortsRig(t, state)
	b, _ := r.d.Bridge("xenbr0")
	vif, _ := r.port("vif1.0")
	st := control.Static{Bridge: "xenbr0", MAC: mac(9).String(), VLAN: 10, Port: "vif1.0"}
	k := fdb.MakeKey(10, mac(9))
	for i, want := range []bool{true, false} {
		res, err := r.d.SetStatic(st)
		if err != nil || res.Changed != want {
			t.Errorf("set %d: %+v %v, want changed %v", i, res, err, want)
		}
	}
	r.d.mirror.sync()
	if id, ok := b.FDB().Lookup(k); !ok || id != vif.ID {
		t.Errorf("static MAC on %d %v, want %d", id, ok, vif.ID)
	}
	if m := r.fp.FDB(); len(m) != 1 || m[0].Ifindex != 8 || !m[0].Static {
		t.Errorf("fast path's MAC map %+v", m)
	}
	// To a port not attached yet: pinned when it attaches.
	st.Port = "eth5"
	if res, err := r.d.SetStatic(st); err != nil || !strings.Contains(res.Message, "when it attaches") {
		t.Errorf("pin to eth5: %+v %v", res, err)
	}
	if _, ok := b.FDB().Lookup(k); ok {
		t.Error("still on vif1.0")
	}
	r.setPort("eth5", control.PortSpec{Bridge: "xenbr0"})
	eth5, _ := r.port("eth5")
	if id, ok := b.FDB().Lookup(k); !ok || id != eth5.ID {
		t.Errorf("static MAC on %d %v after eth5 attached, want %d", id, ok, eth5.ID)
	}
	for i, want := range []bool{true, false} {
		res, err := r.d.DeleteStatic(control.Static{Bridge: "xenbr0", MAC: mac(9).String(), VLAN: 10})
		if err != nil || res.Changed != want {
			t.Errorf("delete %d: %+v %v, want changed %v", i, res, err, want)
		}
	}
	r.d.mirror.sync()
	if _, ok := b.FDB().Lookup(k); ok || len(r.fp.FDB()) != 0 {
		t.Errorf("static MAC still there: map %+v", r.fp.FDB())
	}
	if data, _ := os.ReadFile(state); !strings.Contains(string(data), `"statics": []`) {
		t.Errorf("state file keeps the deleted static: %s", data)
	}
	for _, tt := range []struct {
		s    control.Static
		kind error
		want string
	}{
		{control.Static{Bridge: "xenbr9", MAC: mac(1).String(), Port: "eth5"}, control.ErrNotFound, "static 02:00:00:00:00:01: bridge xenbr9: no such bridge"},
		{control.Static{Bridge: "xenbr0", MAC: "ff:ff:ff:ff:ff:ff", Port: "eth5"}, control.ErrInvalid, "not a unicast"},
		{control.Static{Bridge: "xenbr0", MAC: mac(1).String(), VLAN: 4095, Port: "eth5"}, control.ErrInvalid, "VLAN 4095"},
		{control.Static{Bridge: "xenbr0", MAC: mac(1).String()}, control.ErrInvalid, "port:"},
	} {
		if _, err := r.d.SetStatic(tt.s); !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SetStatic(%+v): %v, want %q", tt.s, err, tt.want)
		}
	}
}

// The file's static MACs are the file's.
func TestStaticsOfTheFile(t *testing.T) {
	r := newRig(t, testBridge+"    static:\n      - {mac: \"02:00:00:00:00:09\", port: vif1.0}\n", fastpathtest.New(), "")
	st := control.Static{Bridge: "xenbr0", MAC: mac(9).String(), Port: "vif2.0"}
	if _, err := r.d.SetStatic(st); !errors.Is(err, control.ErrInvalid) {
		t.Errorf("overriding the file's static: %v", err)
	}
	if _, err := r.d.DeleteStatic(st); !errors.Is(err, control.ErrInvalid) {
		t.Errorf("deleting the file's static: %v", err)
	}
}

// A port of the file that a runtime port takes over as it is keeps its
// MACs: nothing changes on it.
func TestSetPortAsItIs(t *testing.T) {
	r := newPortsRig(t, "")
	ps, _ := r.port("vif1.0")
	b, _ := r.d.Bridge("xenbr0")
	b.FDB().Learn(fdb.MakeKey(0, mac(1)), ps.ID, fdb.Now())
	n := len(r.calls())
	res := r.setPort("vif1.0", control.PortSpec{Bridge: "xenbr0"})
	if !res.Changed || !r.d.RuntimePort("vif1.0") || len(r.callsSince(n)) != 0 {
		t.Errorf("%+v, fast path asked %q", res, r.callsSince(n))
	}
	if _, ok := b.FDB().Lookup(fdb.MakeKey(0, mac(1))); !ok {
		t.Error("the port's MACs were flushed")
	}
}

// A record from before a reboot is forgotten: the guests it was for are
// gone, and their hotplug scripts add the ports of the new ones.
func TestPortStateForgottenAfterReboot(t *testing.T) {
	dir := t.TempDir()
	boot := filepath.Join(dir, "boot_id")
	old := bootIDFile
	bootIDFile = boot
	t.Cleanup(func() { bootIDFile = old })
	os.WriteFile(boot, []byte("11111111-1111-1111-1111-111111111111\n"), 0o644)

	state := filepath.Join(dir, "ports.json")
	r := newPortsRig(t, state)
	r.setPort("eth5", control.PortSpec{Bridge: "xenbr0", VLAN: "access 10"})
	if _, err := r.d.SetStatic(control.Static{Bridge: "xenbr0", MAC: mac(2).String(), Port: "eth5"}); err != nil {
		t.Fatal(err)
	}

	// Same boot: both come back.
	cfg := mustParse(t, portsBase)
	if err := LoadPortState(cfg, state, slog.New(slog.DiscardHandler)); err != nil || len(cfg.RuntimePorts) != 1 || len(cfg.RuntimeStatics) != 1 {
		t.Fatalf("same boot: %v, ports %+v, statics %+v", err, cfg.RuntimePorts, cfg.RuntimeStatics)
	}
	// Another boot: neither does.
	os.WriteFile(boot, []byte("22222222-2222-2222-2222-222222222222\n"), 0o644)
	cfg = mustParse(t, portsBase)
	if err := LoadPortState(cfg, state, slog.New(slog.DiscardHandler)); err != nil || len(cfg.RuntimePorts) != 0 || len(cfg.RuntimeStatics) != 0 {
		t.Fatalf("after a reboot: %v, ports %+v, statics %+v", err, cfg.RuntimePorts, cfg.RuntimeStatics)
	}
}

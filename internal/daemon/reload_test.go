package daemon

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
	"github.com/xswitch/xswitch/internal/hostport"
)

const reloadBase = `
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*.0"]
  - name: xenbr1
    ports: ["vif*.1"]
`

// reloadPorts are the interfaces attached under reloadBase, by ifindex.
var reloadPorts = map[int]string{2: "peth0", 7: "vif1.0", 8: "vif2.0", 9: "vif1.1"}

func TestReloadDiff(t *testing.T) {
	for _, tt := range []struct {
		name   string
		yaml   string
		detach []string // "port: why", in ifindex order
		remove []string
		create []string
	}{
		{name: "same file", yaml: reloadBase},
		{name: "bridge added", yaml: reloadBase + "  - name: xenbr2\n    ports: [\"vif*.2\"]\n", create: []string{"xenbr2"}},
		{name: "bridge removed", yaml: "bridges:\n  - name: xenbr0\n    uplink: peth0\n    ports: [\"vif*.0\"]\n",
			detach: []string{"vif1.1: bridge xenbr1 removed"}, remove: []string{"xenbr1"}},
		{name: "port pattern narrowed", yaml: strings.Replace(reloadBase, `["vif*.0"]`, `["vif1.0"]`, 1),
			detach: []string{"vif2.0: no bridge takes it any more"}},
		{name: "port moves", yaml: strings.Replace(reloadBase, `["vif*.1"]`, `["vif*.1", "vif2.0"]`, 1),
			detach: []string{"vif2.0: moves from bridge xenbr0 to xenbr1"}},
		{name: "uplink becomes a plain port", yaml: strings.Replace(reloadBase, "uplink: peth0\n    ports: [\"vif*.0\"]", `ports: ["vif*.0", "peth0"]`, 1),
			detach: []string{"peth0: uplink true → false"}},
		{name: "one port's fast path", yaml: reloadBase + "    port-fastpath:\n      vif1.1: \"off\"\n",
			detach: []string{"vif1.1: fast path mode auto → off"}},
		{name: "a bridge's fast path", yaml: strings.Replace(reloadBase, "    uplink: peth0\n", "    uplink: peth0\n    fastpath: tc\n", 1),
			detach: []string{"peth0: fast path mode auto → tc", "vif1.0: fast path mode auto → tc", "vif2.0: fast path mode auto → tc"}},
		{name: "the default fast path, set where every bridge takes it", yaml: "fastpath: \"off\"\n" + reloadBase,
			detach: []string{"peth0: fast path mode auto → off", "vif1.0: fast path mode auto → off", "vif2.0: fast path mode auto → off", "vif1.1: fast path mode auto → off"}},
		{name: "port type", yaml: reloadBase + "    port-types:\n      vif1.1: afpacket\n",
			detach: []string{"vif1.1: port type auto → afpacket"}},
		{name: "vif rings: the uplink keeps its port", yaml: strings.Replace(reloadBase, "    uplink: peth0\n", "    uplink: peth0\n    rings:\n      vif: {blocks: 16}\n", 1),
			detach: []string{"vif1.0: rings changed", "vif2.0: rings changed"}},
		{name: "uplink rings", yaml: strings.Replace(reloadBase, "    uplink: peth0\n", "    uplink: peth0\n    rings:\n      uplink: {blocks: 64}\n", 1),
			detach: []string{"peth0: rings changed"}},
		{name: "afxdp settings: only ports that may be AF_XDP", yaml: "afxdp:\n  batch-size: 64\n" + strings.Replace(reloadBase, "    uplink: peth0\n", "    uplink: peth0\n    port-types:\n      \"vif*\": afpacket\n", 1),
			detach: []string{"peth0: afxdp settings changed", "vif1.0: port type auto → afpacket", "vif2.0: port type auto → afpacket", "vif1.1: afxdp settings changed"}},
		{name: "static MAC of one port: pinned in place", yaml: reloadBase + "    static:\n      - {mac: \"02:00:00:00:00:09\", port: vif1.1}\n"},
		{name: "fdb limits rebuild the bridge", yaml: reloadBase + "    fdb:\n      max-per-port: 10\n",
			detach: []string{"vif1.1: bridge xenbr1's fdb settings changed"}, remove: []string{"xenbr1"}, create: []string{"xenbr1"}},
		{name: "aging time rebuilds the bridge", yaml: reloadBase + "    aging-time: 10s\n",
			detach: []string{"vif1.1: bridge xenbr1's fdb settings changed"}, remove: []string{"xenbr1"}, create: []string{"xenbr1"}},
		{name: "metrics address only: nothing to do here", yaml: "metrics: 127.0.0.1:1\n" + reloadBase},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := mustParse(t, reloadBase)
			new := mustParse(t, tt.yaml)
			attached := map[int]attachment{}
			for idx, name := range reloadPorts {
				b, _, _ := old.Match(name)
				attached[idx] = attachment{name: name, bridge: b.Name}
			}
			df := diff(old, new, attached)
			var detach []string
			for _, r := range df.detach {
				detach = append(detach, r.name+": "+r.why)
			}
			var create []string
			for _, b := range df.create {
				create = append(create, b.Name)
			}
			if !slices.Equal(detach, tt.detach) {
				t.Errorf("detached %q, want %q", detach, tt.detach)
			}
			if !slices.Equal(df.remove, tt.remove) {
				t.Errorf("bridges removed %q, want %q", df.remove, tt.remove)
			}
			if !slices.Equal(create, tt.create) {
				t.Errorf("bridges created %q, want %q", create, tt.create)
			}
		})
	}
}

func mustParse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("x.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A reload reopens the sockets of the changed port only, moves a port to a
// new bridge, closes a removed bridge, and leaves the others' ports (same
// port ids, same sockets) alone.
func TestReloadTouchesOnlyChangedPorts(t *testing.T) {
	r := newRig(t, reloadBase, fastpathtest.New(), "")
	for idx, name := range reloadPorts {
		r.links.add(idx, name, "veth", 1500)
	}
	r.d.adopt()
	select {
	case <-r.d.Ready():
	default:
		t.Fatal("not ready after the first resync")
	}
	before, _ := r.port("vif1.0")
	r.socks.opened = nil
	calls := len(r.calls())
	shared := sharedPorts(t, r.d)

	// vif2.0 leaves the fast path, xenbr1 becomes xenbr2.
	next := strings.Replace(reloadBase, "    ports: [\"vif*.0\"]\n", "    ports: [\"vif*.0\"]\n    port-fastpath:\n      vif2.0: \"off\"\n", 1)
	next = strings.Replace(next, "name: xenbr1", "name: xenbr2", 1)
	if err := r.d.Reload(mustParse(t, next)); err != nil {
		t.Fatal(err)
	}
	slices.Sort(r.socks.opened)
	if want := []string{"afpacket vif1.1 send-only", "afpacket vif2.0"}; !slices.Equal(r.socks.opened, want) {
		t.Errorf("sockets opened %q, want %q", r.socks.opened, want)
	}
	// Refreshes of the kept ports' MTUs aside.
	got := slices.DeleteFunc(r.calls()[calls:], func(c string) bool { return strings.HasPrefix(c, "refresh ") })
	if want := []string{"detach vif2.0", "detach vif1.1", "detach vif2.0", "attach vif1.1 tc"}; !slices.Equal(got, want) {
		t.Errorf("fast path asked %q, want %q", got, want)
	}
	if after, ok := r.port("vif1.0"); !ok || after.ID != before.ID {
		t.Errorf("vif1.0 was re-attached: %+v → %+v", before, after)
	}
	if _, ok := r.d.Bridge("xenbr1"); ok {
		t.Error("xenbr1 still there")
	}
	b2, ok := r.d.Bridge("xenbr2")
	if !ok || len(b2.Ports()) != 1 || b2.Ports()[0].Name != "vif1.1" {
		t.Errorf("xenbr2 should hold vif1.1")
	}
	// vif2.0 left the shared receiver, vif1.1 is on it for its new bridge.
	if n := sharedPorts(t, r.d); n != shared-1 {
		t.Errorf("%d ports on the shared receiver, want %d", n, shared-1)
	}
	r.socks.shared.Inject(9, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, 1, 2, 3, 4})
	for deadline := time.Now().Add(5 * time.Second); b2.Ports()[0].Counters.RxPackets != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a punt of vif1.1 was not received on xenbr2")
		}
	}
}

func TestReloadAutoMode(t *testing.T) {
	d := newDaemon(config.Auto(), slog.New(slog.DiscardHandler), newRig(t, reloadBase, nil, "").d.sys)
	defer d.Close()
	if err := d.Reload(mustParse(t, reloadBase)); !errors.Is(err, ErrNoFile) {
		t.Errorf("reload in auto mode: %v, want %v", err, ErrNoFile)
	}
}

// A host port's switch end is a port like the others under a reload; the
// bridges of takeovers are no file's and stay.
func TestReloadHostPortsAndTakeovers(t *testing.T) {
	withHostPort := reloadBase + "    host-port: eth1\n"
	peer := hostport.Peer("eth1")
	for _, tt := range []struct {
		name     string
		old, new string
		runtime  bool // old has takeover bridge xenbr9 with vif1.9
		detach   []string
		remove   []string
	}{
		{name: "host port added", old: reloadBase, new: withHostPort},
		{name: "host port kept", old: withHostPort, new: withHostPort},
		{name: "host port removed", old: withHostPort, new: reloadBase, detach: []string{peer + ": no bridge takes it any more"}},
		{name: "takeover bridge outlives the file", old: reloadBase, new: "bridges:\n  - name: xenbr0\n    uplink: peth0\n    ports: [\"vif*.0\"]\n",
			runtime: true, detach: []string{"vif1.1: bridge xenbr1 removed"}, remove: []string{"xenbr1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old, new := mustParse(t, tt.old), mustParse(t, tt.new)
			ports := map[int]string{7: "vif1.0", 9: "vif1.1"}
			if tt.runtime {
				old.SetRuntime(old.RuntimeBridge("xenbr9", "", []string{"vif1.9"}, ""))
				new.Runtime = old.Runtime
				ports[10] = "vif1.9"
			}
			if strings.Contains(tt.old, "host-port") {
				ports[11] = peer
			}
			attached := map[int]attachment{}
			for idx, name := range ports {
				b, _, ok := matchPort(old, name)
				if !ok {
					t.Fatalf("%s matches no bridge of the old file", name)
				}
				attached[idx] = attachment{name: name, bridge: b.Name}
			}
			df := diff(old, new, attached)
			var detach []string
			for _, r := range df.detach {
				detach = append(detach, r.name+": "+r.why)
			}
			if !slices.Equal(detach, tt.detach) {
				t.Errorf("detached %q, want %q", detach, tt.detach)
			}
			if !slices.Equal(df.remove, tt.remove) {
				t.Errorf("bridges removed %q, want %q", df.remove, tt.remove)
			}
			if len(df.create) != 0 {
				t.Errorf("bridges created %v", df.create)
			}
		})
	}
}

// A reload pins, moves and unpins the file's static MACs in the table and
// the fast path's MAC map, without opening any port again.
func TestReloadPinsStaticsInPlace(t *testing.T) {
	fp := fastpathtest.New()
	r := newRig(t, reloadBase, fp, "")
	for idx, name := range reloadPorts {
		r.links.add(idx, name, "veth", 1500)
	}
	r.d.adopt()
	ids := map[string]fdb.PortID{}
	for _, name := range []string{"vif1.0", "vif2.0"} {
		ps, ok := r.port(name)
		if !ok {
			t.Fatalf("%s not attached", name)
		}
		ids[name] = ps.ID
	}
	r.socks.opened = nil
	br, _ := r.d.Bridge("xenbr0")
	k := fdb.MakeKey(0, mac(9))
	static := func(port string) string {
		return strings.Replace(reloadBase, "    ports: [\"vif*.0\"]\n", "    ports: [\"vif*.0\"]\n    static:\n      - {mac: \""+mac(9).String()+"\", port: "+port+"}\n", 1)
	}
	for _, step := range []struct {
		yaml    string
		port    string // "" for no pin
		ifindex int
	}{
		{static("vif1.0"), "vif1.0", 7},
		{static("vif2.0"), "vif2.0", 8},
		{reloadBase, "", 0},
	} {
		if err := r.d.Reload(mustParse(t, step.yaml)); err != nil {
			t.Fatal(err)
		}
		e, ok := br.FDB().Get(k)
		switch {
		case step.port == "" && ok:
			t.Errorf("unpinned: %v still in the table on port %d", mac(9), e.Port)
		case step.port != "" && (!ok || !e.Static || e.Port != ids[step.port]):
			t.Errorf("pinned to %s: table has %+v (%t), want static on port %d", step.port, e, ok, ids[step.port])
		}
		inMap := func() (int, bool) {
			for _, fe := range fp.FDB() {
				if fe.Key == k {
					return fe.Ifindex, fe.Static
				}
			}
			return 0, false
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			idx, st := inMap()
			if idx == step.ifindex && st == (step.port != "") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pinned to %q: the MAC map has it on ifindex %d (static %t), want %d", step.port, idx, st, step.ifindex)
			}
		}
	}
	for name, id := range ids {
		if ps, ok := r.port(name); !ok || ps.ID != id {
			t.Errorf("%s was re-attached", name)
		}
	}
	if len(r.socks.opened) != 0 {
		t.Errorf("sockets opened %q, want none", r.socks.opened)
	}
}

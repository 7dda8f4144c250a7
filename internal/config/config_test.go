package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
metrics: 127.0.0.1:9999
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*.0", "vif*.0-emu"]
    aging-time: 10s
    fdb: {max-entries: 100, max-per-port: 10}
    static:
      - {mac: "02:16:3e:00:00:01", port: vif1.0}
      - {mac: "02:16:3e:00:00:02", port: peth0, vlan: 10}
    rings:
      vif: {block-size: 256KiB, blocks: 4}
    mirrors:
      - {from: vif1.0, to: vif9.0}
      - {from: peth0, to: vif9.0, direction: ingress}
  - name: drbd
    uplink: peth1
    aging-time: 0
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics != "127.0.0.1:9999" || c.Control != DefaultControl || len(c.Bridges) != 2 {
		t.Fatalf("got %+v", c)
	}
	b := c.Bridges[0]
	if b.FDB.AgingTime != 10*time.Second || b.FDB.MaxEntries != 100 || b.FDB.MaxPerPort != 10 || b.Line != 4 {
		t.Errorf("bridge 0: %+v", b)
	}
	if len(b.Static) != 2 || b.Static[1].MAC.String() != "02:16:3e:00:00:02" || b.Static[1].VLAN != 10 || b.Static[1].Port != "peth0" {
		t.Errorf("static: %+v", b.Static)
	}
	if b.Rings.Vif.BlockSize != 256<<10 || b.Rings.Vif.BlockCount != 4 || b.Rings.Uplink.BlockCount != 32 {
		t.Errorf("rings: %+v", b.Rings)
	}
	if want := []Mirror{{From: "vif1.0", To: "vif9.0", Direction: "both"}, {From: "peth0", To: "vif9.0", Direction: "ingress"}}; !slices.Equal(b.Mirrors, want) {
		t.Errorf("mirrors: %+v, want %+v", b.Mirrors, want)
	}
	if c.Bridges[1].FDB.AgingTime != 0 {
		t.Errorf("aging-time 0 parsed as %v", c.Bridges[1].FDB.AgingTime)
	}
}

func TestFastPathModes(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
fastpath: tc
bridges:
  - name: a
    ports: ["vif*"]
    port-fastpath:
      vif9.*: off
      "vif*": xdp
  - name: b
    fastpath: off
    ports: ["tap*"]
  - name: c
    ports: ["eth*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		bridge int
		port   string
		want   Mode
	}{
		{0, "vif9.0", ModeOff}, // first match wins
		{0, "vif1.0", ModeXDP},
		{1, "tap0", ModeOff},
		{2, "eth0", ModeTC}, // the file's default
	} {
		if got := c.Bridges[tt.bridge].Mode(tt.port, c.FastPath); got != tt.want {
			t.Errorf("%s: mode %s, want %s", tt.port, got, tt.want)
		}
	}
	if !c.FastPathSet || !c.WantsFastPath() {
		t.Errorf("FastPathSet %v, WantsFastPath %v", c.FastPathSet, c.WantsFastPath())
	}
	off, err := Parse("x.yaml", []byte("fastpath: off\nbridges:\n  - name: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if off.WantsFastPath() {
		t.Error("every port off, yet the fast path is wanted")
	}
	if m := Auto().Bridges; m != nil || Auto().FastPath != ModeAuto {
		t.Errorf("auto mode: fast path %q", Auto().FastPath)
	}
}

func TestPortTypes(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
port-type: afpacket
afxdp: {frames: 4096, frame-size: 2048, rx-ring: 512, tx-ring: 256, batch-size: 32, bind: copy, spin-time: 0}
punt-ring: {frames: 1024, frame-size: 2KiB, batch-size: 128, taps: 6}
bridges:
  - name: a
    ports: ["vif*"]
    uplink: peth0
    port-types:
      peth0: afxdp
      "vif9.*": auto
  - name: b
    port-type: afxdp
    ports: ["tap*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		bridge int
		port   string
		want   PortType
	}{
		{0, "peth0", PortTypeAFXDP},
		{0, "vif9.1", PortTypeAuto},
		{0, "vif1.0", PortTypeAFPacket}, // the file's default
		{1, "tap0", PortTypeAFXDP},
	} {
		if got := c.Bridges[tt.bridge].Type(tt.port, c.PortType); got != tt.want {
			t.Errorf("%s: type %s, want %s", tt.port, got, tt.want)
		}
	}
	if !c.PortTypeSet || !c.WantsAFXDP() {
		t.Errorf("PortTypeSet %v, WantsAFXDP %v", c.PortTypeSet, c.WantsAFXDP())
	}
	if c.UMEM.Frames != 4096 || c.UMEM.FrameSize != 2048 || c.AFXDP.RxRingSize != 512 || c.AFXDP.TxRingSize != 256 ||
		c.AFXDP.BatchSize != 32 || c.AFXDP.Bind != "copy" || c.AFXDP.SpinTime >= 0 {
		t.Errorf("afxdp block read as %+v, %+v", c.AFXDP, c.UMEM)
	}
	if want := (PuntRing{Frames: 1024, FrameSize: 2048, BatchSize: 128, Taps: 6}); c.PuntRing != want {
		t.Errorf("punt-ring read as %+v, want %+v", c.PuntRing, want)
	}
	plain, err := Parse("x.yaml", []byte("port-type: afpacket\nbridges:\n  - name: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.WantsAFXDP() {
		t.Error("every port afpacket, yet AF_XDP is wanted")
	}
	if Auto().PortType != PortTypeAuto || !Auto().WantsAFXDP() {
		t.Errorf("auto mode: port type %q", Auto().PortType)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "bridges:\n  - name: a\n    colour: red\n", "x.yaml:3: field colour not found"},
		{"bad duration", "bridges:\n  - name: a\n    aging-time: 5x\n", `x.yaml:3: bridge "a": aging-time: "5x" is not a duration`},
		{"no name", "bridges:\n  - uplink: peth0\n", "x.yaml:2: bridge has no name"},
		{"duplicate bridge", "bridges:\n  - name: a\n  - name: a\n", `x.yaml:3: bridge "a" defined twice (first at line 2)`},
		{"port in two bridges", "bridges:\n  - name: a\n    ports: [vif1.0]\n  - name: b\n    ports:\n      - vif2.0\n      - vif1.0\n", `x.yaml:7: bridge "b": port vif1.0 is already a port of bridge "a"`},
		{"bad glob", "bridges:\n  - name: a\n    ports: [\"vif[\"]\n", `x.yaml:3: bridge "a": port "vif[" is not an interface name or glob`},
		{"long name", "bridges:\n  - name: a-very-long-bridge-name\n", `x.yaml:2: bridge "a-very-long-bridge-name": name:`},
		{"static multicast", "bridges:\n  - name: a\n    static:\n      - {mac: \"01:00:5e:00:00:01\", port: vif1.0}\n", `x.yaml:4: bridge "a": static: "01:00:5e:00:00:01" is not a unicast`},
		{"static glob", "bridges:\n  - name: a\n    static:\n      - {mac: \"02:00:00:00:00:01\", port: \"vif*\"}\n", `x.yaml:4: bridge "a": static 02:00:00:00:00:01: port "vif*" is not an interface name`},
		{"static vlan", "bridges:\n  - name: a\n    static:\n      - {mac: \"02:00:00:00:00:01\", port: vif1.0, vlan: 5000}\n", `x.yaml:4: bridge "a": static 02:00:00:00:00:01: vlan 5000`},
		{"mirror to itself", "bridges:\n  - name: a\n    mirrors:\n      - {from: vif1.0, to: vif1.0}\n", `x.yaml:4: bridge "a": mirror: vif1.0 cannot mirror to itself`},
		{"mirror direction", "bridges:\n  - name: a\n    mirrors:\n      - {from: vif1.0, to: vif9.0}\n      - {from: vif2.0, to: vif9.0, direction: sideways}\n", `x.yaml:5: bridge "a": mirror: direction "sideways"`},
		{"mirror of a mirror", "bridges:\n  - name: a\n    mirrors:\n      - {from: vif1.0, to: vif9.0}\n      - {from: vif9.0, to: vif8.0}\n", `x.yaml:5: bridge "a": mirror of vif9.0: it is a mirror's destination`},
		{"mirror glob", "bridges:\n  - name: a\n    mirrors:\n      - {from: \"vif*\", to: vif9.0}\n", `x.yaml:4: bridge "a": mirror: from "vif*" is not an interface name`},
		{"no bridges", "metrics: \"\"\n", "x.yaml:1: no bridges"},
		{"too many taps", "punt-ring: {taps: 65}\nbridges:\n  - name: a\n", "x.yaml:1: punt-ring: taps 65: must be between 1 and 64"},
		{"negative taps", "punt-ring:\n  taps: -1\nbridges:\n  - name: a\n", "punt-ring: taps -1: must be between 1 and 64"},
		{"not yaml", "bridges: [\n", "x.yaml:"},
		{"wrong type", "bridges:\n  - name: a\n    fdb: {max-entries: lots}\n", "x.yaml:3: cannot unmarshal"},
		{"bad fastpath", "fastpath: fast\nbridges:\n  - name: a\n", `x.yaml:1: fastpath: unknown fast path mode "fast"`},
		{"bad bridge fastpath", "bridges:\n  - name: a\n    fastpath: dpdk\n", `x.yaml:3: bridge "a": fastpath: unknown fast path mode "dpdk"`},
		{"bad port fastpath", "bridges:\n  - name: a\n    port-fastpath:\n      vif1.0: tc\n      peth0: turbo\n", `x.yaml:5: bridge "a": port-fastpath: peth0: unknown fast path mode "turbo"`},
		{"port fastpath list", "bridges:\n  - name: a\n    port-fastpath: [tc]\n", `x.yaml:3: bridge "a": port-fastpath: want a mapping`},
		{"bad port type", "port-type: dpdk\nbridges:\n  - name: a\n", `x.yaml:1: port-type: unknown port type "dpdk"`},
		{"bad bridge port type", "bridges:\n  - name: a\n    port-type: tap\n", `x.yaml:3: bridge "a": port-type: unknown port type "tap"`},
		{"bad port types", "bridges:\n  - name: a\n    port-types:\n      peth0: xdp\n", `x.yaml:4: bridge "a": port-types: peth0: unknown port type "xdp"`},
		{"empty port type", "bridges:\n  - name: a\n    port-types:\n      peth0: \"\"\n", `x.yaml:4: bridge "a": port-types: peth0: unknown port type ""`},
		{"port types list", "bridges:\n  - name: a\n    port-types: [afxdp]\n", `x.yaml:3: bridge "a": port-types: want a mapping of interface names or globs to port types`},
		{"bad glob pattern", "bridges:\n  - name: a\n    port-fastpath:\n      \"vif[\": off\n", `x.yaml:4: bridge "a": port-fastpath: "vif[" is not an interface name or glob`},
		{"bad block size", "bridges:\n  - name: a\n    rings:\n      uplink: {block-size: lots}\n", `x.yaml:4: bridge "a": rings.uplink: block-size: "lots" is not a size`},
		{"bad spin time", "afxdp: {spin-time: soon}\nbridges:\n  - name: a\n", `x.yaml:1: afxdp: spin-time: "soon" is not a duration`},
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

func TestMatch(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
bridges:
  - name: guests
    ports: ["vif*"]
  - name: special
    uplink: peth0
    ports: [vif9.0]
`))
	if err != nil {
		t.Fatal(err)
	}
	auto := Auto()
	tests := []struct {
		c          *Config
		ifname     string
		bridge     string
		uplink, ok bool
	}{
		{c, "vif1.0", "guests", false, true},
		{c, "vif9.0", "special", false, true}, // exact name beats an earlier glob
		{c, "peth0", "special", true, true},
		{c, "eth0", "", false, false},
		{auto, "peth2", "xenbr2", true, true},
		{auto, "vif7.2", "xenbr2", false, true},
		{auto, "vif7.2-emu", "xenbr2", false, true},
		{auto, "vif12.0", "xenbr0", false, true},
		{auto, "vif1", "", false, false},
		{auto, "veth0", "", false, false},
		{auto, "eth0", "", false, false},
		{auto, "peth", "", false, false},
	}
	for _, tt := range tests {
		b, uplink, ok := tt.c.Match(tt.ifname)
		if ok != tt.ok || b.Name != tt.bridge || uplink != tt.uplink {
			t.Errorf("Match(%q) = %q, uplink %v, %v; want %q, %v, %v", tt.ifname, b.Name, uplink, ok, tt.bridge, tt.uplink, tt.ok)
		}
	}
	// The uplink found first is kept when its vifs come later, and the other way round.
	if b, _, _ := auto.Match("vif3.2"); b.Uplink != "peth2" {
		t.Errorf("xenbr2 lost its uplink: %+v", b)
	}
}

func TestPatterns(t *testing.T) {
	ps := Patterns[Mode]{{"vif9.*", ModeOff}, {"vif*", ModeXDP}, {"peth0", ModeTC}}
	for _, tt := range []struct {
		name string
		want Mode
		ok   bool
	}{
		{"vif9.0", ModeOff, true}, // first match wins
		{"vif1.0", ModeXDP, true},
		{"peth0", ModeTC, true},
		{"peth1", "", false},
	} {
		if got, ok := ps.Lookup(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	b := Bridge{PortModes: ps}
	for _, tt := range []struct {
		port              string
		bridge, def, want Mode
	}{
		{port: "vif9.0", bridge: ModeTC, def: ModeXDP, want: ModeOff}, // a pattern beats the bridge
		{port: "eth0", bridge: ModeTC, def: ModeXDP, want: ModeTC},    // the bridge beats the default
		{port: "eth0", def: ModeXDP, want: ModeXDP},
		{port: "eth0", want: ModeAuto}, // nothing set
	} {
		b.FastPath = tt.bridge
		if got := b.Mode(tt.port, tt.def); got != tt.want {
			t.Errorf("Mode(%q) with bridge %q, default %q = %q, want %q", tt.port, tt.bridge, tt.def, got, tt.want)
		}
	}
}

func TestDefaultsUnlessSet(t *testing.T) {
	c, err := Parse("x.yaml", []byte("afxdp: {rx-ring: 512}\nbridges:\n  - name: a\n    rings:\n      vif: {blocks: 4}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantX := DefaultAFXDP()
	wantX.RxRingSize = 512
	wantVif := VifRing()
	wantVif.BlockCount = 4
	if c.AFXDP != wantX || c.UMEM != DefaultUMEM() || c.Bridges[0].Rings.Vif != wantVif || c.Bridges[0].Rings.Uplink != UplinkRing() {
		t.Errorf("got %+v %+v %+v", c.AFXDP, c.UMEM, c.Bridges[0].Rings)
	}
	if a := Auto(); a.AFXDP != DefaultAFXDP() || a.UMEM != DefaultUMEM() {
		t.Errorf("auto mode: %+v %+v", a.AFXDP, a.UMEM)
	}
}

// TestParseEndpoints: the control socket is root's and /metrics listens on
// loopback unless the file says otherwise.
func TestParseEndpoints(t *testing.T) {
	for _, tt := range []struct{ yaml, group string }{
		{"bridges: [{name: xenbr0}]\n", ""},
		{"control-group: xswitch\nbridges: [{name: xenbr0}]\n", "xswitch"},
	} {
		c, err := Parse("x.yaml", []byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if c.ControlGroup != tt.group {
			t.Errorf("%q: control group %q, want %q", tt.yaml, c.ControlGroup, tt.group)
		}
		if ap, err := netip.ParseAddrPort(c.Metrics); err != nil || !ap.Addr().IsLoopback() {
			t.Errorf("%q: metrics on %q, want a loopback address", tt.yaml, c.Metrics)
		}
	}
	if ap, err := netip.ParseAddrPort(Auto().Metrics); err != nil || !ap.Addr().IsLoopback() {
		t.Errorf("auto mode: metrics on %q, want a loopback address", Auto().Metrics)
	}
}

package daemon

import (
	"reflect"
	"strings"
	"testing"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/dataplane/afxdp"
	"github.com/xswitch/xswitch/internal/config"
)

// The configuration keeps its own copy of the port packages' defaults, and
// afpacket its own of the punt header's length: they must not drift apart.
func TestConfigDefaultsAreThePortPackages(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"vif ring", ringConfig(config.VifRing()), afpacket.VifConfig()},
		{"uplink ring", ringConfig(config.UplinkRing()), afpacket.UplinkConfig()},
		{"afxdp", afxdpConfig(config.DefaultAFXDP()), afxdp.DefaultConfig()},
		{"umem", umemConfig(config.DefaultUMEM()), afxdp.DefaultUMEMConfig()},
		{"pin dir", config.DefaultPinDir, bpf.DefaultPinDir},
		{"punt header", afpacket.PuntHeaderLen, bpf.PuntHeaderLen},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: config's default converts to %+v, the package's is %+v", tt.name, tt.got, tt.want)
		}
	}
}

// Every name config accepts, the fast path accepts as the same value.
func TestConfigNamesAreTheFastPaths(t *testing.T) {
	for _, s := range []string{"", "auto", "xdp", "tc", "off"} {
		m, err := config.ParseMode(s)
		want, werr := bpf.ParseMode(s)
		if err != nil || werr != nil || fastPathMode(m) != want {
			t.Errorf("mode %q: config %q %v, bpf %q %v", s, m, err, want, werr)
		}
	}
	if _, err := config.ParseMode("turbo"); err == nil {
		t.Error("config took mode turbo")
	}
	for _, s := range []string{"", "auto", "tcx", "clsact"} {
		h, err := config.ParseTCHook(s)
		want, werr := bpf.ParseTCHook(s)
		if err != nil || werr != nil || tcHook(h) != want {
			t.Errorf("tc hook %q: config %q %v, bpf %q %v", s, h, err, want, werr)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"fine", "afxdp: {rx-ring: 512}\nbridges:\n  - name: a\n", ""},
		{"long block timeout", "bridges:\n  - name: a\n    rings:\n      vif: {block-timeout: 100s}\n", `x.yaml:4: bridge "a": rings.vif: BlockTimeout 1m40s`},
		{"small block", "bridges:\n  - name: a\n    rings:\n      vif: {block-size: 4096}\n", `x.yaml:4: bridge "a": rings.vif: BlockSize 4096`},
		{"one uplink block", "bridges:\n  - name: a\n  - name: b\n    rings:\n      uplink: {blocks: 1}\n", `x.yaml:5: bridge "b": rings.uplink: BlockCount 1`},
		{"odd afxdp ring", "afxdp: {rx-ring: 1000}\nbridges:\n  - name: a\n", `x.yaml:1: afxdp: RxRingSize 1000: must be a power of two`},
		{"odd umem frame", "afxdp: {frame-size: 3000}\nbridges:\n  - name: a\n", `x.yaml:1: afxdp: FrameSize 3000: must be 2048 or 4096`},
		{"bad bind", "\nafxdp: {bind: fast}\nbridges:\n  - name: a\n", `x.yaml:2: afxdp: Mode "fast"`},
		{"punt ring", "punt-ring: {frames: 1024, frame-size: 2KiB, batch-size: 128}\nbridges:\n  - name: a\n", ""},
		{"odd punt slot", "\npunt-ring: {frame-size: 3000}\nbridges:\n  - name: a\n", `x.yaml:2: punt-ring: FrameSize 3000: must be a multiple of 16`},
		{"one punt slot", "punt-ring: {frames: 1}\nbridges:\n  - name: a\n", `x.yaml:1: punt-ring: Frames 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("x.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = Check(cfg)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := Check(config.Auto()); err != nil {
		t.Errorf("auto mode: %v", err)
	}
}

// Parse refuses a bridge named twice; built by hand, such a configuration
// shows that Check finds two bridges with one fast-path id.
func TestCheckBridgeIDs(t *testing.T) {
	cfg := &config.Config{Source: "x.yaml", AFXDP: config.DefaultAFXDP(), UMEM: config.DefaultUMEM(), Bridges: []config.Bridge{
		{Name: "a", Line: 2, Rings: config.Rings{Vif: config.VifRing(), Uplink: config.UplinkRing()}},
		{Name: "a", Line: 5, Rings: config.Rings{Vif: config.VifRing(), Uplink: config.UplinkRing()}},
	}}
	if err := Check(cfg); err == nil || !strings.Contains(err.Error(), `x.yaml:5: bridges "a" and "a" have the same fast-path id`) {
		t.Errorf("got %v", err)
	}
}

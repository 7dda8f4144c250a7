// Package config reads xswitchd's YAML configuration and applies the Xen
// naming rules of auto mode. It describes what the file asks for in plain
// types; the daemon turns them into the settings of the fast path and of
// the port packages, and checks them there.
package config

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// Defaults of the daemon's endpoints.
const (
	DefaultMetrics = "127.0.0.1:9417"
	DefaultControl = "/run/xswitch/xswitchd.sock"
	// DefaultPinDir is the fast path's default bpffs directory.
	DefaultPinDir = "/sys/fs/bpf/xswitch"
)

// Config is the whole configuration of xswitchd.
type Config struct {
	Source  string // the file it came from; "" in auto mode
	Metrics string // listen address of /metrics; "" disables it
	Control string // path of the control socket; "" disables it
	// ControlGroup is the group whose members may use the control socket
	// besides root (mode 0660); "" leaves it to root alone (mode 0600).
	ControlGroup string
	Bridges      []Bridge // in file order; empty in auto mode, where bridges appear with their interfaces
	Auto         bool     // no file: bridges follow the Xen naming rules
	// EVPN, if set, runs BGP EVPN for the bridges' tunnel ports (evpn.go).
	EVPN *EVPN
	// FastPath is the fast-path mode of ports whose bridge says nothing.
	FastPath Mode
	// FastPathSet says the file sets FastPath (the -fastpath flag does not
	// override it).
	FastPathSet bool
	// PinDir is the bpffs directory of the fast path's pinned state.
	PinDir string
	// TCHook says how TC programs are attached.
	TCHook TCHook
	// PortType is the port type of ports whose bridge says nothing.
	PortType PortType
	// PortTypeSet says the file sets PortType (the -port-type flag does
	// not override it).
	PortTypeSet bool
	// AFXDP configures the AF_XDP ports' sockets, UMEM the UMEM each
	// bridge's AF_XDP ports share; AFXDPLine is where the file sets them
	// (1 if it does not).
	AFXDP     AFXDP
	UMEM      UMEM
	AFXDPLine int
	// PuntRing sizes the one ring that receives what the fast path punts
	// on every fast-path AF_PACKET port; PuntRingLine is where the file
	// sets it (1 if it does not).
	PuntRing     PuntRing
	PuntRingLine int
	// HostPorts says auto mode gives bridge xenbrN of uplink pethN the
	// host port ethN. A file sets host ports per bridge instead.
	HostPorts bool
	// Runtime are bridges made while running, by a takeover, beyond the
	// file or the naming rule (see runtime.go).
	Runtime []Bridge
	// RuntimePorts and RuntimeStatics are ports and static MACs added
	// while running, through the control API (see runtime.go).
	RuntimePorts   []RuntimePort
	RuntimeStatics []RuntimeStatic
	// RuntimeMirrors are the mirrors added through the control API, kept
	// in PortState as well.
	RuntimeMirrors []RuntimeMirror
	// PortState is the file that keeps RuntimePorts and RuntimeStatics
	// across restarts; "" keeps them in memory only.
	PortState string
}

// Mode says how a port takes part in the eBPF fast path.
type Mode string

// The fast-path modes.
const (
	ModeAuto Mode = "auto" // native XDP where the driver has it, TC otherwise
	ModeXDP  Mode = "xdp"  // native XDP (and TC for what XDP cannot redirect)
	ModeTC   Mode = "tc"   // TC ingress only
	ModeOff  Mode = "off"  // no fast path: userspace forwards every frame
)

// ParseMode checks a fast-path mode name; "" is auto.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return ModeAuto, nil
	}
	return modeOf(s)
}

func modeOf(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeXDP, ModeTC, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("unknown fast path mode %q (want auto, xdp, tc or off)", s)
}

// TCHook says how the fast path's TC programs are attached.
type TCHook string

// The TC hooks.
const (
	TCHookAuto   TCHook = "auto"   // tcx where the kernel has it (Linux 6.6), clsact otherwise
	TCHookTCX    TCHook = "tcx"    // a tcx link, pinned
	TCHookClsact TCHook = "clsact" // a direct-action filter on the clsact qdisc's ingress
)

// ParseTCHook checks a TC hook name; "" is auto.
func ParseTCHook(s string) (TCHook, error) {
	switch h := TCHook(s); h {
	case TCHookAuto, TCHookTCX, TCHookClsact:
		return h, nil
	case "":
		return TCHookAuto, nil
	}
	return "", fmt.Errorf("unknown TC hook %q (want auto, tcx or clsact)", s)
}

// PortType says which kind of socket a port gets.
type PortType string

// Port types.
const (
	// PortTypeAuto is afxdp for an uplink whose driver has native XDP,
	// afpacket otherwise.
	PortTypeAuto     PortType = "auto"
	PortTypeAFPacket PortType = "afpacket"
	PortTypeAFXDP    PortType = "afxdp"
)

// ParsePortType checks a port type name; "" is auto.
func ParsePortType(s string) (PortType, error) {
	if s == "" {
		return PortTypeAuto, nil
	}
	return portTypeOf(s)
}

func portTypeOf(s string) (PortType, error) {
	switch t := PortType(s); t {
	case PortTypeAuto, PortTypeAFPacket, PortTypeAFXDP:
		return t, nil
	}
	return "", fmt.Errorf("unknown port type %q (want auto, afpacket or afxdp)", s)
}

// WantsFastPath reports whether any port may use the fast path.
func (c *Config) WantsFastPath() bool {
	if c.FastPath != ModeOff {
		return true
	}
	for _, b := range c.Bridges {
		if b.FastPath != "" && b.FastPath != ModeOff {
			return true
		}
		for _, pm := range b.PortModes {
			if pm.Value != ModeOff {
				return true
			}
		}
	}
	for _, p := range c.RuntimePorts {
		if p.FastPath != "" && p.FastPath != ModeOff {
			return true
		}
	}
	return false
}

// WantsAFXDP reports whether any port may be an AF_XDP port.
func (c *Config) WantsAFXDP() bool {
	if c.PortType != PortTypeAFPacket && c.PortType != "" {
		return true
	}
	for _, b := range c.Bridges {
		if b.PortType != "" && b.PortType != PortTypeAFPacket {
			return true
		}
		for _, pt := range b.PortTypes {
			if pt.Value != PortTypeAFPacket {
				return true
			}
		}
	}
	for _, p := range c.RuntimePorts {
		if p.PortType != "" && p.PortType != PortTypeAFPacket {
			return true
		}
	}
	return false
}

// Bridge is one configured bridge.
type Bridge struct {
	Name   string
	Uplink string   // interface name of the physical uplink; "" for none
	Ports  []string // interface names or path.Match globs, e.g. "vif*.0"
	FDB    fdb.Config
	Static []Static // MACs pinned to a port: never learned elsewhere, never aged
	Rings  Rings
	// FastPath is the mode of the bridge's ports; "" takes Config.FastPath.
	FastPath Mode
	// PortModes set the mode of single ports, first match wins.
	PortModes Patterns[Mode]
	// PortType is the type of the bridge's ports; "" takes Config.PortType.
	PortType PortType
	// PortTypes set the type of single ports, first match wins.
	PortTypes Patterns[PortType]
	Line      int // where the bridge starts in Source
	RingsLine int // where its rings are set in Source (Line if they are not)
	// HostPort is dom0's own port on the bridge; its Name is "" for none.
	HostPort HostPort
	// PortPolicies set the VLANs, isolation and anti-spoofing of single
	// ports (port-settings), first match wins.
	PortPolicies Patterns[policy.Policy]
	// Mirrors copy ports' frames to other ports (for an IDS guest).
	Mirrors []Mirror
	// VXLAN are the tunnel ports xswitchd creates for the bridge, each
	// in Ports too (vxlan.go).
	VXLAN []VXLAN
	// LoopProtection blocks a port of a loop for a while (loop.go).
	LoopProtection LoopProtection
	// StormControl limits the flooded frames of each port (storm.go);
	// PortStorms those of single ports (port-settings), first match wins.
	StormControl StormControl
	PortStorms   Patterns[StormControl]
}

// Type returns the port type of one of the bridge's ports: the first
// port-types entry that matches it, else the bridge's type, else def.
func (b *Bridge) Type(ifname string, def PortType) PortType {
	return pick(b.PortTypes, ifname, b.PortType, def, PortTypeAuto)
}

// Mode returns the fast-path mode of one of the bridge's ports: the first
// port-fastpath entry that matches it, else the bridge's mode, else def.
func (b *Bridge) Mode(ifname string, def Mode) Mode {
	return pick(b.PortModes, ifname, b.FastPath, def, ModeAuto)
}

// pick returns the value of the first pattern that matches name, else the
// first of bridge, def and fallback that is set.
func pick[T comparable](ps Patterns[T], name string, bridge, def, fallback T) T {
	if v, ok := ps.Lookup(name); ok {
		return v
	}
	var zero T
	switch {
	case bridge != zero:
		return bridge
	case def != zero:
		return def
	}
	return fallback
}

// Static is a MAC address pinned to a port, installed when the port attaches.
type Static struct {
	MAC  net.HardwareAddr
	VLAN uint16
	Port string // an interface name, not a glob
}

// Rings are the AF_PACKET rings of a bridge's ports.
type Rings struct {
	Vif    Ring // guest ports: small, a dom0 has hundreds
	Uplink Ring // the uplink: larger
}

// Ring sizes the AF_PACKET ring and send batches of a port; the fields mean
// what those of afpacket.Config mean.
type Ring struct {
	BlockSize    int           // bytes of one ring block
	BlockCount   int           // blocks in the ring
	BlockTimeout time.Duration // how long the kernel keeps a partly filled block
	BatchSize    int           // frames per receive and per sendmmsg
	SndBuf       int           // the socket's send buffer in bytes
}

// VifRing is a guest port's ring: 1 MiB (8 blocks of 128 KiB), so that
// hundreds of vifs stay cheap. It equals afpacket.VifConfig.
func VifRing() Ring {
	return Ring{BlockSize: 128 << 10, BlockCount: 8, BlockTimeout: time.Millisecond, BatchSize: 64, SndBuf: 1 << 20}
}

// UplinkRing is an uplink's ring, which carries the traffic of every guest:
// 8 MiB (32 blocks of 256 KiB). It equals afpacket.UplinkConfig.
func UplinkRing() Ring {
	return Ring{BlockSize: 256 << 10, BlockCount: 32, BlockTimeout: time.Millisecond, BatchSize: 256, SndBuf: 4 << 20}
}

// AFXDP configures the sockets of AF_XDP ports; the fields mean what those
// of afxdp.Config mean.
type AFXDP struct {
	RxRingSize int           // RX and fill ring entries
	TxRingSize int           // TX and completion ring entries
	BatchSize  int           // frames per receive and send
	Bind       string        // auto, zerocopy or copy
	SpinTime   time.Duration // busy polling after a full batch before sleeping; negative: never
}

// DefaultAFXDP equals afxdp.DefaultConfig.
func DefaultAFXDP() AFXDP {
	return AFXDP{RxRingSize: 2048, TxRingSize: 2048, BatchSize: 256, Bind: "auto", SpinTime: 20 * time.Microsecond}
}

// UMEM sizes the UMEM of a bridge's AF_XDP ports, as afxdp.UMEMConfig.
type UMEM struct {
	FrameSize int // bytes of one frame buffer
	Frames    int // frame buffers
}

// PuntRing sizes the shared punt receiver's ring, as
// afpacket.SharedConfig; a zero field takes the receiver's default.
type PuntRing struct {
	Frames    int // frame slots
	FrameSize int // bytes per slot
	BatchSize int // frames per Receive
	// Taps is how many sockets, each with such a ring and a goroutine,
	// share the AF_PACKET ports without the fast path; 0: DefaultTaps.
	Taps int
}

// DefaultTaps is the default PuntRing.Taps; MaxTaps the most allowed.
const (
	DefaultTaps = 4
	MaxTaps     = 64
)

// DefaultUMEM equals afxdp.DefaultUMEMConfig.
func DefaultUMEM() UMEM { return UMEM{FrameSize: 4096, Frames: 8192} }

// Load reads and parses a configuration file.
func Load(name string) (*Config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(name, data)
}

// Auto returns the configuration used when there is no file.
func Auto() *Config {
	return &Config{Metrics: DefaultMetrics, Control: DefaultControl, Auto: true, FastPath: ModeAuto, PinDir: DefaultPinDir, PortType: PortTypeAuto,
		AFXDP: DefaultAFXDP(), UMEM: DefaultUMEM(), AFXDPLine: 1, HostPorts: true}
}

// LineError is an error at a place in the configuration file.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Package config reads xswitchd's YAML configuration and applies the Xen
// naming rules of auto mode.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/dataplane/afxdp"
	"github.com/xswitch/xswitch/fdb"
)

// Defaults of the daemon's endpoints.
const (
	DefaultMetrics = "127.0.0.1:9417"
	DefaultControl = "/run/xswitch/xswitchd.sock"
)

// Config is the whole configuration of xswitchd.
type Config struct {
	Source  string   // the file it came from; "" in auto mode
	Metrics string   // listen address of /metrics; "" disables it
	Control string   // path of the control socket; "" disables it
	Bridges []Bridge // in file order; empty in auto mode, where bridges appear with their interfaces
	Auto    bool     // no file: bridges follow the Xen naming rules
	// FastPath is the fast-path mode of ports whose bridge says nothing.
	FastPath bpf.Mode
	// FastPathSet says the file sets FastPath (the -fastpath flag does not
	// override it).
	FastPathSet bool
	// PinDir is the bpffs directory of the fast path's pinned state.
	PinDir string
	// TCHook says how TC programs are attached: tcx, clsact, or auto (tcx
	// where the kernel has it).
	TCHook bpf.TCHook
	// PortType is the port type of ports whose bridge says nothing.
	PortType PortType
	// PortTypeSet says the file sets PortType (the -port-type flag does
	// not override it).
	PortTypeSet bool
	// AFXDP configures the AF_XDP ports: their sockets, and the UMEM each
	// bridge's AF_XDP ports share.
	AFXDP afxdp.Config
	UMEM  afxdp.UMEMConfig
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
	switch t := PortType(s); t {
	case PortTypeAuto, PortTypeAFPacket, PortTypeAFXDP:
		return t, nil
	case "":
		return PortTypeAuto, nil
	}
	return "", fmt.Errorf("unknown port type %q (want auto, afpacket or afxdp)", s)
}

// WantsFastPath reports whether any port may use the fast path.
func (c *Config) WantsFastPath() bool {
	if c.FastPath != bpf.ModeOff {
		return true
	}
	for _, b := range c.Bridges {
		if b.FastPath != "" && b.FastPath != bpf.ModeOff {
			return true
		}
		for _, pm := range b.PortModes {
			if pm.Mode != bpf.ModeOff {
				return true
			}
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
			if pt.Type != PortTypeAFPacket {
				return true
			}
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
	FastPath bpf.Mode
	// PortModes set the mode of single ports, first match wins.
	PortModes []PortMode
	// PortType is the type of the bridge's ports; "" takes Config.PortType.
	PortType PortType
	// PortTypes set the type of single ports, first match wins.
	PortTypes []PortTypeOf
	Line      int // where the bridge starts in Source
}

// PortTypeOf is the port type of the ports whose names match Pattern.
type PortTypeOf struct {
	Pattern string
	Type    PortType
}

// PortMode is the fast-path mode of the ports whose names match Pattern (an
// interface name or a path.Match glob).
type PortMode struct {
	Pattern string
	Mode    bpf.Mode
}

// Static is a MAC address pinned to a port, installed when the port attaches.
type Static struct {
	MAC  net.HardwareAddr
	VLAN uint16
	Port string // an interface name, not a glob
}

// Rings are the AF_PACKET ring sizes of a bridge's ports.
type Rings struct {
	Vif    afpacket.Config // guest ports: small, a dom0 has hundreds
	Uplink afpacket.Config // the uplink: larger
}

// file mirrors the YAML document.
type file struct {
	Metrics  *string      `yaml:"metrics"`
	Control  *string      `yaml:"control"`
	FastPath string       `yaml:"fastpath"`
	PortType string       `yaml:"port-type"`
	AFXDP    fileAFXDP    `yaml:"afxdp"`
	Bridges  []fileBridge `yaml:"bridges"`
}

type fileBridge struct {
	Name      string   `yaml:"name"`
	Uplink    string   `yaml:"uplink"`
	Ports     []string `yaml:"ports"`
	AgingTime *string  `yaml:"aging-time"`
	FastPath  string   `yaml:"fastpath"`
	// PortFastPath maps names or globs to modes; a node keeps their order.
	PortFastPath yaml.Node `yaml:"port-fastpath"`
	PortType     string    `yaml:"port-type"`
	PortTypes    yaml.Node `yaml:"port-types"`
	FDB          struct {
		MaxEntries int `yaml:"max-entries"`
		MaxPerPort int `yaml:"max-per-port"`
	} `yaml:"fdb"`
	Static []struct {
		MAC  string `yaml:"mac"`
		VLAN int    `yaml:"vlan"`
		Port string `yaml:"port"`
	} `yaml:"static"`
	Rings struct {
		Vif    fileRing `yaml:"vif"`
		Uplink fileRing `yaml:"uplink"`
	} `yaml:"rings"`
}

type fileAFXDP struct {
	Frames    int    `yaml:"frames"`
	FrameSize int    `yaml:"frame-size"`
	RxRing    int    `yaml:"rx-ring"`
	TxRing    int    `yaml:"tx-ring"`
	BatchSize int    `yaml:"batch-size"`
	Mode      string `yaml:"bind"`
	SpinTime  string `yaml:"spin-time"`
}

type fileRing struct {
	BlockSize string `yaml:"block-size"`
	Blocks    int    `yaml:"blocks"`
	BatchSize int    `yaml:"batch-size"`
	// The kernel runs a timer this often per ring, busy or idle, so a
	// dom0 with hundreds of ports wants a longer one; latency at low
	// rates grows with it.
	BlockTimeout string `yaml:"block-timeout"`
}

// Load reads and validates a configuration file.
func Load(name string) (*Config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(name, data)
}

// Auto returns the configuration used when there is no file.
func Auto() *Config {
	return &Config{Metrics: DefaultMetrics, Control: DefaultControl, Auto: true, FastPath: bpf.ModeAuto, PinDir: bpf.DefaultPinDir, PortType: PortTypeAuto}
}

// lineErr is an error at a place in the file.
type lineErr struct {
	file string
	line int
	msg  string
}

func (e *lineErr) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

var (
	yamlLine   = regexp.MustCompile(`line (\d+): (.*)`)
	yamlGoType = regexp.MustCompile(` in type \S+`)
)

// Parse validates a configuration. Errors carry the file name, the line and
// the reason.
func Parse(name string, data []byte) (*Config, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			var errs []error
			for _, e := range te.Errors {
				errs = append(errs, yamlErr(name, e))
			}
			return nil, errors.Join(errs...)
		}
		return nil, yamlErr(name, err.Error())
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlErr(name, err.Error())
	}
	lines := bridgeNodes(&doc)

	c := &Config{Source: name, Metrics: DefaultMetrics, Control: DefaultControl, PinDir: bpf.DefaultPinDir}
	var err error
	if c.FastPath, err = bpf.ParseMode(f.FastPath); err != nil {
		return nil, &lineErr{name, topKeyLine(&doc, "fastpath"), "fastpath: " + err.Error()}
	}
	c.FastPathSet = f.FastPath != ""
	if c.PortType, err = ParsePortType(f.PortType); err != nil {
		return nil, &lineErr{name, topKeyLine(&doc, "port-type"), "port-type: " + err.Error()}
	}
	c.PortTypeSet = f.PortType != ""
	if c.AFXDP, c.UMEM, err = afxdpConfig(f.AFXDP); err != nil {
		return nil, &lineErr{name, topKeyLine(&doc, "afxdp"), "afxdp: " + err.Error()}
	}
	if f.Metrics != nil {
		c.Metrics = *f.Metrics
	}
	if f.Control != nil {
		c.Control = *f.Control
	}
	if len(f.Bridges) == 0 {
		return nil, &lineErr{name, 1, "no bridges: list them under 'bridges:', or run without a file for auto mode"}
	}
	names := map[string]int{}
	ifaces := map[string]string{}
	for i, fb := range f.Bridges {
		node := lines[i]
		at := func(key string) int { return keyLine(node, key) }
		b := Bridge{Name: fb.Name, Uplink: fb.Uplink, Ports: fb.Ports, FDB: fdb.DefaultConfig(), Line: node.Line}
		if b.Name == "" {
			return nil, &lineErr{name, node.Line, "bridge has no name"}
		}
		if err := checkIfname(b.Name); err != nil {
			return nil, &lineErr{name, at("name"), fmt.Sprintf("bridge %q: name: %v", b.Name, err)}
		}
		if prev, dup := names[b.Name]; dup {
			return nil, &lineErr{name, node.Line, fmt.Sprintf("bridge %q defined twice (first at line %d)", b.Name, prev)}
		}
		names[b.Name] = node.Line
		for _, other := range c.Bridges {
			if bpf.BridgeID(other.Name) == bpf.BridgeID(b.Name) {
				return nil, &lineErr{name, node.Line, fmt.Sprintf("bridges %q and %q have the same fast-path id (a hash of the name): rename one", other.Name, b.Name)}
			}
		}
		if b.Uplink != "" {
			if err := checkIfname(b.Uplink); err != nil {
				return nil, &lineErr{name, at("uplink"), fmt.Sprintf("bridge %q: uplink: %v", b.Name, err)}
			}
			if other, dup := ifaces[b.Uplink]; dup {
				return nil, &lineErr{name, at("uplink"), fmt.Sprintf("bridge %q: uplink %s is already a port of bridge %q", b.Name, b.Uplink, other)}
			}
			ifaces[b.Uplink] = b.Name
		}
		for j, p := range b.Ports {
			if _, err := path.Match(p, ""); err != nil || p == "" || len(p) > 15 && !strings.ContainsAny(p, "*?[") {
				return nil, &lineErr{name, seqItemLine(node, "ports", j), fmt.Sprintf("bridge %q: port %q is not an interface name or glob", b.Name, p)}
			}
			if !strings.ContainsAny(p, "*?[") {
				if other, dup := ifaces[p]; dup {
					return nil, &lineErr{name, seqItemLine(node, "ports", j), fmt.Sprintf("bridge %q: port %s is already a port of bridge %q", b.Name, p, other)}
				}
				ifaces[p] = b.Name
			}
		}
		if fb.AgingTime != nil {
			d, err := parseDuration(*fb.AgingTime)
			if err != nil {
				return nil, &lineErr{name, at("aging-time"), fmt.Sprintf("bridge %q: aging-time: %v", b.Name, err)}
			}
			b.FDB.AgingTime = d
		}
		if fb.FDB.MaxEntries < 0 || fb.FDB.MaxPerPort < 0 {
			return nil, &lineErr{name, at("fdb"), fmt.Sprintf("bridge %q: fdb limits must be positive", b.Name)}
		}
		if fb.FDB.MaxEntries > 0 {
			b.FDB.MaxEntries = fb.FDB.MaxEntries
		}
		if fb.FDB.MaxPerPort > 0 {
			b.FDB.MaxPerPort = fb.FDB.MaxPerPort
		}
		for j, st := range fb.Static {
			line := seqItemLine(node, "static", j)
			mac, err := net.ParseMAC(st.MAC)
			if err != nil || len(mac) != 6 || mac[0]&1 != 0 {
				return nil, &lineErr{name, line, fmt.Sprintf("bridge %q: static: %q is not a unicast Ethernet address", b.Name, st.MAC)}
			}
			if st.VLAN < 0 || st.VLAN > 4095 {
				return nil, &lineErr{name, line, fmt.Sprintf("bridge %q: static %s: vlan %d is not between 0 and 4095", b.Name, mac, st.VLAN)}
			}
			if err := checkIfname(st.Port); err != nil || strings.ContainsAny(st.Port, "*?[") {
				return nil, &lineErr{name, line, fmt.Sprintf("bridge %q: static %s: port %q is not an interface name", b.Name, mac, st.Port)}
			}
			b.Static = append(b.Static, Static{MAC: mac, VLAN: uint16(st.VLAN), Port: st.Port})
		}
		if fb.FastPath != "" {
			if b.FastPath, err = bpf.ParseMode(fb.FastPath); err != nil {
				return nil, &lineErr{name, at("fastpath"), fmt.Sprintf("bridge %q: fastpath: %v", b.Name, err)}
			}
		}
		var line int
		if b.PortModes, line, err = portModes(&fb.PortFastPath); err != nil {
			return nil, &lineErr{name, line, fmt.Sprintf("bridge %q: port-fastpath: %v", b.Name, err)}
		}
		if fb.PortType != "" {
			if b.PortType, err = ParsePortType(fb.PortType); err != nil {
				return nil, &lineErr{name, at("port-type"), fmt.Sprintf("bridge %q: port-type: %v", b.Name, err)}
			}
		}
		if b.PortTypes, line, err = portTypes(&fb.PortTypes); err != nil {
			return nil, &lineErr{name, line, fmt.Sprintf("bridge %q: port-types: %v", b.Name, err)}
		}
		if b.Rings.Vif, err = ring(fb.Rings.Vif, afpacket.VifConfig()); err != nil {
			return nil, &lineErr{name, at("rings"), fmt.Sprintf("bridge %q: rings.vif: %v", b.Name, err)}
		}
		if b.Rings.Uplink, err = ring(fb.Rings.Uplink, afpacket.UplinkConfig()); err != nil {
			return nil, &lineErr{name, at("rings"), fmt.Sprintf("bridge %q: rings.uplink: %v", b.Name, err)}
		}
		c.Bridges = append(c.Bridges, b)
	}
	return c, nil
}

// afxdpConfig reads the afxdp block.
func afxdpConfig(f fileAFXDP) (afxdp.Config, afxdp.UMEMConfig, error) {
	c := afxdp.Config{RxRingSize: f.RxRing, TxRingSize: f.TxRing, BatchSize: f.BatchSize, Mode: afxdp.BindMode(f.Mode)}
	u := afxdp.UMEMConfig{Frames: f.Frames, FrameSize: f.FrameSize}
	if f.SpinTime != "" {
		d, err := parseDuration(f.SpinTime)
		if err != nil {
			return c, u, fmt.Errorf("spin-time: %v", err)
		}
		c.SpinTime = d
		if d == 0 {
			c.SpinTime = -1 // never spin
		}
	}
	if err := c.Validate(); err != nil {
		return c, u, err
	}
	return c, u, u.Validate()
}

// portTypes reads the port-types mapping, in file order.
func portTypes(n *yaml.Node) ([]PortTypeOf, int, error) {
	if n.Kind == 0 {
		return nil, 0, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, n.Line, errors.New("want a mapping of interface names or globs to port types, such as 'peth*: afxdp'")
	}
	var out []PortTypeOf
	for i := 0; i+1 < len(n.Content); i += 2 {
		pat, val, line := n.Content[i].Value, n.Content[i+1].Value, n.Content[i].Line
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			return nil, line, fmt.Errorf("%q is not an interface name or glob", pat)
		}
		t, err := ParsePortType(val)
		if err != nil || val == "" {
			return nil, line, fmt.Errorf("%s: unknown port type %q (want auto, afpacket or afxdp)", pat, val)
		}
		out = append(out, PortTypeOf{Pattern: pat, Type: t})
	}
	return out, 0, nil
}

// Type returns the port type of one of the bridge's ports: the first
// port-types entry that matches it, else the bridge's type, else def.
func (b *Bridge) Type(ifname string, def PortType) PortType {
	for _, pt := range b.PortTypes {
		if m, _ := path.Match(pt.Pattern, ifname); m {
			return pt.Type
		}
	}
	if b.PortType != "" {
		return b.PortType
	}
	if def == "" {
		return PortTypeAuto
	}
	return def
}

// portModes reads the port-fastpath mapping, in file order; an error comes
// with its line.
func portModes(n *yaml.Node) ([]PortMode, int, error) {
	if n.Kind == 0 {
		return nil, 0, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, n.Line, errors.New("want a mapping of interface names or globs to modes, such as 'vif9.*: off'")
	}
	var out []PortMode
	for i := 0; i+1 < len(n.Content); i += 2 {
		pat, val, line := n.Content[i].Value, n.Content[i+1].Value, n.Content[i].Line
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			return nil, line, fmt.Errorf("%q is not an interface name or glob", pat)
		}
		m, err := bpf.ParseMode(val)
		if err != nil || val == "" {
			return nil, line, fmt.Errorf("%s: unknown fast path mode %q (want auto, xdp, tc or off)", pat, val)
		}
		out = append(out, PortMode{Pattern: pat, Mode: m})
	}
	return out, 0, nil
}

// Mode returns the fast-path mode of one of the bridge's ports: the first
// port-fastpath entry that matches it, else the bridge's mode, else def.
func (b *Bridge) Mode(ifname string, def bpf.Mode) bpf.Mode {
	for _, pm := range b.PortModes {
		if m, _ := path.Match(pm.Pattern, ifname); m {
			return pm.Mode
		}
	}
	if b.FastPath != "" {
		return b.FastPath
	}
	if def == "" {
		return bpf.ModeAuto
	}
	return def
}

// topKeyLine returns the line of a top-level key, or 1.
func topKeyLine(doc *yaml.Node, key string) int {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		if v := value(doc.Content[0], key); v != nil {
			return v.Line
		}
	}
	return 1
}

func yamlErr(name, msg string) error {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &lineErr{name, n, yamlGoType.ReplaceAllString(m[2], "")}
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// parseDuration accepts Go durations ("300s", "5m") and a bare 0.
func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 300s or 5m (0 disables aging)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// parseSize accepts a byte count with an optional KiB or MiB suffix.
func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "KiB"):
		mult, s = 1<<10, strings.TrimSuffix(s, "KiB")
	case strings.HasSuffix(s, "MiB"):
		mult, s = 1<<20, strings.TrimSuffix(s, "MiB")
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 131072, 128KiB or 1MiB", s)
	}
	return n * mult, nil
}

func ring(r fileRing, def afpacket.Config) (afpacket.Config, error) {
	c := def
	if r.BlockSize != "" {
		n, err := parseSize(r.BlockSize)
		if err != nil {
			return c, fmt.Errorf("block-size: %v", err)
		}
		c.BlockSize = n
	}
	if r.Blocks != 0 {
		c.BlockCount = r.Blocks
	}
	if r.BatchSize != 0 {
		c.BatchSize = r.BatchSize
	}
	if r.BlockTimeout != "" {
		d, err := parseDuration(r.BlockTimeout)
		if err != nil {
			return c, fmt.Errorf("block-timeout: %v", err)
		}
		c.BlockTimeout = d
	}
	return c, c.Validate()
}

func checkIfname(s string) error {
	if len(s) == 0 || len(s) > 15 || strings.ContainsAny(s, "/ \t:") {
		return fmt.Errorf("%q is not a valid interface name (1 to 15 characters, no '/', ':' or spaces)", s)
	}
	return nil
}

// bridgeNodes returns the mapping node of each item of the top-level
// "bridges" sequence.
func bridgeNodes(doc *yaml.Node) []*yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	if seq := value(doc.Content[0], "bridges"); seq != nil {
		return seq.Content
	}
	return nil
}

func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func keyLine(m *yaml.Node, key string) int {
	if v := value(m, key); v != nil {
		return v.Line
	}
	return m.Line
}

func seqItemLine(m *yaml.Node, key string, i int) int {
	if v := value(m, key); v != nil && i < len(v.Content) {
		return v.Content[i].Line
	}
	return keyLine(m, key)
}

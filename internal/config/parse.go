package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/xswitch/xswitch/fdb"
)

// file mirrors the YAML document.
type file struct {
	Metrics *string `yaml:"metrics"`
	Control *string `yaml:"control"`
	// ControlGroup is the group let into the control socket.
	ControlGroup string       `yaml:"control-group"`
	FastPath     string       `yaml:"fastpath"`
	PortType     string       `yaml:"port-type"`
	AFXDP        fileAFXDP    `yaml:"afxdp"`
	PuntRing     filePuntRing `yaml:"punt-ring"`
	Bridges      []fileBridge `yaml:"bridges"`
	EVPN         yaml.Node    `yaml:"evpn"` // evpn.go
}

type filePuntRing struct {
	Frames    int    `yaml:"frames"`
	FrameSize string `yaml:"frame-size"`
	BatchSize int    `yaml:"batch-size"`
	Taps      int    `yaml:"taps"`
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
	HostPort     yaml.Node `yaml:"host-port"` // a name or a mapping
	// PortSettings maps names or globs to VLANs, isolation and
	// anti-spoofing; a node keeps their order.
	PortSettings yaml.Node `yaml:"port-settings"`
	VXLAN        yaml.Node `yaml:"vxlan"` // tunnel ports to create (vxlan.go)
	StormControl yaml.Node `yaml:"storm-control"`
	FDB          struct {
		MaxEntries int `yaml:"max-entries"`
		MaxPerPort int `yaml:"max-per-port"`
	} `yaml:"fdb"`
	Static []struct {
		MAC  string `yaml:"mac"`
		VLAN int    `yaml:"vlan"`
		Port string `yaml:"port"`
	} `yaml:"static"`
	Mirrors []struct {
		From      string `yaml:"from"`
		To        string `yaml:"to"`
		Direction string `yaml:"direction"`
	} `yaml:"mirrors"`
	Rings struct {
		Vif    fileRing `yaml:"vif"`
		Uplink fileRing `yaml:"uplink"`
	} `yaml:"rings"`

	LoopProtection yaml.Node `yaml:"loop-protection"`
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

var (
	yamlLine   = regexp.MustCompile(`line (\d+): (.*)`)
	yamlGoType = regexp.MustCompile(` in type \S+`)
)

// Parse reads a configuration. Errors carry the file name, the line and the
// reason. The sizes of rings and sockets are checked where the daemon turns
// them into the port packages' settings.
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

	c := &Config{Source: name, Metrics: DefaultMetrics, Control: DefaultControl, PinDir: DefaultPinDir, AFXDPLine: topKeyLine(&doc, "afxdp"),
		PuntRingLine: topKeyLine(&doc, "punt-ring")}
	var err error
	if c.FastPath, err = ParseMode(f.FastPath); err != nil {
		return nil, &LineError{name, topKeyLine(&doc, "fastpath"), "fastpath: " + err.Error()}
	}
	c.FastPathSet = f.FastPath != ""
	if c.PortType, err = ParsePortType(f.PortType); err != nil {
		return nil, &LineError{name, topKeyLine(&doc, "port-type"), "port-type: " + err.Error()}
	}
	c.PortTypeSet = f.PortType != ""
	if c.AFXDP, c.UMEM, err = afxdpConfig(f.AFXDP); err != nil {
		return nil, &LineError{name, c.AFXDPLine, "afxdp: " + err.Error()}
	}
	if c.PuntRing, err = puntRing(f.PuntRing); err != nil {
		return nil, &LineError{name, c.PuntRingLine, "punt-ring: " + err.Error()}
	}
	if f.Metrics != nil {
		c.Metrics = *f.Metrics
	}
	if f.Control != nil {
		c.Control = *f.Control
	}
	c.ControlGroup = f.ControlGroup
	if len(f.Bridges) == 0 {
		return nil, &LineError{name, 1, "no bridges: list them under 'bridges:', or run without a file for auto mode"}
	}
	p := &parser{file: name, names: map[string]int{}, ifaces: map[string]string{}}
	nodes := bridgeNodes(&doc)
	for i, fb := range f.Bridges {
		b, err := p.bridge(fb, nodes[i])
		if err != nil {
			return nil, err
		}
		c.Bridges = append(c.Bridges, b)
	}
	if err := checkHostPortGlobs(name, c.Bridges); err != nil {
		return nil, err
	}
	if c.EVPN, err = parseEVPN(name, &doc); err != nil {
		return nil, err
	}
	return c, nil
}

// parser holds what the bridges of one file must not repeat.
type parser struct {
	file   string
	names  map[string]int    // bridge name → its line
	ifaces map[string]string // interface name → its bridge
	vnis   map[uint32]string // VXLAN network identifier → its bridge
}

func (p *parser) errAt(line int, format string, args ...any) error {
	return &LineError{p.file, line, fmt.Sprintf(format, args...)}
}

// bridge reads one item of the bridges list, whose mapping node is node.
func (p *parser) bridge(fb fileBridge, node *yaml.Node) (Bridge, error) {
	at := func(key string) int { return keyLine(node, key) }
	b := Bridge{Name: fb.Name, Uplink: fb.Uplink, Ports: fb.Ports, FDB: fdb.DefaultConfig(), Line: node.Line, RingsLine: at("rings")}
	if b.Name == "" {
		return b, p.errAt(node.Line, "bridge has no name")
	}
	if err := checkIfname(b.Name); err != nil {
		return b, p.errAt(at("name"), "bridge %q: name: %v", b.Name, err)
	}
	if prev, dup := p.names[b.Name]; dup {
		return b, p.errAt(node.Line, "bridge %q defined twice (first at line %d)", b.Name, prev)
	}
	p.names[b.Name] = node.Line
	if b.Uplink != "" {
		if err := checkIfname(b.Uplink); err != nil {
			return b, p.errAt(at("uplink"), "bridge %q: uplink: %v", b.Name, err)
		}
		if other, dup := p.ifaces[b.Uplink]; dup {
			return b, p.errAt(at("uplink"), "bridge %q: uplink %s is already a port of bridge %q", b.Name, b.Uplink, other)
		}
		p.ifaces[b.Uplink] = b.Name
	}
	if err := p.ports(b, node); err != nil {
		return b, err
	}
	if err := p.hostPort(&b, &fb.HostPort); err != nil {
		return b, err
	}
	if fb.AgingTime != nil {
		d, err := parseDuration(*fb.AgingTime)
		if err != nil {
			return b, p.errAt(at("aging-time"), "bridge %q: aging-time: %v", b.Name, err)
		}
		b.FDB.AgingTime = d
	}
	if fb.FDB.MaxEntries < 0 || fb.FDB.MaxPerPort < 0 {
		return b, p.errAt(at("fdb"), "bridge %q: fdb limits must be positive", b.Name)
	}
	if fb.FDB.MaxEntries > 0 {
		b.FDB.MaxEntries = fb.FDB.MaxEntries
	}
	if fb.FDB.MaxPerPort > 0 {
		b.FDB.MaxPerPort = fb.FDB.MaxPerPort
	}
	var err error
	if b.Static, err = p.statics(b.Name, fb, node); err != nil {
		return b, err
	}
	if err = p.portSettings(&b, fb, at); err != nil {
		return b, err
	}
	if err = p.mirrors(&b, fb, node); err != nil {
		return b, err
	}
	if err = p.loopProtection(&b, &fb.LoopProtection); err != nil {
		return b, err
	}
	if err = p.stormControl(&b, &fb.StormControl); err != nil {
		return b, err
	}
	if err = p.portPolicies(&b, &fb.PortSettings); err != nil {
		return b, err
	}
	err = p.vxlans(&b, &fb.VXLAN)
	return b, err
}

// portSettings reads what a bridge sets for its ports: fast-path modes,
// port types and rings.
func (p *parser) portSettings(b *Bridge, fb fileBridge, at func(key string) int) error {
	var err error
	if fb.FastPath != "" {
		if b.FastPath, err = ParseMode(fb.FastPath); err != nil {
			return p.errAt(at("fastpath"), "bridge %q: fastpath: %v", b.Name, err)
		}
	}
	var line int
	if b.PortModes, line, err = parsePatterns(&fb.PortFastPath, "modes", "vif9.*: off", modeOf); err != nil {
		return p.errAt(line, "bridge %q: port-fastpath: %v", b.Name, err)
	}
	if fb.PortType != "" {
		if b.PortType, err = ParsePortType(fb.PortType); err != nil {
			return p.errAt(at("port-type"), "bridge %q: port-type: %v", b.Name, err)
		}
	}
	if b.PortTypes, line, err = parsePatterns(&fb.PortTypes, "port types", "peth*: afxdp", portTypeOf); err != nil {
		return p.errAt(line, "bridge %q: port-types: %v", b.Name, err)
	}
	if b.Rings.Vif, err = ring(fb.Rings.Vif, VifRing()); err != nil {
		return p.errAt(b.RingsLine, "bridge %q: rings.vif: %v", b.Name, err)
	}
	if b.Rings.Uplink, err = ring(fb.Rings.Uplink, UplinkRing()); err != nil {
		return p.errAt(b.RingsLine, "bridge %q: rings.uplink: %v", b.Name, err)
	}
	return nil
}

// ports checks the port names and globs of b, and that no interface is
// named by two bridges.
func (p *parser) ports(b Bridge, node *yaml.Node) error {
	for j, port := range b.Ports {
		line := seqItemLine(node, "ports", j)
		if _, err := path.Match(port, ""); err != nil || port == "" || len(port) > 15 && !isGlob(port) {
			return p.errAt(line, "bridge %q: port %q is not an interface name or glob", b.Name, port)
		}
		if !isGlob(port) {
			if other, dup := p.ifaces[port]; dup {
				return p.errAt(line, "bridge %q: port %s is already a port of bridge %q", b.Name, port, other)
			}
			p.ifaces[port] = b.Name
		}
	}
	return nil
}

// statics reads the static MACs of a bridge.
func (p *parser) statics(bridge string, fb fileBridge, node *yaml.Node) ([]Static, error) {
	var out []Static
	for j, st := range fb.Static {
		line := seqItemLine(node, "static", j)
		mac, err := ParseUnicastMAC(st.MAC)
		if err != nil {
			return nil, p.errAt(line, "bridge %q: static: %v", bridge, err)
		}
		if st.VLAN < 0 || st.VLAN > 4095 {
			return nil, p.errAt(line, "bridge %q: static %s: vlan %d is not between 0 and 4095", bridge, mac, st.VLAN)
		}
		if err := checkIfname(st.Port); err != nil || isGlob(st.Port) {
			return nil, p.errAt(line, "bridge %q: static %s: port %q is not an interface name", bridge, mac, st.Port)
		}
		out = append(out, Static{MAC: mac, VLAN: uint16(st.VLAN), Port: st.Port})
	}
	return out, nil
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// afxdpConfig reads the afxdp block over the defaults.
func afxdpConfig(f fileAFXDP) (AFXDP, UMEM, error) {
	c, u := DefaultAFXDP(), DefaultUMEM()
	setInt(&c.RxRingSize, f.RxRing)
	setInt(&c.TxRingSize, f.TxRing)
	setInt(&c.BatchSize, f.BatchSize)
	setInt(&u.Frames, f.Frames)
	setInt(&u.FrameSize, f.FrameSize)
	if f.Mode != "" {
		c.Bind = f.Mode
	}
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
	return c, u, nil
}

// puntRing reads the punt-ring block; what it leaves out stays 0, the
// receiver's default.
func puntRing(f filePuntRing) (PuntRing, error) {
	r := PuntRing{Frames: f.Frames, BatchSize: f.BatchSize, Taps: f.Taps}
	if f.Taps < 0 || f.Taps > MaxTaps {
		return r, fmt.Errorf("taps %d: must be between 1 and %d", f.Taps, MaxTaps)
	}
	if f.FrameSize != "" {
		n, err := parseSize(f.FrameSize)
		if err != nil {
			return r, fmt.Errorf("frame-size: %v", err)
		}
		r.FrameSize = n
	}
	return r, nil
}

// setInt sets *dst to v unless v is 0 (not in the file).
func setInt(dst *int, v int) {
	if v != 0 {
		*dst = v
	}
}

// ring reads a ring block over def.
func ring(r fileRing, def Ring) (Ring, error) {
	c := def
	if r.BlockSize != "" {
		n, err := parseSize(r.BlockSize)
		if err != nil {
			return c, fmt.Errorf("block-size: %v", err)
		}
		c.BlockSize = n
	}
	setInt(&c.BlockCount, r.Blocks)
	setInt(&c.BatchSize, r.BatchSize)
	if r.BlockTimeout != "" {
		d, err := parseDuration(r.BlockTimeout)
		if err != nil {
			return c, fmt.Errorf("block-timeout: %v", err)
		}
		c.BlockTimeout = d
	}
	return c, nil
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
		return &LineError{name, n, yamlGoType.ReplaceAllString(m[2], "")}
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

// CheckIfname checks an interface name that is no glob, such as one the
// control API is given.
func CheckIfname(s string) error {
	if err := checkIfname(s); err != nil {
		return err
	}
	if strings.ContainsAny(s, `*?[\`) {
		return fmt.Errorf("%q is not a valid interface name (no glob characters '*?[\\')", s)
	}
	return nil
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

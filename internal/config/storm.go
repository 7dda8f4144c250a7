package config

import (
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// StormControl limits the flooded frames a port may send into its bridge,
// in frames per second per ingress port and kind; 0 is no limit. What is
// over a limit is dropped and counted as "storm".
type StormControl struct {
	Broadcast      uint32 // to ff:ff:ff:ff:ff:ff
	Multicast      uint32 // to other group addresses
	UnknownUnicast uint32 // to a unicast MAC the bridge has not learned
}

// MaxStormRate is the highest limit a file may set: beyond it a port is
// faster than any limit would matter.
const MaxStormRate = 100_000_000

// Storm returns the storm control of one of the bridge's ports: the first
// port-settings entry with storm-control that matches it, else the
// bridge's.
func (b *Bridge) Storm(ifname string) StormControl {
	if s, ok := b.PortStorms.Lookup(ifname); ok {
		return s
	}
	return b.StormControl
}

// stormControl reads a bridge's storm-control block.
func (p *parser) stormControl(b *Bridge, n *yaml.Node) error {
	s, line, err := readStorm(n, StormControl{})
	if err != nil {
		return p.errAt(line, "bridge %q: storm-control: %v", b.Name, err)
	}
	b.StormControl = s
	return nil
}

// portStorm reads the storm-control of the port-settings entry pat, whose
// mapping is n, if it has one: the kinds it names replace the bridge's.
func (p *parser) portStorm(b *Bridge, pat string, n *yaml.Node) error {
	v := value(n, "storm-control")
	if v == nil {
		return nil
	}
	s, line, err := readStorm(v, b.StormControl)
	if err != nil {
		return p.errAt(line, "bridge %q: port-settings: %s: storm-control: %v", b.Name, pat, err)
	}
	b.PortStorms = append(b.PortStorms, PatternOf[StormControl]{Pattern: pat, Value: s})
	return nil
}

// readStorm reads a mapping of kinds to rates over def; an error comes
// with its line.
func readStorm(n *yaml.Node, def StormControl) (StormControl, int, error) {
	s := def
	if n.Kind == 0 {
		return s, 0, nil
	}
	if n.Kind != yaml.MappingNode {
		return s, n.Line, fmt.Errorf("want a mapping such as {broadcast: 1000, multicast: 1000, unknown-unicast: 5000} (frames/s per port)")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *uint32
		switch k.Value {
		case "broadcast":
			dst = &s.Broadcast
		case "multicast":
			dst = &s.Multicast
		case "unknown-unicast":
			dst = &s.UnknownUnicast
		default:
			return s, k.Line, fmt.Errorf("unknown key %q (want broadcast, multicast and unknown-unicast)", k.Value)
		}
		r, err := strconv.ParseUint(v.Value, 10, 32)
		if v.Kind != yaml.ScalarNode || err != nil || r > MaxStormRate {
			return s, v.Line, fmt.Errorf("%s: %q is not a rate in frames per second between 0 (no limit) and %d", k.Value, v.Value, MaxStormRate)
		}
		*dst = uint32(r)
	}
	return s, 0, nil
}

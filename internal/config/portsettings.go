package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/xswitch/xswitch/policy"
)

// Policy returns the VLANs, isolation and anti-spoofing of one of the
// bridge's ports: the first port-settings entry that matches it, else the
// default (transparent, not isolated, no anti-spoofing).
func (b *Bridge) Policy(ifname string) policy.Policy {
	p, _ := b.PortPolicies.Lookup(ifname)
	return p
}

// filePortSettings is one value of a bridge's port-settings mapping.
type filePortSettings struct {
	VLAN      string    `yaml:"vlan"`
	Isolated  bool      `yaml:"isolated"`
	AntiSpoof bool      `yaml:"antispoof"`
	MAC       string    `yaml:"mac"`
	Allowed   yaml.Node `yaml:"allowed"` // a list of addresses, or one string of them
}

// portPolicies reads a bridge's port-settings, a mapping of names or globs to
// {vlan, isolated, antispoof, mac, allowed}, in file order.
func (p *parser) portPolicies(b *Bridge, n *yaml.Node) error {
	if n.Kind == 0 {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errAt(n.Line, "bridge %q: port-settings: want a mapping of interface names or globs to settings, such as 'vif1.*: {vlan: access 10}'", b.Name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		pat := key.Value
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			return p.errAt(key.Line, "bridge %q: port-settings: %q is not an interface name or glob", b.Name, pat)
		}
		pol, line, err := readPortSettings(val)
		if err != nil {
			if line == 0 {
				line = key.Line
			}
			return p.errAt(line, "bridge %q: port-settings: %s: %v", b.Name, pat, err)
		}
		// An entry that sets only storm-control says nothing of the
		// port's VLANs, isolation and anti-spoofing: a later entry
		// that matches still gives them.
		if hasPolicyKey(val) {
			b.PortPolicies = append(b.PortPolicies, PatternOf[policy.Policy]{Pattern: pat, Value: pol})
		}
		if err := p.portStorm(b, pat, val); err != nil {
			return err
		}
	}
	return nil
}

// hasPolicyKey says whether the port-settings entry n sets any of a port's
// policy: vlan, isolated, antispoof, mac or allowed.
func hasPolicyKey(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "storm-control" {
			return true
		}
	}
	return false
}

// readPortSettings reads one entry; an error comes with its line, or 0 for
// the entry's.
func readPortSettings(n *yaml.Node) (policy.Policy, int, error) {
	var pol policy.Policy
	if n.Kind != yaml.MappingNode {
		return pol, n.Line, fmt.Errorf("want a mapping such as {vlan: \"access 10\", isolated: true}")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "vlan", "isolated", "antispoof", "mac", "allowed", "storm-control":
		default:
			return pol, n.Content[i].Line, fmt.Errorf("unknown key %q (want vlan, isolated, antispoof, mac, allowed and storm-control)", k)
		}
	}
	var f filePortSettings
	if err := n.Decode(&f); err != nil {
		line, err := decodeErr(err)
		if line == 0 {
			line = n.Line
		}
		return pol, line, err
	}
	at := func(key string) int { return keyLine(n, key) }
	var err error
	if pol.VLAN, err = policy.ParseVLANs(f.VLAN); err != nil {
		return pol, at("vlan"), fmt.Errorf("vlan: %v", err)
	}
	pol.Isolated, pol.AntiSpoof = f.Isolated, f.AntiSpoof
	if f.MAC != "" {
		if pol.MAC, err = ParseUnicastMAC(f.MAC); err != nil {
			return pol, at("mac"), fmt.Errorf("mac: %v", err)
		}
	}
	if pol.Allowed, err = readAllowed(&f.Allowed); err != nil {
		return pol, at("allowed"), fmt.Errorf("allowed: %v", err)
	}
	if err := pol.Validate(); err != nil {
		return pol, 0, err
	}
	return pol, 0, nil
}

// readAllowed reads a list of addresses and prefixes, or one string of
// them as policy.ParseAllowed reads it.
func readAllowed(n *yaml.Node) ([]netip.Prefix, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		return policy.ParseAllowed(n.Value)
	case yaml.SequenceNode:
		var out []netip.Prefix
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("want addresses or prefixes, such as [192.0.2.5, \"2001:db8::/64\"]")
			}
			ps, err := policy.ParseAllowed(item.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want addresses or prefixes, such as [192.0.2.5, \"2001:db8::/64\"]")
}

// ParseUnicastMAC reads a MAC address a port may have: a unicast Ethernet
// address.
func ParseUnicastMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 || mac[0]&1 != 0 {
		return nil, fmt.Errorf("%q is not a unicast Ethernet address", s)
	}
	return mac, nil
}

// decodeErr splits what Decode refused into its line (0 if it names none)
// and the reason, without Go types.
func decodeErr(err error) (int, error) {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = errors.New(te.Errors[0])
	}
	msg := yamlGoType.ReplaceAllString(err.Error(), "")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, errors.New(m[2])
	}
	return 0, errors.New(msg)
}

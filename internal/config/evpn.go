package config

import (
	"fmt"
	"net/netip"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultEVPNGracePeriod is how long the MACs and VTEPs a BGP neighbor
// advertised stay installed after its session drops, so that a restart of
// the neighbor or a short underlay outage does not flood every remote guest.
const DefaultEVPNGracePeriod = 90 * time.Second

// EVPN is the BGP EVPN control plane of the tunnel ports (docs/evpn.md):
// xswitchd advertises the MACs it learns and the VNIs it carries to its
// neighbors, and installs the ones they advertise.
type EVPN struct {
	ASN        uint32
	RouterID   netip.Addr // IPv4; also the route distinguishers' administrator
	ListenPort int32      // TCP port of the BGP listener; 179 by default, -1 for none
	Neighbors  []EVPNNeighbor
	// GracePeriod is how long a neighbor's routes stay installed after its
	// session went down.
	GracePeriod time.Duration
	Line        int // where the evpn key is in Source
}

// EVPNNeighbor is a BGP peer: another VTEP or a route reflector.
type EVPNNeighbor struct {
	Address netip.Addr
	ASN     uint32 // the peer's; equal to EVPN.ASN for iBGP
	Port    uint16 // TCP port to connect to; 179 by default
}

type fileEVPN struct {
	ASN         uint32 `yaml:"asn"`
	RouterID    string `yaml:"router-id"`
	ListenPort  *int32 `yaml:"listen-port"`
	GracePeriod string `yaml:"grace-period"`
	Neighbors   []struct {
		Address string `yaml:"address"`
		ASN     uint32 `yaml:"asn"`
		Port    uint16 `yaml:"port"`
	} `yaml:"neighbors"`
}

// parseEVPN reads the top-level evpn block of doc, nil if there is none.
func parseEVPN(name string, doc *yaml.Node) (*EVPN, error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	n := value(doc.Content[0], "evpn")
	if n == nil {
		return nil, nil
	}
	at := func(key string) int {
		if l := keyLine(n, key); l != 0 {
			return l
		}
		return n.Line
	}
	fail := func(line int, format string, args ...any) error {
		return &LineError{name, line, "evpn: " + fmt.Sprintf(format, args...)}
	}
	var f fileEVPN
	dec := n.Decode
	if err := dec(&f); err != nil {
		line, err := decodeErr(err)
		if line == 0 {
			line = n.Line
		}
		return nil, fail(line, "%v", err)
	}
	e := &EVPN{ASN: f.ASN, ListenPort: 179, GracePeriod: DefaultEVPNGracePeriod, Line: n.Line}
	if e.ASN == 0 {
		return nil, fail(at("asn"), "asn: want this host's AS number, such as 65000")
	}
	var err error
	if e.RouterID, err = netip.ParseAddr(f.RouterID); err != nil || !e.RouterID.Is4() {
		return nil, fail(at("router-id"), "router-id: %q is not an IPv4 address (use the VTEP address)", f.RouterID)
	}
	if f.ListenPort != nil {
		if *f.ListenPort < -1 || *f.ListenPort > 65535 || *f.ListenPort == 0 {
			return nil, fail(at("listen-port"), "listen-port: %d is not a TCP port (or -1 for none)", *f.ListenPort)
		}
		e.ListenPort = *f.ListenPort
	}
	if f.GracePeriod != "" {
		if e.GracePeriod, err = parseDuration(f.GracePeriod); err != nil {
			return nil, fail(at("grace-period"), "grace-period: %v", err)
		}
	}
	if len(f.Neighbors) == 0 {
		return nil, fail(at("neighbors"), "neighbors: want at least one, such as [{address: 192.0.2.2, asn: 65000}]")
	}
	seen := map[netip.Addr]bool{}
	for _, fn := range f.Neighbors {
		a, err := netip.ParseAddr(fn.Address)
		if err != nil {
			return nil, fail(at("neighbors"), "neighbors: address %q is not an IP address", fn.Address)
		}
		if seen[a] {
			return nil, fail(at("neighbors"), "neighbors: %s is listed twice", a)
		}
		seen[a] = true
		nb := EVPNNeighbor{Address: a, ASN: fn.ASN, Port: fn.Port}
		if nb.ASN == 0 {
			nb.ASN = e.ASN
		}
		e.Neighbors = append(e.Neighbors, nb)
	}
	return e, nil
}

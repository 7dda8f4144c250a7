package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseEVPN(t *testing.T) {
	const bridges = "bridges:\n  - name: br0\n    ports: [vif1.0]\n"
	c, err := Parse("x.yaml", []byte(bridges+"evpn:\n  asn: 65000\n  router-id: 192.0.2.1\n  grace-period: 10s\n  neighbors:\n    - address: 192.0.2.2\n    - {address: 192.0.2.3, asn: 65001, port: 1179}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := c.EVPN
	if e == nil || e.ASN != 65000 || e.RouterID.String() != "192.0.2.1" || e.ListenPort != 179 || e.GracePeriod != 10*time.Second || len(e.Neighbors) != 2 {
		t.Fatalf("evpn %+v", e)
	}
	if n := e.Neighbors[0]; n.ASN != 65000 || n.Port != 0 {
		t.Errorf("first neighbor %+v, want the local AS", n)
	}
	if n := e.Neighbors[1]; n.ASN != 65001 || n.Port != 1179 {
		t.Errorf("second neighbor %+v", n)
	}
	if c, err := Parse("x.yaml", []byte(bridges)); err != nil || c.EVPN != nil {
		t.Errorf("no evpn block: %v, %+v", err, c)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"evpn:\n  router-id: 192.0.2.1\n  neighbors: [{address: 192.0.2.2}]\n", "evpn: asn: want"},
		{"evpn:\n  asn: 1\n  router-id: ::1\n  neighbors: [{address: 192.0.2.2}]\n", "x.yaml:6: evpn: router-id"},
		{"evpn:\n  asn: 1\n  router-id: 192.0.2.1\n", "evpn: neighbors"},
		{"evpn:\n  asn: 1\n  router-id: 192.0.2.1\n  neighbors: [{address: nope}]\n", "x.yaml:7: evpn: neighbors: address"},
		{"evpn:\n  asn: 1\n  router-id: 192.0.2.1\n  grace-period: soon\n  neighbors: [{address: 192.0.2.2}]\n", "x.yaml:7: evpn: grace-period"},
		{"evpn:\n  asn: 1\n  router-id: 192.0.2.1\n  listen-port: 70000\n  neighbors: [{address: 192.0.2.2}]\n", "evpn: listen-port"},
	} {
		_, err := Parse("x.yaml", []byte(bridges+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

package dataplane

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestParseIP(t *testing.T) {
	tcp4 := oflBuild(t, oflSpec{ipOpts: true, payload: oflPattern(10)})
	udp6 := oflBuild(t, oflSpec{v6: true, udp: true, vlan: true, payload: oflPattern(10)})
	qinq := append([]byte(nil), udp6...)
	binary.BigEndian.PutUint16(qinq[12:], EtherTypeQinQ)
	cases := []struct {
		name string
		d    []byte
		want ipHeader
		err  error
	}{
		{"ipv4 with options", tcp4, ipHeader{l3: 14, l4: 14 + 24, proto: ipProtoTCP}, nil},
		{"ipv6 after 802.1Q", udp6, ipHeader{l3: 18, l4: 18 + 40, proto: ipProtoUDP, v6: true}, nil},
		{"ipv6 after 802.1ad", qinq, ipHeader{l3: 18, l4: 18 + 40, proto: ipProtoUDP, v6: true}, nil},
		{"tag truncated", qinq[:17], ipHeader{}, errEthTrunc},
		{"ipv4 options truncated", tcp4[:14+23], ipHeader{}, errIPTrunc},
	}
	for _, c := range cases {
		h, err := parseIP(c.d)
		if !errors.Is(err, c.err) || err == nil && h != c.want {
			t.Errorf("%s: parseIP = %+v, %v; want %+v, %v", c.name, h, err, c.want, c.err)
		}
	}
}

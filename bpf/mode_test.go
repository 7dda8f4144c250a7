package bpf

import "testing"

func TestAutoMode(t *testing.T) {
	for _, c := range []struct {
		name   string
		kind   string
		feats  uint64
		strips bool
		want   Mode
	}{
		{"NIC with native XDP", "", xdpActBasic | xdpActNDOXmit, false, ModeXDP},
		{"NIC without native XDP", "", xdpActNDOXmit, false, ModeTC},
		{"NIC stripping VLAN tags", "", xdpActBasic, true, ModeTC},
		{"veth", "veth", xdpActBasic | xdpActNDOXmit, false, ModeTC},
		{"vif", "vif", xdpActBasic, false, ModeXDP},
		{"features unknown", "", 0, true, ModeTC},
	} {
		if got := autoMode(c.kind, c.feats, c.strips); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestXSKMode(t *testing.T) {
	for _, c := range []struct {
		in, want Mode
		err      bool
	}{
		{ModeAuto, ModeXDP, false},
		{ModeXDP, ModeXDP, false},
		{ModeOff, ModeOff, false},
		{ModeTC, "", true},
	} {
		got, err := xskMode(c.in)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("xskMode(%s) = %q, %v; want %q, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

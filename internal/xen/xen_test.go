package xen

import "testing"

func TestParseVif(t *testing.T) {
	for _, tt := range []struct {
		name string
		want Vif
		ok   bool
	}{
		{"vif7.1", Vif{7, 1, false}, true},
		{"vif12.0-emu", Vif{12, 0, true}, true},
		{"vif0.0", Vif{0, 0, false}, true},
		{"vif7", Vif{}, false},
		{"vif7.1x", Vif{}, false},
		{"vif7.1-emux", Vif{}, false},
		{"vif.1", Vif{}, false},
		{"vif99999999999999999999.0", Vif{}, false}, // the domain id overflows
		{"peth0", Vif{}, false},
		{"", Vif{}, false},
	} {
		got, ok := ParseVif(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseVif(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParsePeth(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		ok         bool
	}{
		{"peth0", "0", true},
		{"peth12", "12", true},
		{"peth", "", false},
		{"peth0.1", "", false},
		{"xpeth0", "", false},
		{"eth0", "", false},
	} {
		got, ok := ParsePeth(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParsePeth(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

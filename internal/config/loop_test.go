package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseLoopProtection(t *testing.T) {
	for _, c := range []struct {
		name, block string
		want        LoopProtection
	}{
		{"absent: on with the defaults", "", LoopProtection{FlapThreshold: 5, FlapWindow: time.Second, HoldTime: 30 * time.Second}},
		{"all set", "    loop-protection: {enabled: true, flap-threshold: 20, flap-window: 2s, hold-time: 5m}\n",
			LoopProtection{FlapThreshold: 20, FlapWindow: 2 * time.Second, HoldTime: 5 * time.Minute}},
		{"off", "    loop-protection:\n      enabled: false\n",
			LoopProtection{Disabled: true, FlapThreshold: 5, FlapWindow: time.Second, HoldTime: 30 * time.Second}},
		{"only the hold time", "    loop-protection: {hold-time: 2s}\n",
			LoopProtection{FlapThreshold: 5, FlapWindow: time.Second, HoldTime: 2 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("x.yaml", []byte("bridges:\n  - name: a\n"+c.block))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Bridges[0].LoopProtection; got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseLoopProtectionErrors(t *testing.T) {
	for _, c := range []struct {
		block, want string
	}{
		{"loop-protection: on", `x.yaml:3: bridge "a": loop-protection: want a mapping`},
		{"loop-protection: {enabled: maybe}", `x.yaml:3: bridge "a": loop-protection: enabled: "maybe" is not true or false`},
		{"loop-protection: {flap-threshold: 1}", `flap-threshold: "1" is not a number of moves between 2 and 100`},
		{"loop-protection: {flap-window: 0s}", `flap-window: "0s" is not a duration`},
		{"loop-protection: {flap-window: 2m}", `flap-window: "2m" is not a duration`},
		{"loop-protection: {hold-time: 10ms}", `hold-time: "10ms" is not a duration such as 30s, between 100ms and 24h0m0s`},
		{"loop-protection: {hold-time: [1s]}", `hold-time: want a single value`},
		{"loop-protection: {colour: red}", `x.yaml:3: bridge "a": loop-protection: unknown key "colour"`},
	} {
		_, err := Parse("x.yaml", []byte("bridges:\n  - name: a\n    "+c.block+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.block, err, c.want)
		}
	}
}

func TestLoopProtectionEffective(t *testing.T) {
	if got := (LoopProtection{}).Effective(); got.Disabled || got.FlapThreshold != DefaultFlapThreshold ||
		got.FlapWindow != DefaultFlapWindow || got.HoldTime != DefaultHoldTime {
		t.Errorf("the zero value is %+v once effective, want on with the defaults", got)
	}
	set := LoopProtection{Disabled: true, FlapThreshold: 3, FlapWindow: time.Minute, HoldTime: time.Hour}
	if got := set.Effective(); got != set {
		t.Errorf("settings made %+v", got)
	}
}

package config

import (
	"fmt"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// LoopProtection is how a bridge guards against loops (docs/loops.md): a
// MAC that moves between ports FlapThreshold times within FlapWindow
// blocks one of the two ports for HoldTime. The zero value is on, with the
// defaults.
type LoopProtection struct {
	// Disabled turns blocking off; moves are still counted.
	Disabled bool
	// FlapThreshold is the moves of one MAC that make a flap; 0: the
	// default.
	FlapThreshold int
	// FlapWindow is the time those moves must fall within; 0: the default.
	FlapWindow time.Duration
	// HoldTime is how long a port stays blocked; 0: the default.
	HoldTime time.Duration
}

// The defaults of loop-protection. A guest that migrates or fails over
// moves its MAC once; a loop moves it thousands of times a second. Five
// moves in a second is far from both. Thirty seconds of hold lets a loop
// that goes on re-block at most twice a minute, for the few milliseconds
// detection takes.
const (
	DefaultFlapThreshold = 5
	DefaultFlapWindow    = time.Second
	DefaultHoldTime      = 30 * time.Second
)

// The bounds of loop-protection's settings. The detector keeps the
// latest flap-threshold moves of each MAC that moves, up to 4096 MACs.
const (
	MaxFlapThreshold = 100
	MaxFlapWindow    = time.Minute
	MinHoldTime      = 100 * time.Millisecond
	MaxHoldTime      = 24 * time.Hour
)

// Effective returns l with its unset settings at the defaults.
func (l LoopProtection) Effective() LoopProtection {
	if l.FlapThreshold == 0 {
		l.FlapThreshold = DefaultFlapThreshold
	}
	if l.FlapWindow == 0 {
		l.FlapWindow = DefaultFlapWindow
	}
	if l.HoldTime == 0 {
		l.HoldTime = DefaultHoldTime
	}
	return l
}

// loopProtection reads a bridge's loop-protection block, whose value node
// is n, over the defaults.
func (p *parser) loopProtection(b *Bridge, n *yaml.Node) error {
	l, line, err := readLoop(n)
	if err != nil {
		return p.errAt(line, "bridge %q: loop-protection: %v", b.Name, err)
	}
	b.LoopProtection = l
	return nil
}

// readLoop reads a loop-protection mapping; an error comes with its line.
func readLoop(n *yaml.Node) (LoopProtection, int, error) {
	l := LoopProtection{}.Effective()
	if n.Kind == 0 {
		return l, 0, nil
	}
	if n.Kind != yaml.MappingNode {
		return l, n.Line, fmt.Errorf("want a mapping such as {enabled: true, flap-threshold: %d, flap-window: %v, hold-time: %v}",
			DefaultFlapThreshold, DefaultFlapWindow, DefaultHoldTime)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return l, v.Line, fmt.Errorf("%s: want a single value", k.Value)
		}
		switch k.Value {
		case "enabled":
			on, err := strconv.ParseBool(v.Value)
			if err != nil {
				return l, v.Line, fmt.Errorf("enabled: %q is not true or false", v.Value)
			}
			l.Disabled = !on
		case "flap-threshold":
			t, err := strconv.Atoi(v.Value)
			if err != nil || t < 2 || t > MaxFlapThreshold {
				return l, v.Line, fmt.Errorf("flap-threshold: %q is not a number of moves between 2 and %d", v.Value, MaxFlapThreshold)
			}
			l.FlapThreshold = t
		case "flap-window":
			d, err := time.ParseDuration(v.Value)
			if err != nil || d <= 0 || d > MaxFlapWindow {
				return l, v.Line, fmt.Errorf("flap-window: %q is not a duration such as 1s, above 0 and at most %v", v.Value, MaxFlapWindow)
			}
			l.FlapWindow = d
		case "hold-time":
			d, err := time.ParseDuration(v.Value)
			if err != nil || d < MinHoldTime || d > MaxHoldTime {
				return l, v.Line, fmt.Errorf("hold-time: %q is not a duration such as 30s, between %v and %v", v.Value, MinHoldTime, MaxHoldTime)
			}
			l.HoldTime = d
		default:
			return l, k.Line, fmt.Errorf("unknown key %q (want enabled, flap-threshold, flap-window and hold-time)", k.Value)
		}
	}
	return l, 0, nil
}

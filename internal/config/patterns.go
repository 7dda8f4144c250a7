package config

import (
	"fmt"
	"path"

	"go.yaml.in/yaml/v3"
)

// PatternOf gives a value to the ports whose names match Pattern (an
// interface name or a path.Match glob).
type PatternOf[T any] struct {
	Pattern string
	Value   T
}

// Patterns is a list of them in file order; the first match wins.
type Patterns[T any] []PatternOf[T]

// Lookup returns the value of the first pattern that matches name.
func (ps Patterns[T]) Lookup(name string) (T, bool) {
	for _, p := range ps {
		if m, _ := path.Match(p.Pattern, name); m {
			return p.Value, true
		}
	}
	var zero T
	return zero, false
}

// parsePatterns reads a mapping of names or globs to values, in file order;
// example shows one entry, for the error when n is no mapping. An error
// comes with its line.
func parsePatterns[T any](n *yaml.Node, what, example string, parse func(string) (T, error)) (Patterns[T], int, error) {
	if n.Kind == 0 {
		return nil, 0, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, n.Line, fmt.Errorf("want a mapping of interface names or globs to %s, such as '%s'", what, example)
	}
	var out Patterns[T]
	for i := 0; i+1 < len(n.Content); i += 2 {
		pat, val, line := n.Content[i].Value, n.Content[i+1].Value, n.Content[i].Line
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			return nil, line, fmt.Errorf("%q is not an interface name or glob", pat)
		}
		v, err := parse(val)
		if err != nil {
			return nil, line, fmt.Errorf("%s: %w", pat, err)
		}
		out = append(out, PatternOf[T]{Pattern: pat, Value: v})
	}
	return out, 0, nil
}

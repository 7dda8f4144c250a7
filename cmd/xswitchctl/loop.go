package main

import (
	"time"

	"github.com/xswitch/xswitch/internal/control"
)

// blocked says whether loop protection blocks the port, and until when
// (local time): "no", or "until 15:04:05".
func blocked(p control.Port) string {
	if !p.Blocked {
		return "no"
	}
	t, err := time.Parse(time.RFC3339Nano, p.BlockedUntil)
	if err != nil {
		return "yes"
	}
	return "until " + t.Local().Format(time.TimeOnly)
}

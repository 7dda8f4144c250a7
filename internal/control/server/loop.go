package server

import (
	"time"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/metrics"
)

// loopJSON fills in what loop protection says of the port, if src has it.
func loopJSON(out *control.Port, src Source, p metrics.Port) {
	ls, ok := src.(metrics.LoopSource)
	if !ok {
		return
	}
	l, ok := ls.PortLoop(p.Bridge, p.Name, p.ID)
	if !ok {
		return
	}
	out.Blocked, out.LoopBlocks = l.Blocked, l.Blocks
	if l.Blocked {
		out.BlockedUntil = l.Until.UTC().Format(time.RFC3339Nano)
	}
}

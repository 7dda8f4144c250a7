package daemon

import (
	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/control/server"
)

// tracer is a fast path that can run a port's TC program on a frame
// without side effects (*bpf.FastPath).
type tracer interface {
	Trace(ifindex int, frame []byte) (bpf.Trace, error)
}

var _ server.FastPathTracer = (*Daemon)(nil)

// TraceFastPath says what the TC program of port in of bridge does with
// frame; nil when the port has no TC program (no fast path, or an AF_XDP
// port, whose XDP program alone decides).
func (d *Daemon) TraceFastPath(bridge, in string, frame []byte) (*control.FastPathTrace, error) {
	tr, ok := d.fp.(tracer)
	if !ok {
		return nil, nil
	}
	d.mu.Lock()
	idx, a := 0, attachment{}
	for i, at := range d.attached {
		if at.name == in && at.bridge == bridge {
			idx, a = i, at
		}
	}
	d.mu.Unlock()
	if idx == 0 || a.fastPath == bpf.ModeOff || a.xsk != nil {
		return nil, nil
	}
	t, err := tr.Trace(idx, frame)
	if err != nil {
		return nil, err
	}
	out := &control.FastPathTrace{Mode: string(bpf.ModeTC), Verdict: t.Verdict, Reason: t.Reason}
	if t.Egress != 0 {
		d.mu.Lock()
		out.Egress = d.attached[t.Egress].name
		d.mu.Unlock()
	}
	return out, nil
}

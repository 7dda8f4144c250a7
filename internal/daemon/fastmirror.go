package daemon

import (
	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
)

// fastMirrorer is a fast path that mirrors ports itself (*bpf.FastPath).
type fastMirrorer interface {
	SetMirror(ifindex int, m bpf.PortMirror) error
}

// syncFastMirrors gives the fast path the port mirrors of the named bridge
// between its attached ports, so that it copies what it forwards from or to
// a mirrored port; under mu. Run when the mirrors change and when a port
// comes or goes.
func (d *Daemon) syncFastMirrors(name string) {
	defer d.syncKernelFlood(name)
	fm, ok := d.fp.(fastMirrorer)
	br := d.bridges[name]
	if !ok || br == nil {
		return
	}
	byName := map[string]int{}
	for idx, a := range d.attached {
		if a.bridge == name {
			byName[a.name] = idx
		}
	}
	want := map[int]*bpf.PortMirror{}
	of := func(idx int) *bpf.PortMirror {
		if want[idx] == nil {
			want[idx] = &bpf.PortMirror{}
		}
		return want[idx]
	}
	for _, m := range br.Mirrors() {
		from, ok1 := byName[m.From]
		to, ok2 := byName[m.To]
		if !ok1 || !ok2 {
			continue
		}
		if m.Dir&dataplane.MirrorIngress != 0 {
			of(from).In = append(of(from).In, to)
		}
		if m.Dir&dataplane.MirrorEgress != 0 {
			of(from).Out = append(of(from).Out, to)
		}
		of(to).Dest = true
	}
	for _, idx := range byName {
		a := d.attached[idx]
		if a.fastPath == bpf.ModeOff && a.xsk == nil {
			continue // no program on it
		}
		m := bpf.PortMirror{}
		if w := want[idx]; w != nil {
			m = *w
		}
		if err := fm.SetMirror(idx, m); err != nil {
			d.log.Warn("the fast path does not mirror the port: its frames may be mirrored twice or not at all", "port", a.name, "err", err)
		}
	}
}

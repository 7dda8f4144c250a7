package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// PortMirror is what the programs do for the port mirrors a port is in.
type PortMirror struct {
	// In and Out are the ifindexes of the ports that get copies of what
	// the port receives and sends: none if empty. With more than one, the
	// programs punt the port's frames and userspace copies them.
	In, Out []int
	// Dest says the port is a mirror's destination: the programs drop
	// what it sends and learn none of its MACs.
	Dest bool
}

// SetMirror sets the mirrors of an attached port. It holds while the port
// stays attached, like SetCapture.
func (fp *FastPath) SetMirror(ifindex int, m PortMirror) error {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	pl, ok := fp.ports[ifindex]
	if !ok {
		return nil
	}
	pl.mirror = m
	var v xswitchPort
	if err := fp.objs.XsPorts.Lookup(uint32(ifindex), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		return fmt.Errorf("%s: fast path: port entry: %w", pl.name, err)
	}
	setMirror(&v, m)
	if err := fp.writePort(uint32(ifindex), v, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("%s: fast path: mirror: %w", pl.name, err)
	}
	return nil
}

// setMirror writes m into a port's entry.
func setMirror(v *xswitchPort, m PortMirror) {
	v.Flags &^= portMirrorIn | portMirrorOut | portMirrorDest
	v.MirrorIn, v.MirrorOut = 0, 0
	if len(m.In) > 0 {
		v.Flags |= portMirrorIn
		if len(m.In) == 1 {
			v.MirrorIn = uint32(m.In[0])
		}
	}
	if len(m.Out) > 0 {
		v.Flags |= portMirrorOut
		if len(m.Out) == 1 {
			v.MirrorOut = uint32(m.Out[0])
		}
	}
	if m.Dest {
		v.Flags |= portMirrorDest
	}
}

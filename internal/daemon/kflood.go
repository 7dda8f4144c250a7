package daemon

import "github.com/xswitch/xswitch/bpf"

// kernelFlooder is a fast path that can flood a bridge's broadcast and
// multicast in the kernel (*bpf.FastPath).
type kernelFlooder interface {
	SetFloodPorts(bridge uint32, ifindexes []int)
}

// syncKernelFlood gives the fast path every port of the named bridge,
// whatever its path: it floods the bridge's frames in the kernel only while
// all of them are its own and none needs userspace to see a flood. Under
// mu; run when a port comes or goes.
func (d *Daemon) syncKernelFlood(name string) {
	kf, ok := d.fp.(kernelFlooder)
	if !ok {
		return
	}
	var ports []int
	for idx, a := range d.attached {
		if a.bridge == name {
			ports = append(ports, idx)
		}
	}
	kf.SetFloodPorts(bpf.BridgeID(name), ports)
}

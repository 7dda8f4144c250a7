package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ReserveXSK reserves n consecutive keys of the AF_XDP socket map for a
// port with n receive queues and returns the first. Give the port's sockets
// to RegisterXSK, then the base to AttachPort in Port.XSKBase.
func (fp *FastPath) ReserveXSK(n int) (uint32, error) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.xskUsed == nil {
		fp.xskUsed = make([]bool, fp.objs.XsXsks.MaxEntries())
	}
	run := 0
	for i := range fp.xskUsed {
		if fp.xskUsed[i] {
			run = 0
			continue
		}
		run++
		if run == n {
			base := i - n + 1
			for j := base; j <= i; j++ {
				fp.xskUsed[j] = true
			}
			return uint32(base), nil
		}
	}
	return 0, fmt.Errorf("fast path: no room for %d AF_XDP sockets: the socket map holds %d", n, len(fp.xskUsed))
}

// ReleaseXSK frees keys ReserveXSK returned; the sockets' entries go with
// their sockets.
func (fp *FastPath) ReleaseXSK(base uint32, n int) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for i := int(base); i < int(base)+n && i < len(fp.xskUsed); i++ {
		fp.xskUsed[i] = false
		fp.objs.XsXsks.Delete(uint32(i))
	}
}

// RegisterXSK puts an AF_XDP socket in the map, at key.
func (fp *FastPath) RegisterXSK(key uint32, fd int) error {
	if err := fp.objs.XsXsks.Update(key, uint32(fd), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("fast path: AF_XDP socket map: %w", err)
	}
	return nil
}

// attachXSKPort attaches an AF_XDP port: the XDP program alone, which
// redirects or hands frames to the port's sockets. Its mode is xdp, or off
// (every frame to the sockets).
func (fp *FastPath) attachXSKPort(p Port, feats uint64, pl *portLinks) (Mode, error) {
	mode, err := xskMode(p.Mode)
	if err != nil {
		return "", err
	}
	pl.off = mode == ModeOff
	if err := fp.putPort(p, feats, pl); err != nil {
		return "", err
	}
	fp.unpinLink(p.Name, "tc")
	detachClsact(fp.linkPin(p.Name, "clsact"), p.Index)
	x, err := fp.attachXDP(p)
	if err != nil && feats&xdpActBasic == 0 {
		// No native XDP: the generic hook, where AF_XDP copies.
		fp.log.Warn("no native XDP: the AF_XDP port uses generic XDP, which is slow", "port", p.Name, "err", err)
		x, err = fp.attachXDPMode(p, link.XDPGenericMode)
	}
	if err != nil {
		fp.deletePort(p.Index)
		return "", fmt.Errorf("%s: fast path: attach XDP for AF_XDP: %w", p.Name, err)
	}
	pl.xdp = x
	fp.ports[p.Index] = pl
	return mode, nil
}

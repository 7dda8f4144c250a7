package daemon

import (
	"fmt"
	"math/bits"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afxdp"
)

// attachXSK attaches an AF_XDP port: its sockets on the bridge's UMEM, then
// the XDP program that feeds them (and is its fast path, unless that is
// off); under mu.
func (d *Daemon) attachXSK(br *dataplane.Bridge, bridge string, fpp bpf.Port, uplink bool) (attachment, error) {
	name, idx := fpp.Name, fpp.Index
	if d.fp == nil {
		return attachment{}, fmt.Errorf("%s: an afxdp port needs the eBPF programs, which did not load: %w", name, d.fpErr)
	}
	n := d.sys.sockets.QueueCount(name)
	base, err := d.fp.ReserveXSK(n)
	if err != nil {
		return attachment{}, fmt.Errorf("%s: %w", name, err)
	}
	cfg := afxdpConfig(d.cfg.AFXDP)
	cfg.Queues = n
	if !uplink {
		vifRings(&cfg)
	}
	d.jumboRings(&cfg, fpp.MTU)
	cfg.Register = func(q, fd int) error { return d.fp.RegisterXSK(base+uint32(q), fd) }
	// Frames from a local stack (a guest's vif or veth) may carry checksums
	// left to offload; a physical NIC's never do.
	cfg.CompleteChecksums = !(uplink && fpp.Kind == "device")
	p, err := d.sys.sockets.AFXDP(bridge, name, cfg)
	if err != nil {
		d.fp.ReleaseXSK(base, n)
		return attachment{}, err
	}
	fpp.XSK, fpp.XSKBase, fpp.XSKQueues = true, base, n
	mode, err := d.fp.AttachPort(fpp)
	if err != nil {
		p.Close()
		d.fp.ReleaseXSK(base, n)
		return attachment{}, err
	}
	info := dataplane.PortInfo{Name: name, Uplink: uplink, Kind: "afxdp", FastPath: string(mode), Ifindex: idx, Policy: fpp.Policy}
	id, err := br.AddPort(p, info)
	if err != nil {
		d.fp.DetachPort(idx, name)
		d.fp.ReleaseXSK(base, n)
		return attachment{}, err
	}
	d.log.Info("AF_XDP sockets bound", "port", name, "queues", p.Queues(), "zerocopy", p.ZeroCopy(), "shares_umem", p.SharesUMEM())
	if !p.SharesUMEM() {
		d.log.Warn("the kernel refused to share the bridge's UMEM with this port: its frames are copied", "port", name)
	}
	return attachment{name: name, bridge: bridge, fastPath: mode, id: id, mtu: fpp.MTU, xsk: p, xskBase: base, xskN: n}, nil
}

// vifRingSize caps the rings of a guest's port. A fill ring holds what its
// port's traffic needs (see afxdp), and a guest's port needs less than an
// uplink: its rings, mapped and locked per socket, are most of what a port
// costs in memory, and a dom0 has hundreds of guest ports.
const vifRingSize = 512

// vifRings caps cfg's rings, and its batches with them, at vifRingSize.
func vifRings(cfg *afxdp.Config) {
	def := afxdp.DefaultConfig()
	for _, r := range []*int{&cfg.RxRingSize, &cfg.TxRingSize} {
		if *r == 0 {
			*r = def.RxRingSize
		}
		*r = min(*r, vifRingSize)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = def.BatchSize
	}
	cfg.BatchSize = min(cfg.BatchSize, vifRingSize)
}

// xskCarries reports whether an AF_XDP port would carry a link of the given
// MTU, on the UMEMs this daemon makes and this kernel (see afxdp.MaxMTU):
// auto mode gives a link that it would not another port type.
func (d *Daemon) xskCarries(mtu int) bool {
	return mtu <= afxdp.MaxMTU(d.umemFrameSize(), afxdp.MultiBufferKernel())
}

// xskOutgrown attaches an AF_XDP port again when its link's MTU grew beyond
// what its sockets carry (sockets without multi-buffer, as zero-copy ones
// may be), so that it gets sockets that do, or another port type in auto
// mode, or a clear error; until then the kernel would drop its long frames.
// It reports whether it did. Call it without holding d.mu.
func (d *Daemon) xskOutgrown(idx int, a attachment, mtu int) bool {
	limit := a.xsk.MaxMTU()
	if mtu <= limit {
		return false
	}
	d.log.Warn("the link's MTU grew beyond what the port's AF_XDP sockets carry: attaching it again", "port", a.name, "mtu", mtu, "max_mtu", limit)
	d.detach(idx, fmt.Sprintf("MTU %d beyond its AF_XDP sockets' %d", mtu, limit))
	d.attach(idx, a.name)
	return true
}

// jumboRings widens cfg's receive rings for a link whose frames span
// several UMEM frames, by as many as they span: a ring then holds as many
// frames as on a link of standard MTU, and a burst of long frames does not
// find the fill ring short.
func (d *Daemon) jumboRings(cfg *afxdp.Config, mtu int) {
	n := afxdp.Segments(d.umemFrameSize(), mtu)
	if n <= 1 {
		return
	}
	if cfg.RxRingSize == 0 {
		cfg.RxRingSize = afxdp.DefaultConfig().RxRingSize
	}
	cfg.RxRingSize = min(cfg.RxRingSize<<bits.Len(uint(n-1)), maxJumboRing)
}

// maxJumboRing caps what jumboRings makes of a receive ring: more than a
// UMEM's default frames would not be filled anyway.
const maxJumboRing = 8192

// umemFrameSize is the size of the frames of the UMEMs this daemon makes.
func (d *Daemon) umemFrameSize() int {
	if fs := d.cfg.UMEM.FrameSize; fs != 0 {
		return fs
	}
	return afxdp.DefaultUMEMConfig().FrameSize
}

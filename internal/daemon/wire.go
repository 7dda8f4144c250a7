package daemon

import (
	"fmt"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/dataplane/afxdp"
	"github.com/xswitch/xswitch/internal/config"
)

// The configuration describes; these turn its plain settings into those of
// the fast path and of the port packages.

func fastPathMode(m config.Mode) bpf.Mode { return bpf.Mode(m) }

func tcHook(h config.TCHook) bpf.TCHook { return bpf.TCHook(h) }

func ringConfig(r config.Ring) afpacket.Config {
	return afpacket.Config{BlockSize: r.BlockSize, BlockCount: r.BlockCount, BlockTimeout: r.BlockTimeout, BatchSize: r.BatchSize, SndBuf: r.SndBuf}
}

func afxdpConfig(c config.AFXDP) afxdp.Config {
	return afxdp.Config{RxRingSize: c.RxRingSize, TxRingSize: c.TxRingSize, BatchSize: c.BatchSize, Mode: afxdp.BindMode(c.Bind), SpinTime: c.SpinTime}
}

func sharedConfig(r config.PuntRing) afpacket.SharedConfig {
	return afpacket.SharedConfig{Frames: r.Frames, FrameSize: r.FrameSize, BatchSize: r.BatchSize, PuntEtherType: bpf.PuntEtherType}
}

func umemConfig(u config.UMEM) afxdp.UMEMConfig {
	return afxdp.UMEMConfig{FrameSize: u.FrameSize, Frames: u.Frames}
}

// Check reports what in cfg the fast path or the port packages would
// refuse, with the file and line as config.Parse reports errors.
func Check(cfg *config.Config) error {
	at := func(line int, format string, args ...any) error {
		return &config.LineError{File: cfg.Source, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if err := afxdpConfig(cfg.AFXDP).Validate(); err != nil {
		return at(cfg.AFXDPLine, "afxdp: %v", err)
	}
	if err := umemConfig(cfg.UMEM).Validate(); err != nil {
		return at(cfg.AFXDPLine, "afxdp: %v", err)
	}
	if err := sharedConfig(cfg.PuntRing).Validate(); err != nil {
		return at(cfg.PuntRingLine, "punt-ring: %v", err)
	}
	ids := map[uint32]string{}
	for _, b := range cfg.Bridges {
		if other, dup := ids[bpf.BridgeID(b.Name)]; dup {
			return at(b.Line, "bridges %q and %q have the same fast-path id (a hash of the name): rename one", other, b.Name)
		}
		ids[bpf.BridgeID(b.Name)] = b.Name
		if err := ringConfig(b.Rings.Vif).Validate(); err != nil {
			return at(b.RingsLine, "bridge %q: rings.vif: %v", b.Name, err)
		}
		if err := ringConfig(b.Rings.Uplink).Validate(); err != nil {
			return at(b.RingsLine, "bridge %q: rings.uplink: %v", b.Name, err)
		}
	}
	return nil
}

package server

import (
	"syscall"
	"testing"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/metrics"
)

func TestPortJSONSections(t *testing.T) {
	p := metrics.Port{Bridge: "xenbr0", PortStatus: dataplane.PortStatus{
		PortInfo:    dataplane.PortInfo{Name: "vif3.1", Kind: "afpacket", FastPath: "tc"},
		KernelDrops: &dataplane.KernelDrops{RingFull: 5, Truncated: 6},
		TxErrors:    []dataplane.ReasonCount{{Reason: "busy", Count: 3}},
		AFPacket:    &dataplane.AFPacketStatus{RingFreezes: 2, SocketErrors: 1, LastSocketError: syscall.ENETDOWN},
	}, FastPathStats: &bpf.PortStats{Packets: 9, Drops: map[string]uint64{"spoofed": 2}}}
	p.Counters.Drops[dataplane.DropSpoofed] = 1
	got := portJSON(p)
	if got.Drops["spoofed"] != 3 {
		t.Errorf("spoofed drops %d, want 1 in userspace + 2 in the fast path", got.Drops["spoofed"])
	}
	if got.Drops["ring_full"] != 5 || got.Drops["truncated"] != 6 || got.TxErrors["busy"] != 3 || got.FastPathPackets != 9 || got.AFXDP != nil {
		t.Errorf("port: %+v", got)
	}
	if a := got.AFPacket; a == nil || a.RingFreezes != 2 || a.SocketErrors != 1 || a.LastSocketError != syscall.ENETDOWN.Error() {
		t.Errorf("afpacket: %+v", a)
	}
	x := portJSON(metrics.Port{PortStatus: dataplane.PortStatus{
		PortInfo: dataplane.PortInfo{Name: "peth0", Kind: "afxdp", FastPath: "off"},
		AFXDP:    &dataplane.AFXDPStatus{ZeroCopy: true, Queues: 4, TxUncopied: 7},
	}})
	if x.AFXDP == nil || x.AFXDP.Socket != "zerocopy" || x.AFXDP.Queues != 4 || x.AFXDP.TxUncopied != 7 || x.AFPacket != nil || x.TxErrors != nil || x.Punts != nil {
		t.Errorf("afxdp port: %+v %+v", x, x.AFXDP)
	}
}

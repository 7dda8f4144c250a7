package bpf

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
)

// Trace is what the TC program of a port decides for a frame.
type Trace struct {
	// Verdict is "redirect" (forwarded in the kernel to Egress), "flood"
	// (flooded in the kernel to the other ports of the bridge), "punt" (to
	// userspace), "drop" or "pass" (the port is not in the fast path).
	Verdict string
	// Reason is a punt reason (PuntReasons) or a drop reason
	// (DropReasons); "" for a redirect or a flood.
	Reason string
	Egress int // the egress port's ifindex, for a redirect
}

// traceCtx is struct __sk_buff up to its cb, as BPF_PROG_TEST_RUN takes it.
type traceCtx struct {
	Len, PktType, Mark, QueueMapping, Protocol uint32
	VlanPresent, VlanTCI, VlanProto, Priority  uint32
	IngressIfindex, Ifindex, TCIndex           uint32
	CB                                         [5]uint32
}

// Where the cb is in struct __sk_buff, and the size of all of it, which
// BPF_PROG_TEST_RUN returns.
const (
	skbCBOffset = 48
	skbCtxSize  = 192
)

// Trace runs the TC program of the port ifindex on frame (from its
// Ethernet header, a tag in band) in its tracing mode, which changes
// nothing: it learns nothing, counts nothing, copies nothing.
func (fp *FastPath) Trace(ifindex int, frame []byte) (Trace, error) {
	var out [skbCtxSize]byte
	opts := &ebpf.RunOptions{
		Data:       frame,
		DataOut:    make([]byte, len(frame)+64),
		Context:    traceCtx{Mark: uint32(xswitchTraceTRACE_MARK), Ifindex: uint32(ifindex)},
		ContextOut: &out,
	}
	if _, err := fp.objs.XswitchTc.Run(opts); err != nil {
		return Trace{}, fmt.Errorf("fast path: trace: %w", err)
	}
	var cb [5]uint32
	for i := range cb {
		cb[i] = binary.NativeEndian.Uint32(out[skbCBOffset+4*i:])
	}
	t := Trace{}
	reason := cb[xswitchTraceTRACE_CB_REASON]
	switch xswitchTraceVerdict(cb[xswitchTraceTRACE_CB_VERDICT]) {
	case xswitchTraceVerdictTRACE_PASS:
		t.Verdict = "pass"
	case xswitchTraceVerdictTRACE_REDIRECT:
		t.Verdict, t.Egress = "redirect", int(cb[xswitchTraceTRACE_CB_EGRESS])
	case xswitchTraceVerdictTRACE_DROP:
		t.Verdict = "drop"
		if int(reason) < len(DropReasons) {
			t.Reason = DropReasons[reason]
		}
	case xswitchTraceVerdictTRACE_FLOOD:
		t.Verdict = "flood"
	case xswitchTraceVerdictTRACE_PUNT:
		t.Verdict = "punt"
		if int(reason) < len(PuntReasons) {
			t.Reason = PuntReasons[reason]
		}
	default:
		return Trace{}, fmt.Errorf("fast path: trace: the program left no verdict")
	}
	return t, nil
}

package bpf

import (
	"bytes"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xswitch/xswitch/policy"
)

// setCaptureFlag sets PORT_CAPTURE on a port of the env, as SetCapture does
// on an attached port.
func (e *env) setCaptureFlag(ifindex int) {
	e.t.Helper()
	var v xswitchPort
	if err := e.fp.objs.XsPorts.Lookup(uint32(ifindex), &v); err != nil {
		e.t.Fatal(err)
	}
	v.Flags |= portCapture
	if err := e.fp.objs.XsPorts.Update(uint32(ifindex), v, ebpf.UpdateExist); err != nil {
		e.t.Fatal(err)
	}
}

// TestCaptureCopiesForwardedAndDroppedFrames checks that the programs copy
// what they forward from and to a captured port, and what they drop, as on
// the wire, and nothing of the ports without a capture nor what they punt.
func TestCaptureCopiesForwardedAndDroppedFrames(t *testing.T) {
	e := newEnv(t)
	e.port(e.a, bridge1, true)
	e.port(e.b, bridge1, true)
	e.port(e.c, bridge1, false)
	e.setPolicy(e.a, policy.Policy{VLAN: policy.AccessVLAN(10)})
	e.setPolicy(e.b, policy.Policy{VLAN: policy.TrunkVLANs(0, 10)})
	e.learn(bridge1, 10, macA, e.a, false)
	e.learn(bridge1, 10, macB, e.b, false)
	e.learn(bridge1, 0, macC, e.c, false)
	r, err := e.fp.CaptureReader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	next := func() (CapturedFrame, bool) {
		r.rd.SetDeadline(time.Now().Add(100 * time.Millisecond))
		f, err := r.Read()
		if err != nil {
			return CapturedFrame{}, false
		}
		f.Data = bytes.Clone(f.Data)
		return f, true
	}

	// No capture: nothing copied.
	e.runTC(e.a, frame(macB, macA, 0, 0, 60))
	if f, ok := next(); ok {
		t.Fatalf("copied %+v without a capture", f)
	}
	e.setCaptureFlag(e.a)
	e.setCaptureFlag(e.b)
	untagged, tagged := frame(macB, macA, 0, 0, 60), frame(macB, macA, 0x8100, 10, 64) // the same frame with its tag
	for _, c := range []struct {
		name string
		run  func()
		want []CapturedFrame
	}{
		{"tc", func() { e.runTC(e.a, untagged) }, []CapturedFrame{
			{Ifindex: e.a, Path: "tc", Data: untagged},
			{Ifindex: e.b, Out: true, Path: "tc", Data: tagged}, // pushed out of band, put back
		}},
		{"xdp", func() { e.runXDP(e.a, untagged) }, []CapturedFrame{
			{Ifindex: e.a, Path: "xdp", Data: untagged},
			{Ifindex: e.b, Out: true, Path: "xdp", Data: tagged},
		}},
		{"tc drop", func() { e.runTC(e.a, frame(macB, macA, 0x8100, 10, 60)) }, []CapturedFrame{
			{Ifindex: e.a, Path: "tc", Data: frame(macB, macA, 0x8100, 10, 60)},
		}},
		{"xdp drop", func() { e.runXDP(e.a, frame(macB, macA, 0x8100, 10, 60)) }, []CapturedFrame{
			{Ifindex: e.a, Path: "xdp", Data: frame(macB, macA, 0x8100, 10, 60)},
		}},
		{"punted", func() { e.runTC(e.a, frame(macC, macA, 0, 0, 60)) }, nil},
	} {
		c.run()
		for _, w := range c.want {
			got, ok := next()
			if !ok {
				t.Errorf("%s: no copy, want %+v", c.name, w)
				continue
			}
			if got.Ifindex != w.Ifindex || got.Out != w.Out || got.Path != w.Path || !bytes.Equal(got.Data, w.Data) {
				t.Errorf("%s: copied\n%+v\nwant\n%+v", c.name, got, w)
			}
		}
		if f, ok := next(); ok {
			t.Errorf("%s: copied %+v too", c.name, f)
		}
	}
}

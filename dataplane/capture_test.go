package dataplane_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
)

// next returns the next captured frame, or fails.
func next(t *testing.T, c *dataplane.Capture) dataplane.CapturedFrame {
	t.Helper()
	select {
	case f := <-c.Frames():
		return f
	case <-time.After(wait):
		t.Fatal("no frame captured")
	}
	return dataplane.CapturedFrame{}
}

func TestCaptureFastPathFrames(t *testing.T) {
	var events []string
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "br-cap", FDB: fdb.DefaultConfig(), OnCapture: func(p dataplane.PortInfo, on bool) {
		events = append(events, p.Name+map[bool]string{true: " on", false: " off"}[on])
	}}, nil)
	defer br.Close()
	if _, err := br.AddPort(porttest.New("a", 8), dataplane.PortInfo{Name: "a", Kind: "porttest", Ifindex: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := br.AddPort(porttest.New("b", 8), dataplane.PortInfo{Name: "b", Kind: "porttest", Ifindex: 8}); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Capture("nosuch", dataplane.CaptureFilter{}, 4); !errors.Is(err, dataplane.ErrNoPort) {
		t.Errorf("capture of an unknown port: %v", err)
	}
	if br.CaptureFrame(7, dataplane.In, "tc", frame(host(2), host(1), "x"), time.Now()) {
		t.Error("a port without capture took a frame")
	}
	vid := uint16(10)
	all, _ := br.Capture("a", dataplane.CaptureFilter{}, 2)
	tagged10, _ := br.Capture("a", dataplane.CaptureFilter{VLAN: &vid, MAC: host(1)}, 4)
	f1, f2 := frame(host(2), host(1), "one"), tagged(host(2), host(1), 10, "two")
	for _, f := range [][]byte{f1, f2, f1} {
		if !br.CaptureFrame(7, dataplane.Out, "tc", f, time.Now()) {
			t.Fatal("the captured port refused a frame")
		}
	}
	if g := next(t, all); !bytes.Equal(g.Data, f1) || g.Dir != dataplane.Out || g.Path != "tc" || g.Port != "a" {
		t.Errorf("first frame: %+v", g)
	}
	if g := next(t, all); !bytes.Equal(g.Data, f2) {
		t.Errorf("second frame: %x", g.Data)
	}
	if all.Lost() != 1 {
		t.Errorf("lost %d frames of a 2-frame queue after 3, want 1", all.Lost())
	}
	if g := next(t, tagged10); !bytes.Equal(g.Data, f2) {
		t.Errorf("the VLAN 10 capture got %x", g.Data)
	}
	select {
	case g := <-tagged10.Frames():
		t.Errorf("the VLAN 10 capture got an untagged frame %x", g.Data)
	default:
	}
	all.Close()
	all.Close()
	if err := br.RemovePort("a"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tagged10.Done():
	case <-time.After(wait):
		t.Error("a capture outlived its port")
	}
	tagged10.Close()
	if want := []string{"a on", "a off"}; len(events) != 2 || events[0] != want[0] || events[1] != want[1] {
		t.Errorf("OnCapture saw %v, want %v", events, want)
	}
}

func TestCaptureUserspaceFrames(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b", "c")
	ca, err := r.br.Capture("a", dataplane.CaptureFilter{}, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, _ := r.br.Capture("b", dataplane.CaptureFilter{}, 16)
	defer cb.Close()
	bc := frame(bcast, host(1), "hello")
	r.inject("a", bc)
	r.expect(map[string][][]byte{"b": {bc}, "c": {bc}})
	reply := frame(host(1), host(2), "reply")
	r.inject("b", reply)
	r.expect(map[string][][]byte{"a": {reply}})

	// a: the broadcast in, the reply out; b: the broadcast out, the reply in.
	for _, tt := range []struct {
		c    *dataplane.Capture
		want []dataplane.CapturedFrame
	}{
		{ca, []dataplane.CapturedFrame{{Port: "a", Dir: dataplane.In, Data: bc}, {Port: "a", Dir: dataplane.Out, Data: reply}}},
		{cb, []dataplane.CapturedFrame{{Port: "b", Dir: dataplane.Out, Data: bc}, {Port: "b", Dir: dataplane.In, Data: reply}}},
	} {
		for _, w := range tt.want {
			g := next(t, tt.c)
			if g.Port != w.Port || g.Dir != w.Dir || g.Path != "userspace" || !bytes.Equal(g.Data, w.Data) {
				t.Errorf("captured %s %s %s %x, want %s %s userspace %x", g.Port, g.Dir, g.Path, g.Data, w.Port, w.Dir, w.Data)
			}
		}
		select {
		case g := <-tt.c.Frames():
			t.Errorf("port %s: one frame too many: %s %x", g.Port, g.Dir, g.Data)
		case <-time.After(quiet):
		}
	}
}

package daemon

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
)

// fakeFilter is a tap filter in memory.
type fakeFilter struct {
	ports  map[int]bool
	closed bool
}

func (f *fakeFilter) Add(idx int) error    { f.ports[idx] = true; return nil }
func (f *fakeFilter) Delete(idx int) error { delete(f.ports, idx); return nil }
func (f *fakeFilter) Close() error         { f.closed = true; return nil }

// fakeTap opens in-memory taps and records them; err makes opening fail.
type fakeTap struct {
	opened int
	rx     *porttest.Receiver
	filter *fakeFilter
	err    error
}

func (ft *fakeTap) open(afpacket.SharedConfig) (dataplane.Receiver, portFilter, error) {
	if ft.err != nil {
		return nil, nil, ft.err
	}
	ft.opened++
	ft.rx, ft.filter = porttest.NewReceiver(8), &fakeFilter{ports: map[int]bool{}}
	return ft.rx, ft.filter, nil
}

// newTapRig is a rig whose daemon may open the tap, with ports vif1.0 to
// vif3.0 at ifindexes 7 to 9, vif3.0 in the fast path, the others not.
func newTapRig(t *testing.T, ft *fakeTap) *rig {
	r := newRig(t, testBridge+"    port-fastpath:\n      vif1.0: \"off\"\n      vif2.0: \"off\"\n", fastpathtest.New(), "")
	r.d.sys.openTap = ft.open
	for i, name := range []string{"vif1.0", "vif2.0", "vif3.0"} {
		r.links.add(7+i, name, "veth", 1500)
	}
	return r
}

func TestUserspacePortsReceiveOnTheTap(t *testing.T) {
	ft := &fakeTap{}
	r := newTapRig(t, ft)
	if ft.opened != 0 {
		t.Fatal("tap opened before any userspace port")
	}
	for i, name := range []string{"vif1.0", "vif2.0", "vif3.0"} {
		r.d.attach(7+i, name)
	}
	want := []string{"afpacket vif1.0 send-only", "afpacket vif2.0 send-only", "afpacket vif3.0 send-only"}
	if !slices.Equal(r.socks.opened, want) {
		t.Fatalf("opened %q, want %q", r.socks.opened, want)
	}
	if ft.opened != 1 || !hasExactly(ft.filter.ports, 7, 8) {
		t.Fatalf("taps opened %d, filter %v; want one, with ifindexes 7 and 8 (not the fast-path port)", ft.opened, ft.filter.ports)
	}
	// A broadcast from vif1.0 goes to the others, once each, and counts on vif1.0.
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, 1, 2, 3, 4}
	ft.rx.Inject(7, bcast)
	for _, name := range []string{"vif2.0", "vif3.0"} {
		if got := r.socks.sendOnly[name].WaitSent(1, 5*time.Second); len(got) != 1 {
			t.Fatalf("%s sent %d frames, want the broadcast once", name, len(got))
		}
	}
	if st, _ := r.port("vif1.0"); st.Counters.RxPackets != 1 {
		t.Errorf("vif1.0 counted %d received frames, want 1", st.Counters.RxPackets)
	}
	if st, _, ok := r.d.TapStats(); !ok || st.Ports != 2 {
		t.Errorf("tap stats %+v (open %v), want 2 ports", st, ok)
	}

	r.d.detach(7, "test")
	if !hasExactly(ft.filter.ports, 8) || ft.filter.closed {
		t.Errorf("filter %v (closed %v) after vif1.0 left, want only 8, open", ft.filter.ports, ft.filter.closed)
	}
	r.d.detach(8, "test")
	if !ft.filter.closed {
		t.Error("filter not closed with the last userspace port")
	}
	if _, err := ft.rx.Receive(make([]dataplane.Frame, 1), make([]int32, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("tap not closed with the last userspace port: %v", err)
	}
	if _, _, ok := r.d.TapStats(); ok {
		t.Error("tap stats while closed")
	}
	// A new userspace port opens it again.
	r.d.attach(7, "vif1.0")
	if ft.opened != 2 || !hasExactly(ft.filter.ports, 7) {
		t.Errorf("taps opened %d, filter %v; want a second one with 7", ft.opened, ft.filter.ports)
	}
}

func TestWithoutTapUserspacePortsHaveTheirOwnRing(t *testing.T) {
	ft := &fakeTap{err: errors.New("no socket filters here")}
	r := newTapRig(t, ft)
	r.d.attach(7, "vif1.0")
	r.d.attach(8, "vif2.0")
	if want := []string{"afpacket vif1.0", "afpacket vif2.0"}; !slices.Equal(r.socks.opened, want) {
		t.Errorf("opened %q, want %q", r.socks.opened, want)
	}
	if _, ok := r.port("vif2.0"); !ok {
		t.Error("vif2.0 not attached")
	}
}

func TestTapClosedWithTheDaemon(t *testing.T) {
	ft := &fakeTap{}
	r := newTapRig(t, ft)
	r.d.attach(7, "vif1.0")
	r.d.Close()
	if !ft.filter.closed {
		t.Error("filter not closed with the daemon")
	}
}

// hasExactly reports whether m holds exactly the keys want.
func hasExactly(m map[int]bool, want ...int) bool {
	if len(m) != len(want) {
		return false
	}
	for _, k := range want {
		if !m[k] {
			return false
		}
	}
	return true
}

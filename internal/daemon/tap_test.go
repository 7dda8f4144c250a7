package daemon

import (
	"errors"
	"fmt"
	"net"
	"slices"

	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
)

// fakeFilter is the taps' filter in memory: the tap of each ifindex.
type fakeFilter struct {
	ports  map[int]int
	closed bool
}

func (f *fakeFilter) Add(idx, tap int) error { f.ports[idx] = tap; return nil }
func (f *fakeFilter) Delete(idx int) error   { delete(f.ports, idx); return nil }
func (f *fakeFilter) Close() error           { f.closed = true; return nil }

// fakeTap opens in-memory taps and records the last; err makes opening fail.
type fakeTap struct {
	opened int                  // times the taps were opened
	rxs    []*porttest.Receiver // the last opened
	rx     *porttest.Receiver   // rxs[0]
	filter *fakeFilter          // the last opened
	err    error
}

func (ft *fakeTap) open(_ afpacket.SharedConfig, n int) ([]dataplane.Receiver, portFilter, error) {
	if ft.err != nil {
		return nil, nil, ft.err
	}
	ft.opened++
	ft.rxs = make([]*porttest.Receiver, n)
	rs := make([]dataplane.Receiver, n)
	for i := range n {
		ft.rxs[i] = porttest.NewReceiver(8)
		rs[i] = ft.rxs[i]
	}
	ft.rx, ft.filter = ft.rxs[0], &fakeFilter{ports: map[int]int{}}
	return rs, ft.filter, nil
}

// newTapRig is a rig whose daemon may open one tap, with ports vif1.0 to
// vif3.0 at ifindexes 7 to 9, vif3.0 in the fast path, the others not.
func newTapRig(t *testing.T, ft *fakeTap) *rig {
	r := newRig(t, testBridge+"    port-fastpath:\n      vif1.0: \"off\"\n      vif2.0: \"off\"\n", fastpathtest.New(), "")
	r.d.sys.openTaps = ft.open
	r.d.cfg.PuntRing.Taps = 1
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
func hasExactly(m map[int]int, want ...int) bool {
	if len(m) != len(want) {
		return false
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

func TestPickTapTakesTheLeastLoaded(t *testing.T) {
	for _, tc := range []struct {
		name string
		taps []tap
		want int
	}{
		{"none", nil, -1},
		{"first of equals", []tap{{}, {}, {}}, 0},
		{"fewest ports", []tap{{ports: 2}, {ports: 1}, {ports: 1}}, 1},
		{"an uplink outweighs guests", []tap{{ports: 1, uplinks: 1}, {ports: 9}}, 1},
		{"uplinks spread too", []tap{{ports: 3, uplinks: 2}, {ports: 5, uplinks: 1}}, 1},
	} {
		if got := pickTap(tc.taps); got != tc.want {
			t.Errorf("%s: pickTap = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// newTapsRig is a rig with taps taps, every port out of the fast path:
// guests vif1.0 to vif6.0 at ifindexes 7 to 12 and the uplink peth0 at 20.
func newTapsRig(t *testing.T, ft *fakeTap, taps int) *rig {
	r := newRig(t, testBridge+"    fastpath: \"off\"\n", fastpathtest.New(), "")
	r.d.sys.openTaps = ft.open
	r.d.cfg.PuntRing.Taps = taps
	for i := range 6 {
		r.links.add(7+i, fmt.Sprintf("vif%d.0", i+1), "veth", 1500)
	}
	r.links.add(20, "peth0", "veth", 1500)
	return r
}

func TestPortsSpreadOverTheTapsEachInOne(t *testing.T) {
	ft := &fakeTap{}
	r := newTapsRig(t, ft, 4)
	order := []struct {
		name string
		idx  int
		tap  int
	}{
		{"vif1.0", 7, 0}, {"peth0", 20, 1}, {"vif2.0", 8, 2}, {"vif3.0", 9, 3},
		{"vif4.0", 10, 0}, {"vif5.0", 11, 2}, {"vif6.0", 12, 3},
	}
	for _, p := range order {
		r.d.attach(p.idx, p.name)
	}
	if ft.opened != 1 || len(ft.rxs) != 4 {
		t.Fatalf("taps opened %d times, %d of them; want once, 4", ft.opened, len(ft.rxs))
	}
	for _, p := range order {
		if tap, ok := ft.filter.ports[p.idx]; !ok || tap != p.tap {
			t.Errorf("%s given to tap %d (in the filter %v), want %d", p.name, tap, ok, p.tap)
		}
	}
	if st, _, ok := r.d.TapStats(); !ok || st.Ports != len(order) {
		t.Errorf("tap stats %+v (open %v), want %d ports", st, ok, len(order))
	}
	// Each port's frames are forwarded by its tap, and counted over all.
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, 1, 2, 3, 4}
	ft.rxs[1].Inject(20, bcast)
	ft.rxs[3].Inject(12, bcast)
	ft.rxs[0].Inject(12, bcast) // not tap 0's port: unknown there
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _, _ := r.d.TapStats()
		if st.Frames == 3 && st.Unknown == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tap stats %+v, want 3 frames over the taps, 1 of an unknown port", st)
		}
		time.Sleep(time.Millisecond)
	}

	// The uplink's tap is the least loaded once it has left.
	r.d.detach(20, "test")
	r.d.detach(7, "test")
	r.d.attach(7, "vif1.0")
	if tap := ft.filter.ports[7]; tap != 1 {
		t.Errorf("vif1.0 back in tap %d, want the uplink's, 1", tap)
	}
	for _, p := range order {
		if p.idx != 20 {
			r.d.detach(p.idx, "test")
		}
	}
	if !ft.filter.closed || len(ft.filter.ports) != 0 {
		t.Errorf("filter %v (closed %v) after the last port left, want empty, closed", ft.filter.ports, ft.filter.closed)
	}
	for i, rx := range ft.rxs {
		if _, err := rx.Receive(make([]dataplane.Frame, 1), make([]int32, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("tap %d not closed with the last port: %v", i, err)
		}
	}
}

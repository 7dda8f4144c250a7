package daemon

import (
	"sync"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
)

func TestPickBlocked(t *testing.T) {
	vif := func(name string, score int64) loopCandidate {
		return loopCandidate{name: name, class: classVif, score: score}
	}
	uplink := loopCandidate{name: "peth0", class: classUplink, score: 100}
	host := loopCandidate{name: "xenbr0-sw", class: classHostPort, score: 100}
	for _, c := range []struct {
		name  string
		cands []loopCandidate
		want  string // "" for none
	}{
		{"the only one", []loopCandidate{vif("vif1.0", 1)}, "vif1.0"},
		{"a vif before the uplink", []loopCandidate{uplink, vif("vif1.0", 1)}, "vif1.0"},
		{"a vif before the host port", []loopCandidate{host, vif("vif1.0", 0)}, "vif1.0"},
		{"the uplink before the host port", []loopCandidate{host, uplink}, "peth0"},
		{"the uplink if it is the only one", []loopCandidate{uplink}, "peth0"},
		{"never the host port", []loopCandidate{host}, ""},
		{"of two vifs, the one more moves touched", []loopCandidate{vif("vif1.0", 50), vif("vif2.0", 90)}, "vif2.0"},
		{"of two vifs alike, the latest", []loopCandidate{vif("vif1.2", 5), vif("vif1.0", 5)}, "vif1.2"},
		{"none", nil, ""},
	} {
		got, ok := pickBlocked(c.cands)
		if ok != (c.want != "") || got.name != c.want {
			t.Errorf("%s: blocks %q (%v), want %q", c.name, got.name, ok, c.want)
		}
	}
}

// blockingFP is a fast path that records which ifindexes are blocked.
type blockingFP struct {
	*fastpathtest.FastPath
	mu      sync.Mutex
	blocked map[int]bool
}

func (f *blockingFP) SetBlocked(ifindex int, blocked bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked[ifindex] = blocked
	return nil
}

func (f *blockingFP) isBlocked(ifindex int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked[ifindex]
}

// loopRig is a daemon with a bridge of two vifs (ifindexes 7 and 8) and an
// uplink (9), whose loop protection has a short hold time.
func loopRig(t *testing.T, protection string) (*rig, *blockingFP, *dataplane.Bridge) {
	t.Helper()
	r := newRig(t, testBridge+protection, fastpathtest.New(), "")
	fp := &blockingFP{FastPath: r.fp, blocked: map[int]bool{}}
	r.d.fp = fp
	r.links.add(7, "vif1.0", "veth", 1500)
	r.links.add(8, "vif1.2", "veth", 1500)
	r.links.add(9, "peth0", "device", 1500)
	r.d.adopt()
	br, ok := r.d.Bridge("xenbr0")
	if !ok || len(br.Ports()) != 3 {
		t.Fatalf("bridge not made with its 3 ports")
	}
	return r, fp, br
}

// flap learns the MAC n on each port in turn, as a loop carries it: the
// first is its home, each next one a move.
func flap(br *dataplane.Bridge, n byte, ports ...string) {
	k := fdb.MakeKey(0, mac(n))
	ids := map[string]fdb.PortID{}
	for _, p := range br.Ports() {
		ids[p.Name] = p.ID
	}
	for _, p := range ports {
		br.FDB().Learn(k, ids[p], fdb.Now())
	}
}

// loop is a MAC at home on vif1.0 carried 4 times to vif1.2 and back.
var loop = []string{"vif1.0", "vif1.2", "vif1.0", "vif1.2", "vif1.0"}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestLoopBlocksAndRecovers(t *testing.T) {
	r, fp, br := loopRig(t, "    loop-protection: {flap-threshold: 4, flap-window: 1s, hold-time: 300ms}\n")
	other := fdb.MakeKey(0, mac(7))
	id := func(name string) fdb.PortID {
		for _, p := range br.Ports() {
			if p.Name == name {
				return p.ID
			}
		}
		return 0
	}
	br.FDB().Learn(other, id("peth0"), fdb.Now())
	if err := br.FDB().AddStatic(fdb.MakeKey(0, mac(8)), id("vif1.0")); err != nil {
		t.Fatal(err)
	}

	// Three moves: no loop yet.
	flap(br, 41, loop[:4]...)
	time.Sleep(50 * time.Millisecond)
	if br.Blocked("vif1.0") || br.Blocked("vif1.2") {
		t.Fatal("blocked after 3 moves with a threshold of 4")
	}
	// Four: the port the loop carried the MAC to, away from its home, is
	// blocked.
	flap(br, 42, loop...)
	waitFor(t, "vif1.2 blocked", 2*time.Second, func() bool { return br.Blocked("vif1.2") })
	if br.Blocked("vif1.0") || br.Blocked("peth0") {
		t.Error("another port blocked too")
	}
	if !fp.isBlocked(8) {
		t.Error("the fast path does not block vif1.2")
	}
	l, ok := r.d.PortLoop("xenbr0", "vif1.2", id("vif1.2"))
	if !ok || !l.Blocked || l.Blocks != 1 || l.Flaps == 0 || time.Until(l.Until) > 300*time.Millisecond {
		t.Errorf("PortLoop: %+v, %v", l, ok)
	}
	if _, ok := br.FDB().Get(other); ok {
		t.Error("the learned MACs were not flushed")
	}
	if _, ok := br.FDB().Get(fdb.MakeKey(0, mac(8))); !ok {
		t.Error("a static MAC was flushed")
	}

	// The hold time passes; the port is unblocked everywhere.
	held := waitFor(t, "vif1.2 unblocked", 2*time.Second, func() bool { return !br.Blocked("vif1.2") })
	if held < 200*time.Millisecond {
		t.Errorf("unblocked after %v, before the hold time of 300ms", held)
	}
	waitFor(t, "vif1.2 unblocked in the fast path", time.Second, func() bool { return !fp.isBlocked(8) })
	if l, _ := r.d.PortLoop("xenbr0", "vif1.2", id("vif1.2")); l.Blocked || l.Blocks != 1 {
		t.Errorf("after the hold time, PortLoop: %+v", l)
	}

	// The loop is still there: blocked again.
	flap(br, 42, loop...)
	waitFor(t, "vif1.2 blocked again", 2*time.Second, func() bool { return br.Blocked("vif1.2") })
	if l, _ := r.d.PortLoop("xenbr0", "vif1.2", id("vif1.2")); l.Blocks != 2 {
		t.Errorf("blocked %d times, want 2", l.Blocks)
	}
}

func TestLoopSparesTheUplink(t *testing.T) {
	_, fp, br := loopRig(t, "    loop-protection: {flap-threshold: 4, hold-time: 10s}\n")
	flap(br, 42, "vif1.2", "vif1.0", "vif1.2", "peth0", "vif1.2") // at home on vif1.2, carried to vif1.0 and the uplink
	waitFor(t, "vif1.0 blocked", 2*time.Second, func() bool { return br.Blocked("vif1.0") })
	if br.Blocked("peth0") {
		t.Error("the uplink was blocked")
	}
	if !fp.isBlocked(7) || fp.isBlocked(9) {
		t.Errorf("fast path blocks %v, want vif1.0's 7 only", fp.blocked)
	}
}

func TestLoopProtectionOff(t *testing.T) {
	r, _, br := loopRig(t, "    loop-protection: {enabled: false, flap-threshold: 2}\n")
	flap(br, 42, "vif1.0", "vif1.2", "vif1.0", "vif1.2", "vif1.0", "vif1.2", "vif1.0", "vif1.2", "vif1.0", "vif1.2", "vif1.0")
	time.Sleep(100 * time.Millisecond)
	for _, p := range br.Ports() {
		if br.Blocked(p.Name) {
			t.Errorf("%s blocked with loop protection off", p.Name)
		}
		if l, ok := r.d.PortLoop("xenbr0", p.Name, p.ID); !ok || l.Blocked || l.Blocks != 0 {
			t.Errorf("%s: PortLoop %+v, %v", p.Name, l, ok)
		}
	}
	var flaps uint64
	for _, p := range br.Ports() {
		l, _ := r.d.PortLoop("xenbr0", p.Name, p.ID)
		flaps += l.Flaps
	}
	if flaps != 10 {
		t.Errorf("%d flaps counted, want the 10 moves", flaps)
	}
}

// TestLoopReloadTurnsItOff checks that a reload applies loop-protection to
// a bridge it keeps: turned off, the blocked port is unblocked at once.
func TestLoopReloadTurnsItOff(t *testing.T) {
	r, fp, br := loopRig(t, "    loop-protection: {flap-threshold: 4, hold-time: 1h}\n")
	flap(br, 42, loop...)
	waitFor(t, "vif1.2 blocked", 2*time.Second, func() bool { return br.Blocked("vif1.2") })
	cfg, err := config.Parse("x.yaml", []byte(testBridge+"    loop-protection: {enabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if br.Blocked("vif1.2") || fp.isBlocked(8) {
		t.Error("still blocked after a reload turned loop protection off")
	}
	if b, _ := r.d.Bridge("xenbr0"); b != br {
		t.Error("the reload rebuilt the bridge")
	}
}

package dataplane_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/policy"
)

// sharedRig is two bridges whose ports all take their frames from one
// Receiver, each known by its ifindex.
type sharedRig struct {
	t       *testing.T
	rx      *porttest.Receiver
	shared  *dataplane.Shared
	bridges map[string]*dataplane.Bridge
	ports   map[string]*porttest.Port
	ifindex map[string]int32
	bridge  map[string]string // port → its bridge
}

func newSharedRig(t *testing.T, batch int) *sharedRig {
	t.Helper()
	r := &sharedRig{t: t, rx: porttest.NewReceiver(batch), bridges: map[string]*dataplane.Bridge{},
		ports: map[string]*porttest.Port{}, ifindex: map[string]int32{}, bridge: map[string]string{}}
	r.shared = dataplane.NewShared(r.rx, nil)
	for _, name := range []string{"br0", "br1"} {
		br := dataplane.NewBridge(dataplane.BridgeConfig{Name: name, FDB: fdb.DefaultConfig()}, nil)
		r.bridges[name] = br
		t.Cleanup(func() { br.Close() })
	}
	t.Cleanup(func() { r.shared.Close() }) // runs first: bridges close after
	return r
}

// add attaches a port of the shared receiver to bridge br.
func (r *sharedRig) add(br, name string, ifindex int32, pol policy.Policy) *porttest.Port {
	r.t.Helper()
	p := porttest.New(name, 8)
	info := dataplane.PortInfo{Name: name, Kind: "porttest", Ifindex: int(ifindex), Policy: pol, Shared: r.shared}
	if _, err := r.bridges[br].AddPort(p, info); err != nil {
		r.t.Fatal(err)
	}
	r.ports[name], r.ifindex[name], r.bridge[name] = p, ifindex, br
	return p
}

func (r *sharedRig) counters(name string) dataplane.CounterValues {
	for _, ps := range r.bridges[r.bridge[name]].Ports() {
		if ps.Name == name {
			return ps.Counters
		}
	}
	r.t.Fatalf("no port %s", name)
	return dataplane.CounterValues{}
}

// TestSharedForwardsOnce sends interleaved frames of four ports on two
// bridges through one receiver: every frame leaves exactly once, on the
// port its bridge has learned for it, and every port counts what it sent.
func TestSharedForwardsOnce(t *testing.T) {
	r := newSharedRig(t, 16)
	r.add("br0", "a", 10, policy.Policy{})
	r.add("br0", "b", 11, policy.Policy{})
	r.add("br1", "c", 20, policy.Policy{})
	r.add("br1", "d", 21, policy.Policy{})

	// Each host announces itself once, so the bridges learn where it is.
	for name, n := range map[string]byte{"a": 1, "b": 2, "c": 3, "d": 4} {
		r.rx.Inject(r.ifindex[name], frame(bcast, host(n), "hello"))
	}
	for name, peer := range map[string]string{"a": "b", "b": "a", "c": "d", "d": "c"} {
		if got := r.ports[peer].WaitSent(1, wait); len(got) != 1 {
			t.Fatalf("port %s: got %d hellos from %s, want 1", peer, len(got), name)
		}
	}
	const rounds = 50
	for i := range rounds {
		r.rx.Inject(10, frame(host(2), host(1), fmt.Sprint("a", i)))
		r.rx.Inject(20, frame(host(4), host(3), fmt.Sprint("c", i)))
		r.rx.Inject(20, frame(host(4), host(3), fmt.Sprint("c", i, "'")))
		r.rx.Inject(11, frame(host(1), host(2), fmt.Sprint("b", i)))
		r.rx.Inject(21, frame(host(3), host(4), fmt.Sprint("d", i)))
	}
	want := map[string][]string{"b": {}, "a": {}, "d": {}, "c": {}}
	for i := range rounds {
		want["b"] = append(want["b"], fmt.Sprint("a", i))
		want["d"] = append(want["d"], fmt.Sprint("c", i), fmt.Sprint("c", i, "'"))
		want["a"] = append(want["a"], fmt.Sprint("b", i))
		want["c"] = append(want["c"], fmt.Sprint("d", i))
	}
	for name, tags := range want {
		got := r.ports[name].WaitSent(len(tags), wait)
		got = append(got, r.ports[name].WaitSent(1, quiet)...)
		if len(got) != len(tags) {
			t.Errorf("port %s: got %d frames, want %d", name, len(got), len(tags))
			continue
		}
		for i, f := range got {
			if tag := string(f.Data[14:]); tag != tags[i] {
				t.Errorf("port %s frame %d: got %q, want %q", name, i, tag, tags[i])
			}
		}
	}
	for name, n := range map[string]uint64{"a": rounds + 1, "b": rounds + 1, "c": 2*rounds + 1, "d": rounds + 1} {
		c := r.counters(name)
		if c.RxPackets != n || c.Dropped() != 0 {
			t.Errorf("port %s: received %d frames, dropped %d; want %d, 0", name, c.RxPackets, c.Dropped(), n)
		}
	}
	if s := r.shared.Stats(); s.Ports != 4 || s.Unknown != 0 {
		t.Errorf("stats %+v, want 4 ports and no unknown frame", s)
	}
}

// TestSharedPolicyPerIngress interleaves the frames of an access port and
// a trunk in one receiver: each is placed in its VLAN by its own ingress
// port's policy, so the access port's frames leave tagged on the trunk and
// the trunk's leave untagged on the access port.
func TestSharedPolicyPerIngress(t *testing.T) {
	r := newSharedRig(t, 16)
	r.add("br0", "guest", 10, policy.Policy{VLAN: policy.AccessVLAN(10)})
	r.add("br0", "trunk", 11, policy.Policy{VLAN: policy.TrunkVLANs(0, 10, 20)})
	r.add("br1", "plain", 20, policy.Policy{})
	r.add("br1", "plain2", 21, policy.Policy{})

	r.rx.Inject(10, frame(bcast, host(1), "g0"))
	r.rx.Inject(11, tagged(host(1), host(2), 10, "t0"))
	r.rx.Inject(20, tagged(bcast, host(3), 10, "p0"))   // transparent: kept as it came
	r.rx.Inject(10, tagged(host(2), host(1), 10, "g1")) // tagged on an access port
	r.rx.Inject(10, frame(host(2), host(1), "g2"))
	r.rx.Inject(11, tagged(host(9), host(2), 20, "t1")) // VLAN 20 has no other port

	got := r.ports["trunk"].WaitSent(2, wait)
	got = append(got, r.ports["trunk"].WaitSent(1, quiet)...)
	if len(got) != 2 {
		t.Fatalf("trunk: got %d frames, want 2", len(got))
	}
	for i, tag := range []string{"g0", "g2"} {
		if f := got[i]; !f.Tagged || f.VLAN&0xfff != 10 || string(f.Data[14:]) != tag {
			t.Errorf("trunk frame %d: tagged %v VLAN %d %q, want %q tagged with VLAN 10", i, f.Tagged, f.VLAN&0xfff, f.Data[14:], tag)
		}
	}
	got = r.ports["guest"].WaitSent(1, wait)
	got = append(got, r.ports["guest"].WaitSent(1, quiet)...)
	if len(got) != 1 || got[0].Tagged || string(got[0].Data[14:]) != "t0" {
		t.Errorf("guest: got %d frames (%+v), want t0 untagged", len(got), got)
	}
	got = r.ports["plain2"].WaitSent(1, wait)
	if len(got) != 1 || string(got[0].Data[18:]) != "p0" {
		t.Errorf("plain2: got %+v, want p0 as it came", got)
	}
	if c := r.counters("guest"); c.RxPackets != 3 || c.Drops[dataplane.DropVLAN] != 1 {
		t.Errorf("guest: %d received, %d VLAN drops; want 3, 1", c.RxPackets, c.Drops[dataplane.DropVLAN])
	}
	if c := r.counters("trunk"); c.RxPackets != 2 || c.Flooded != 1 || c.TxPackets != 2 {
		t.Errorf("trunk: %+v, want 2 received, 1 flooded, 2 sent", c)
	}
}

// TestSharedUnknownIfindex drops, and counts, the frames of an ifindex no
// port has, without disturbing the known ports' frames around them.
func TestSharedUnknownIfindex(t *testing.T) {
	r := newSharedRig(t, 4)
	r.add("br0", "a", 10, policy.Policy{})
	r.add("br0", "b", 11, policy.Policy{})
	for i := range 10 {
		r.rx.Inject(99, frame(bcast, host(9), fmt.Sprint("x", i)))
		r.rx.Inject(10, frame(bcast, host(1), fmt.Sprint("a", i)))
	}
	if got := r.ports["b"].WaitSent(10, wait); len(got) != 10 {
		t.Fatalf("b: got %d frames, want 10", len(got))
	}
	if got := r.ports["a"].WaitSent(1, quiet); len(got) != 0 {
		t.Errorf("a: got %d frames, want none", len(got))
	}
	if s := r.shared.Stats(); s.Unknown != 10 || s.Frames != 20 {
		t.Errorf("stats %+v, want 20 frames, 10 unknown", s)
	}
}

// TestSharedAddPortErrors refuses a shared port without an ifindex, one
// whose ifindex is another port's (also on another bridge), and any after
// the Shared is closed; a refused port is closed.
func TestSharedAddPortErrors(t *testing.T) {
	r := newSharedRig(t, 4)
	r.add("br0", "a", 10, policy.Policy{})
	try := func(br string, ifindex int) error {
		p := porttest.New("x", 4)
		_, err := r.bridges[br].AddPort(p, dataplane.PortInfo{Name: "x", Ifindex: ifindex, Shared: r.shared})
		if err == nil {
			t.Fatalf("AddPort with ifindex %d on %s succeeded", ifindex, br)
		}
		if _, serr := p.Send([]dataplane.Frame{{Data: host(1)}}); serr == nil {
			t.Errorf("refused port left open")
		}
		return err
	}
	try("br0", 0)
	try("br1", 10)
	r.shared.Close()
	if err := try("br1", 12); !errors.Is(err, dataplane.ErrSharedClosed) {
		t.Errorf("after Close: %v, want ErrSharedClosed", err)
	}
}

// TestSharedBesidePortWorkers puts a shared port and a port with its own
// worker on one bridge: they reach each other both ways.
func TestSharedBesidePortWorkers(t *testing.T) {
	r := newSharedRig(t, 8)
	r.add("br0", "shared", 10, policy.Policy{})
	own := porttest.New("own", 8)
	if _, err := r.bridges["br0"].AddPort(own, dataplane.PortInfo{Name: "own", Ifindex: 11}); err != nil {
		t.Fatal(err)
	}
	r.rx.Inject(10, frame(bcast, host(1), "s"))
	own.Inject(frame(host(1), host(2), "o"))
	if got := own.WaitSent(1, wait); len(got) != 1 || string(got[0].Data[14:]) != "s" {
		t.Errorf("own: got %+v, want s", got)
	}
	if got := r.ports["shared"].WaitSent(1, wait); len(got) != 1 || string(got[0].Data[14:]) != "o" {
		t.Errorf("shared: got %+v, want o", got)
	}
}

// TestSharedRemovePortUnderTraffic removes a shared port while its frames
// stream in: none is forwarded after RemovePort returns, and every frame
// injected is either forwarded once or counted unknown.
func TestSharedRemovePortUnderTraffic(t *testing.T) {
	r := newSharedRig(t, 8)
	r.add("br0", "a", 10, policy.Policy{})
	b := r.add("br0", "b", 11, policy.Policy{})
	r.add("br1", "c", 20, policy.Policy{})
	d := r.add("br1", "d", 21, policy.Policy{})
	r.rx.Inject(11, frame(bcast, host(2), "hello")) // a and c learn nothing: their frames flood
	r.rx.Inject(21, frame(bcast, host(4), "hello"))
	if len(r.ports["a"].WaitSent(1, wait)) != 1 || len(r.ports["c"].WaitSent(1, wait)) != 1 {
		t.Fatal("hellos not flooded")
	}

	stop := make(chan struct{})
	injected := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				injected <- n
				return
			default:
			}
			r.rx.Inject(10, frame(host(2), host(1), "a"))
			r.rx.Inject(20, frame(host(4), host(3), "c"))
			n++
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := r.bridges["br0"].RemovePort("a"); err != nil {
		t.Fatal(err)
	}
	atRemoval := len(b.Sent())
	time.Sleep(20 * time.Millisecond)
	close(stop)
	n := <-injected

	// Wait for the receiver to take every frame: the hellos, then two a round.
	deadline := time.Now().Add(wait)
	for r.shared.Stats().Frames < uint64(2+2*n) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s := r.shared.Stats()
	after := len(b.Sent())
	if after != 0 {
		t.Errorf("b got %d frames of a after RemovePort returned", after)
	}
	// RemovePort flushed a's MACs: a frame of a forwarded later would
	// have taught the bridge host 1 again.
	if _, ok := r.bridges["br0"].FDB().Lookup(fdb.MakeKey(0, host(1))); ok {
		t.Error("a frame of a was learned after RemovePort returned")
	}
	if got := uint64(atRemoval) + s.Unknown; got != uint64(n) || s.Unknown == 0 {
		t.Errorf("a: %d frames forwarded, %d unknown; want %d in all, some unknown", atRemoval, s.Unknown, n)
	}
	if got := len(d.WaitSent(n, wait)); got != n {
		t.Errorf("d got %d frames of c, want %d", got, n)
	}
	if s.Ports != 3 {
		t.Errorf("%d ports registered, want 3", s.Ports)
	}
}

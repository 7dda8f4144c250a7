package dataplane_test

import (
	"fmt"
	"testing"

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

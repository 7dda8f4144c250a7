package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
)

const wait = 2 * time.Second

// quiet is how long a test waits to be sure nothing more arrives.
const quiet = 50 * time.Millisecond

var bcast = mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)

func mac(b ...byte) []byte { return b }

func host(n byte) []byte { return mac(0x02, 0, 0, 0, 0, n) }

// frame builds an Ethernet frame with a payload that names it.
func frame(dst, src []byte, tag string) []byte {
	f := append(append(append([]byte{}, dst...), src...), 0x88, 0xb5)
	return append(f, tag...)
}

func tagged(dst, src []byte, vid uint16, tag string) []byte {
	f := append(append(append([]byte{}, dst...), src...), 0x81, 0x00, 0, 0, 0x88, 0xb5)
	binary.BigEndian.PutUint16(f[14:], vid)
	return append(f, tag...)
}

type rig struct {
	t     *testing.T
	br    *dataplane.Bridge
	ports map[string]*porttest.Port
	// injected counts the frames inject gave each port, which its
	// RxPackets reaches once the worker has taken them all.
	injected map[string]uint64
}

func newRig(t *testing.T, cfg fdb.Config, names ...string) *rig {
	t.Helper()
	r := &rig{t: t, br: dataplane.NewBridge(dataplane.BridgeConfig{Name: "br-test", FDB: cfg}, nil), ports: map[string]*porttest.Port{}, injected: map[string]uint64{}}
	t.Cleanup(func() { r.br.Close() })
	for _, n := range names {
		r.add(n)
	}
	return r
}

func (r *rig) add(name string) *porttest.Port {
	p := porttest.New(name, 8)
	if _, err := r.br.AddPort(p, dataplane.PortInfo{Name: name, Kind: "porttest"}); err != nil {
		r.t.Fatal(err)
	}
	r.ports[name] = p
	return p
}

// inject makes frames arrive on port name.
func (r *rig) inject(name string, frames ...[]byte) {
	r.injected[name] += uint64(len(frames))
	r.ports[name].Inject(frames...)
}

// taken waits until the worker has taken every frame injected so far:
// after that, only the sends of its last batch may still be under way.
func (r *rig) taken() {
	r.t.Helper()
	deadline := time.Now().Add(wait)
	for _, ps := range r.br.Ports() {
		for ps.Counters.RxPackets < r.injected[ps.Name] {
			if time.Now().After(deadline) {
				r.t.Fatalf("port %s: the worker took %d frames of the %d injected within %v", ps.Name, ps.Counters.RxPackets, r.injected[ps.Name], wait)
			}
			time.Sleep(time.Millisecond)
			ps.Counters = r.counters(ps.Name)
		}
	}
}

// expect waits until the worker has taken every injected frame and
// exactly want frames arrived on every port named in want, and checks
// that no other port got anything, even a moment later (quiet): an empty
// want checks that the frames were dropped, not that they are still on
// their way.
func (r *rig) expect(want map[string][][]byte) {
	r.t.Helper()
	r.taken()
	got := map[string][]dataplane.Frame{}
	for name, p := range r.ports {
		got[name] = p.WaitSent(len(want[name]), wait)
	}
	time.Sleep(quiet)
	for name, p := range r.ports {
		frames := want[name]
		g := append(got[name], p.Sent()...)
		if len(g) != len(frames) {
			r.t.Errorf("port %s: got %d frames, want %d", name, len(g), len(frames))
			continue
		}
		for i := range g {
			if !bytes.Equal(g[i].Data, frames[i]) {
				r.t.Errorf("port %s frame %d: got %x, want %x", name, i, g[i].Data, frames[i])
			}
		}
	}
}

func (r *rig) counters(name string) dataplane.CounterValues {
	for _, ps := range r.br.Ports() {
		if ps.Name == name {
			return ps.Counters
		}
	}
	r.t.Fatalf("no port %s", name)
	return dataplane.CounterValues{}
}

// learn makes the bridge learn host n behind port name, and drains the flood.
func (r *rig) learn(name string, n byte) {
	r.t.Helper()
	r.inject(name, frame(bcast, host(n), "hello"))
	for pn, p := range r.ports {
		if pn != name {
			p.WaitSent(1, wait)
		}
	}
	r.taken()
	for _, p := range r.ports {
		p.Sent()
	}
}

func TestForwarding(t *testing.T) {
	ab := frame(host(2), host(1), "a-to-b")
	tests := []struct {
		name   string
		learn  map[string]byte // port → host learned behind it before the test
		from   string
		frames [][]byte
		want   map[string][][]byte
	}{
		{
			name:   "unknown unicast floods to every other port",
			from:   "a",
			frames: [][]byte{ab},
			want:   map[string][][]byte{"b": {ab}, "c": {ab}},
		},
		{
			name:   "broadcast floods to every other port once",
			from:   "a",
			frames: [][]byte{frame(bcast, host(1), "bc")},
			want:   map[string][][]byte{"b": {frame(bcast, host(1), "bc")}, "c": {frame(bcast, host(1), "bc")}},
		},
		{
			name:   "multicast floods",
			from:   "b",
			frames: [][]byte{frame(mac(0x01, 0, 0x5e, 0, 0, 1), host(2), "mc")},
			want:   map[string][][]byte{"a": {frame(mac(0x01, 0, 0x5e, 0, 0, 1), host(2), "mc")}, "c": {frame(mac(0x01, 0, 0x5e, 0, 0, 1), host(2), "mc")}},
		},
		{
			name:   "learned unicast goes to its port only",
			learn:  map[string]byte{"b": 2},
			from:   "a",
			frames: [][]byte{ab, ab},
			want:   map[string][][]byte{"b": {ab, ab}},
		},
		{
			name:   "destination on the ingress port is dropped",
			learn:  map[string]byte{"a": 2},
			from:   "a",
			frames: [][]byte{ab},
		},
		{
			name:   "runt and multicast source are dropped",
			from:   "a",
			frames: [][]byte{host(2)[:6], frame(host(2), bcast, "bad-src")},
		},
		{
			name:   "VLANs learn separately",
			learn:  map[string]byte{"b": 2}, // on VLAN 0
			from:   "a",
			frames: [][]byte{tagged(host(2), host(1), 7, "v7")},
			want:   map[string][][]byte{"b": {tagged(host(2), host(1), 7, "v7")}, "c": {tagged(host(2), host(1), 7, "v7")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, fdb.DefaultConfig(), "a", "b", "c")
			for p, h := range tt.learn {
				r.learn(p, h)
			}
			r.inject(tt.from, tt.frames...)
			r.expect(tt.want)
		})
	}
}

func TestCounters(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b", "c")
	r.learn("b", 2)
	ab := frame(host(2), host(1), "a-to-b")
	r.inject("a", ab, ab, ab, host(2)[:5], frame(host(2), bcast, "x"))
	r.expect(map[string][][]byte{"b": {ab, ab, ab}})
	a, b := r.counters("a"), r.counters("b")
	if a.RxPackets != 5 || a.Drops[dataplane.DropRunt] != 1 || a.Drops[dataplane.DropMulticastSrc] != 1 {
		t.Errorf("port a: rx %d runt %d mcast-src %d, want 5 1 1", a.RxPackets, a.Drops[dataplane.DropRunt], a.Drops[dataplane.DropMulticastSrc])
	}
	// b's learning broadcast went to a and c; then the three unicasts came.
	if b.TxPackets != 3 || b.TxBytes != uint64(3*len(ab)) || b.RxPackets != 1 || b.Flooded != 1 {
		t.Errorf("port b: tx %d/%dB rx %d flooded %d, want 3/%dB 1 1", b.TxPackets, b.TxBytes, b.RxPackets, b.Flooded, 3*len(ab))
	}
}

func TestMTUDropSkipsOnlyTheOversizeFrame(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a")
	b := porttest.New("b", 8)
	b.MTU = 100
	if _, err := r.br.AddPort(b, dataplane.PortInfo{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	r.ports["b"] = b
	small := frame(host(2), host(1), "small")
	big := frame(host(2), host(1), string(make([]byte, 200)))
	r.inject("a", small, big, small)
	r.expect(map[string][][]byte{"b": {small, small}})
	if c := r.counters("b"); c.Drops[dataplane.DropMTU] != 1 || c.TxPackets != 2 {
		t.Errorf("port b: mtu drops %d tx %d, want 1 2", c.Drops[dataplane.DropMTU], c.TxPackets)
	}
}

func TestMoveAndRemove(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b", "c")
	r.learn("b", 2)
	ab := frame(host(2), host(1), "to-2")
	// host 2 moves from b to c: traffic follows.
	r.learn("c", 2)
	r.inject("a", ab)
	r.expect(map[string][][]byte{"c": {ab}})
	if st := r.br.FDB().Stats(); st.Moved != 1 {
		t.Errorf("moves counted %d, want 1", st.Moved)
	}
	// c goes away: its entries go at once, and host 2 is unknown again.
	if err := r.br.RemovePort("c"); err != nil {
		t.Fatal(err)
	}
	delete(r.ports, "c")
	if _, ok := r.br.FDB().Lookup(fdb.MakeKey(0, host(2))); ok {
		t.Error("entry of a removed port still in the table")
	}
	r.inject("a", ab)
	r.expect(map[string][][]byte{"b": {ab}})
	if err := r.br.RemovePort("c"); err == nil {
		t.Error("removing a removed port succeeded")
	}
}

func TestMetadataPassesThrough(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a", "b")
	f := dataplane.Frame{
		Data:   frame(host(2), host(1), "gso"),
		VNet:   dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
		Tagged: true, VLAN: 0x2005, TPID: 0x8100,
	}
	r.ports["a"].InjectFrame(f)
	got := r.ports["b"].WaitSent(1, wait)
	if len(got) != 1 || got[0].VNet != f.VNet || !got[0].Tagged || got[0].VLAN != f.VLAN || got[0].TPID != f.TPID {
		t.Fatalf("got %+v, want %+v", got, f)
	}
	if _, ok := r.br.FDB().Lookup(fdb.MakeKey(5, host(1))); !ok {
		t.Error("source not learned on the frame's out-of-band VLAN 5")
	}
}

func TestAddPortTwice(t *testing.T) {
	r := newRig(t, fdb.DefaultConfig(), "a")
	if _, err := r.br.AddPort(porttest.New("a", 8), dataplane.PortInfo{Name: "a"}); err == nil {
		t.Fatal("second port with the same name attached")
	}
}

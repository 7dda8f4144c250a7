package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/dataplane/afxdp"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
)

var _ FastPath = (*fastpathtest.FastPath)(nil)

// fakeLinks are the links of a namespace that exists only in the test.
type fakeLinks struct {
	mu      sync.Mutex
	byIndex map[int]netlink.Link
	listErr error
}

func (l *fakeLinks) add(idx int, name, kind string, mtu int) netlink.Link {
	attrs := netlink.LinkAttrs{Index: idx, Name: name, MTU: mtu, NetNsID: -1}
	var link netlink.Link = &netlink.Device{LinkAttrs: attrs}
	if kind == "veth" {
		link = &netlink.Veth{LinkAttrs: attrs}
	}
	l.mu.Lock()
	l.byIndex[idx] = link
	l.mu.Unlock()
	return link
}

func (l *fakeLinks) remove(idx int) {
	l.mu.Lock()
	delete(l.byIndex, idx)
	l.mu.Unlock()
}

func (l *fakeLinks) LinkByIndex(idx int) (netlink.Link, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if link, ok := l.byIndex[idx]; ok {
		return link, nil
	}
	return nil, unix.ENODEV
}

func (l *fakeLinks) LinkByName(name string) (netlink.Link, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, link := range l.byIndex {
		if link.Attrs().Name == name {
			return link, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

func (l *fakeLinks) LinkList() ([]netlink.Link, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listErr != nil {
		return nil, l.listErr
	}
	var out []netlink.Link
	for _, link := range l.byIndex {
		out = append(out, link)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attrs().Index < out[j].Attrs().Index })
	return out, nil
}

// fakeXSK is an AF_XDP port in memory.
type fakeXSK struct {
	*porttest.Port
	queues int
	mtu    int
	maxMTU int
}

func (x *fakeXSK) SetMTU(mtu int)   { x.mtu = mtu }
func (x *fakeXSK) Queues() int      { return x.queues }
func (x *fakeXSK) ZeroCopy() bool   { return false }
func (x *fakeXSK) SharesUMEM() bool { return true }

// MaxMTU is maxMTU, or any MTU when that is 0.
func (x *fakeXSK) MaxMTU() int {
	if x.maxMTU == 0 {
		return 65535
	}
	return x.maxMTU
}

// fakeSockets opens in-memory ports and records what was opened.
type fakeSockets struct {
	queues int
	fail   map[string]error // by interface name
	opened []string         // e.g. "afpacket vif1.0 punt", "afxdp peth0 on xenbr0, 2 queues"
	xsk    map[string]*fakeXSK
	closed bool
	// shared is the shared punt receiver once opened; sharedErr makes
	// opening it fail.
	shared    *porttest.Receiver
	sharedErr error
	sendOnly  map[string]*porttest.Port // the send-only ports opened, by name
}

func (s *fakeSockets) AFPacketSendOnly(ifname string, cfg afpacket.Config) (dataplane.Port, error) {
	s.opened = append(s.opened, "afpacket "+ifname+" send-only")
	if err := s.fail[ifname]; err != nil {
		return nil, err
	}
	p := porttest.New(ifname, 8)
	if s.sendOnly == nil {
		s.sendOnly = map[string]*porttest.Port{}
	}
	s.sendOnly[ifname] = p
	return p, nil
}

func (s *fakeSockets) Shared(cfg afpacket.SharedConfig) (dataplane.Receiver, error) {
	if s.sharedErr != nil {
		return nil, s.sharedErr
	}
	if cfg.PuntEtherType != bpf.PuntEtherType {
		return nil, fmt.Errorf("shared receiver on ethertype %#x", cfg.PuntEtherType)
	}
	s.shared = porttest.NewReceiver(8)
	return s.shared, nil
}

func (s *fakeSockets) AFPacket(ifname string, cfg afpacket.Config) (dataplane.Port, error) {
	what := "afpacket " + ifname
	if cfg.PuntEtherType == bpf.PuntEtherType {
		what += " punt"
	}
	s.opened = append(s.opened, what)
	if err := s.fail[ifname]; err != nil {
		return nil, err
	}
	return porttest.New(ifname, 8), nil
}

func (s *fakeSockets) AFXDP(bridge, ifname string, cfg afxdp.Config) (xskPort, error) {
	s.opened = append(s.opened, fmt.Sprintf("afxdp %s on %s, %d queues", ifname, bridge, cfg.Queues))
	if err := s.fail[ifname]; err != nil {
		return nil, err
	}
	for q := range cfg.Queues {
		if err := cfg.Register(q, 100+q); err != nil {
			return nil, err
		}
	}
	x := &fakeXSK{Port: porttest.New(ifname, 8), queues: cfg.Queues}
	s.xsk[ifname] = x
	return x, nil
}

func (s *fakeSockets) QueueCount(string) int { return s.queues }
func (s *fakeSockets) Close() error          { s.closed = true; return nil }

// rig is a daemon on fakes.
type rig struct {
	t       *testing.T
	d       *Daemon
	fp      *fastpathtest.FastPath // nil when the fast path failed to load
	links   *fakeLinks
	socks   *fakeSockets
	native  map[int]bool // ifindexes whose driver has native XDP
	cleaned []string     // pin dirs cleaned up
}

const testBridge = `
bridges:
  - name: xenbr0
    uplink: peth0
    ports: ["vif*"]
`

// newRig starts a daemon on cfgYAML (plus extra lines for the bridge);
// fp nil means the fast path fails to load.
func newRig(t *testing.T, cfgYAML string, fp *fastpathtest.FastPath, pinDir string) *rig {
	t.Helper()
	cfg, err := config.Parse("x.yaml", []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	cfg.PinDir = pinDir
	return newRigConfig(t, cfg, fp)
}

// newRigConfig starts a daemon on cfg.
func newRigConfig(t *testing.T, cfg *config.Config, fp *fastpathtest.FastPath) *rig {
	t.Helper()
	return newRigSockets(t, cfg, fp, newFakeSockets())
}

func newFakeSockets() *fakeSockets {
	return &fakeSockets{queues: 2, fail: map[string]error{}, xsk: map[string]*fakeXSK{}}
}

// newRigSockets starts a daemon on cfg and socks.
func newRigSockets(t *testing.T, cfg *config.Config, fp *fastpathtest.FastPath, socks *fakeSockets) *rig {
	t.Helper()
	r := &rig{t: t, fp: fp, links: &fakeLinks{byIndex: map[int]netlink.Link{}}, socks: socks, native: map[int]bool{}}
	sys := system{
		loadFastPath: func(bpf.Options) (FastPath, error) {
			if fp == nil {
				return nil, errors.New("no BPF here")
			}
			return fp, nil
		},
		cleanup:       func(dir string) error { r.cleaned = append(r.cleaned, dir); return nil },
		nativeXDP:     func(idx int) bool { return r.native[idx] },
		watchFeatures: func(context.Context, func(int)) error { return nil },
		links:         r.links,
		sockets:       r.socks,
	}
	r.d = newDaemon(cfg, slog.New(slog.DiscardHandler), sys)
	t.Cleanup(func() { r.d.Close() })
	return r
}

// port returns the status of an attached port.
func (r *rig) port(name string) (dataplane.PortStatus, bool) {
	br, ok := r.d.Bridge("xenbr0")
	if !ok {
		return dataplane.PortStatus{}, false
	}
	for _, ps := range br.Ports() {
		if ps.Name == name {
			return ps, true
		}
	}
	return dataplane.PortStatus{}, false
}

func (r *rig) calls() []string {
	if r.fp == nil {
		return nil
	}
	return r.fp.Calls()
}

func TestAttachDecisions(t *testing.T) {
	refused := errors.New("driver says no")
	tests := []struct {
		name     string
		extra    string // lines for the bridge
		noFP     bool   // the fast path failed to load
		refuse   bool   // the fast path refuses the port
		native   bool   // the port's driver has native XDP
		ifname   string
		wantErr  string   // "" if it attaches
		kind     string   // the port's kind once attached
		fastPath string   // the port's fast-path mode once attached
		opened   []string // sockets opened, in order
		calls    []string // what the fast path was asked, in order
	}{
		{name: "auto, granted: a send-only socket, punts to the shared receiver", ifname: "vif1.0", kind: "afpacket", fastPath: "tc",
			opened: []string{"afpacket vif1.0 send-only"}, calls: []string{"attach vif1.0 tc"}},
		{name: "auto, refused: userspace", ifname: "vif1.0", refuse: true, kind: "afpacket", fastPath: "off",
			opened: []string{"afpacket vif1.0 send-only", "afpacket vif1.0"}, calls: []string{"refuse vif1.0"}},
		{name: "auto, no fast path: userspace", ifname: "vif1.0", noFP: true, kind: "afpacket", fastPath: "off",
			opened: []string{"afpacket vif1.0"}},
		{name: "tc, refused: fails", extra: "    fastpath: tc\n", ifname: "vif1.0", refuse: true, wantErr: "driver says no",
			opened: []string{"afpacket vif1.0 send-only"}, calls: []string{"refuse vif1.0"}},
		{name: "tc, no fast path: fails clearly", extra: "    fastpath: tc\n", ifname: "vif1.0", noFP: true,
			wantErr: "vif1.0: fast path mode tc: no BPF here"},
		{name: "off: whatever an earlier run left is detached", extra: "    fastpath: \"off\"\n", ifname: "vif1.0", kind: "afpacket", fastPath: "off",
			opened: []string{"afpacket vif1.0"}, calls: []string{"detach vif1.0"}},
		{name: "afxdp: sockets, then the XDP program", extra: "    port-type: afxdp\n", ifname: "peth0", kind: "afxdp", fastPath: "xdp",
			opened: []string{"afxdp peth0 on xenbr0, 2 queues"}, calls: []string{"reserve 0+2", "attach peth0 xdp"}},
		{name: "afxdp, off: the program only feeds the sockets", extra: "    port-type: afxdp\n    fastpath: \"off\"\n", ifname: "peth0", kind: "afxdp", fastPath: "off",
			opened: []string{"afxdp peth0 on xenbr0, 2 queues"}, calls: []string{"reserve 0+2", "attach peth0 off"}},
		{name: "afxdp, refused: keys released", extra: "    port-type: afxdp\n", ifname: "peth0", refuse: true, wantErr: "driver says no",
			opened: []string{"afxdp peth0 on xenbr0, 2 queues"}, calls: []string{"reserve 0+2", "refuse peth0", "release 0+2"}},
		{name: "afxdp, no fast path: fails clearly", extra: "    port-type: afxdp\n", ifname: "peth0", noFP: true,
			wantErr: "peth0: an afxdp port needs the eBPF programs, which did not load: no BPF here"},
		{name: "auto type, native XDP uplink: afxdp", ifname: "peth0", native: true, kind: "afxdp", fastPath: "xdp",
			opened: []string{"afxdp peth0 on xenbr0, 2 queues"}, calls: []string{"reserve 0+2", "attach peth0 xdp"}},
		{name: "auto type, native XDP uplink set to tc: afpacket", extra: "    fastpath: tc\n", ifname: "peth0", native: true, kind: "afpacket", fastPath: "tc",
			opened: []string{"afpacket peth0 send-only"}, calls: []string{"attach peth0 tc"}},
		{name: "auto type, native XDP vif: afpacket", ifname: "vif1.0", native: true, kind: "afpacket", fastPath: "tc",
			opened: []string{"afpacket vif1.0 send-only"}, calls: []string{"attach vif1.0 tc"}},
		{name: "auto type, no fast path: afpacket", ifname: "peth0", native: true, noFP: true, kind: "afpacket", fastPath: "off",
			opened: []string{"afpacket peth0"}},
		{name: "not a port of any bridge", ifname: "eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fp *fastpathtest.FastPath
			if !tt.noFP {
				fp = fastpathtest.New()
				if tt.refuse {
					fp.Refuse[tt.ifname] = refused
				}
			}
			r := newRig(t, testBridge+tt.extra, fp, "")
			r.native[7] = tt.native
			r.links.add(7, tt.ifname, "device", 1500)
			r.d.attach(7, tt.ifname)

			ps, attached := r.port(tt.ifname)
			r.d.mu.Lock()
			failure := r.d.failed[7]
			_, recorded := r.d.attached[7]
			r.d.mu.Unlock()
			switch {
			case tt.wantErr != "" && (attached || recorded):
				t.Errorf("attached, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(failure, tt.wantErr):
				t.Errorf("failure %q, want %q", failure, tt.wantErr)
			case tt.wantErr == "" && tt.kind == "" && (attached || recorded || failure != ""):
				t.Errorf("attached %v, failure %q: want nothing", attached, failure)
			case tt.kind != "" && (!attached || !recorded || failure != ""):
				t.Errorf("not attached: %q", failure)
			case tt.kind != "" && (ps.Kind != tt.kind || ps.FastPath != tt.fastPath || ps.Ifindex != 7):
				t.Errorf("attached as %s with fast path %s (ifindex %d), want %s with %s", ps.Kind, ps.FastPath, ps.Ifindex, tt.kind, tt.fastPath)
			}
			if !slices.Equal(r.socks.opened, tt.opened) {
				t.Errorf("opened %q, want %q", r.socks.opened, tt.opened)
			}
			if got := r.calls(); !slices.Equal(got, tt.calls) {
				t.Errorf("fast path asked %q, want %q", got, tt.calls)
			}
		})
	}
}

func TestAFXDPAttachRegistersEveryQueue(t *testing.T) {
	r := newRig(t, testBridge+"    port-type: afxdp\n", fastpathtest.New(), "")
	r.links.add(7, "peth0", "device", 9000)
	r.d.attach(7, "peth0")
	p := r.fp.Attached()[7]
	if !p.XSK || p.XSKBase != 0 || p.XSKQueues != 2 || p.MTU != 9000 || p.Kind != "device" {
		t.Errorf("fast path port %+v", p)
	}
	if got := r.fp.Registered(); len(got) != 2 || got[0] != 100 || got[1] != 101 {
		t.Errorf("registered %v, want queues 0 and 1 at keys 0 and 1", got)
	}
	// The MTU of an AF_XDP port follows its link's.
	r.links.add(7, "peth0", "device", 1500)
	r.d.linkPresent(7, "peth0")
	if x := r.socks.xsk["peth0"]; x.mtu != 1500 {
		t.Errorf("MTU %d after the link changed to 1500", x.mtu)
	}
	r.d.detach(7, "test")
	if got := r.calls(); !slices.Equal(got[len(got)-2:], []string{"detach peth0", "release 0+2"}) {
		t.Errorf("detach asked %q, want the program detached, then the keys released", got)
	}
	if len(r.fp.Registered()) != 0 {
		t.Errorf("sockets still registered: %v", r.fp.Registered())
	}
}

func mac(n byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, n} }

// After a restart the MACs an earlier run mirrored are learned again on
// the port that comes back, dynamic ones only, then the rest is swept.
func TestRestartAdoption(t *testing.T) {
	fp := fastpathtest.New()
	br := bpf.BridgeID("xenbr0")
	seen := fdb.Now() - int64(time.Second)
	fp.Seed(
		bpf.FDBEntry{Bridge: br, Key: fdb.MakeKey(0, mac(1)), Ifindex: 7, Seen: seen},
		bpf.FDBEntry{Bridge: br, Key: fdb.MakeKey(0, mac(2)), Ifindex: 7, Seen: seen, Static: true}, // pinned anew from the file
		bpf.FDBEntry{Bridge: br, Key: fdb.MakeKey(0, mac(3)), Ifindex: 8, Seen: seen},               // behind a port that did not return
		bpf.FDBEntry{Bridge: br + 1, Key: fdb.MakeKey(0, mac(4)), Ifindex: 7, Seen: seen},           // another bridge's
	)
	r := newRig(t, testBridge, fp, "")
	r.links.add(7, "vif1.0", "veth", 1500)
	r.d.adopt()

	ps, ok := r.port("vif1.0")
	if !ok {
		t.Fatal("vif1.0 not attached")
	}
	b, _ := r.d.Bridge("xenbr0")
	var learned []string
	b.FDB().Range(func(e fdb.Entry) bool {
		if e.Port != ps.ID || e.LastSeen != seen {
			t.Errorf("%s on port %v seen %d, want on %v seen %d", e.Key, e.Port, e.LastSeen, ps.ID, seen)
		}
		learned = append(learned, e.Key.MAC().String())
		return true
	})
	if len(learned) != 1 || learned[0] != mac(1).String() {
		t.Errorf("learned %v, want only %s", learned, mac(1))
	}
	if got := r.calls(); !slices.Equal(got, []string{"attach vif1.0 tc", "sweep"}) {
		t.Errorf("fast path asked %q, want the port attached, then the sweep", got)
	}
	// What was not taken is dropped: a port that comes later starts cold.
	r.links.add(8, "vif2.0", "veth", 1500)
	r.d.adopt()
	b.FDB().Range(func(e fdb.Entry) bool {
		if e.Key == fdb.MakeKey(0, mac(3)) {
			t.Errorf("%s learned from the warm cache after the sweep", e.Key)
		}
		return true
	})
}

func TestNoSweepWithoutAListing(t *testing.T) {
	r := newRig(t, testBridge, fastpathtest.New(), "")
	r.links.listErr = errors.New("netlink is down")
	r.d.adopt()
	if got := r.calls(); len(got) != 0 {
		t.Errorf("fast path asked %q without a link listing; a sweep would drop what ports not yet seen still need", got)
	}
}

func TestStaleFastPathRemoved(t *testing.T) {
	pinned := t.TempDir()
	missing := filepath.Join(pinned, "nothing-here")
	for _, tt := range []struct {
		name   string
		yaml   string
		fp     *fastpathtest.FastPath
		pinDir string
		want   []string
	}{
		{"loaded: adopted, not removed", testBridge, fastpathtest.New(), pinned, nil},
		{"failed to load: removed", testBridge, nil, pinned, []string{pinned}},
		{"not wanted: removed", "fastpath: \"off\"\nport-type: afpacket\n" + testBridge, nil, pinned, []string{pinned}},
		{"nothing pinned: nothing to remove", testBridge, nil, missing, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.yaml, tt.fp, tt.pinDir)
			if !slices.Equal(r.cleaned, tt.want) {
				t.Errorf("cleaned up %q, want %q", r.cleaned, tt.want)
			}
		})
	}
}

func TestStaticMACsPinnedOnAttach(t *testing.T) {
	r := newRig(t, testBridge+"    static:\n      - {mac: \"02:00:00:00:00:09\", port: vif1.0}\n", fastpathtest.New(), "")
	r.links.add(7, "vif1.0", "veth", 1500)
	r.d.attach(7, "vif1.0")
	ps, _ := r.port("vif1.0")
	b, _ := r.d.Bridge("xenbr0")
	r.d.mirror.sync()
	var n int
	b.FDB().Range(func(e fdb.Entry) bool {
		n++
		if !e.Static || e.Port != ps.ID || e.Key != fdb.MakeKey(0, mac(9)) {
			t.Errorf("entry %+v", e)
		}
		return true
	})
	if n != 1 {
		t.Errorf("%d entries, want the static one", n)
	}
	if m := r.fp.FDB(); len(m) != 1 || m[0].Ifindex != 7 || !m[0].Static {
		t.Errorf("fast path's MAC map %+v, want the static MAC on ifindex 7", m)
	}
}

// Detaching a fast-path port takes its MACs out of the fast path's map;
// a userspace port is never detached from a fast path it is not in.
func TestDetach(t *testing.T) {
	r := newRig(t, testBridge+"    port-fastpath:\n      vif2.0: \"off\"\n", fastpathtest.New(), "")
	r.links.add(7, "vif1.0", "veth", 1500)
	r.links.add(8, "vif2.0", "veth", 1500)
	r.d.adopt()
	b, _ := r.d.Bridge("xenbr0")
	fast, _ := r.port("vif1.0")
	slow, _ := r.port("vif2.0")
	b.FDB().Learn(fdb.MakeKey(0, mac(1)), fast.ID, fdb.Now())
	b.FDB().Learn(fdb.MakeKey(0, mac(2)), slow.ID, fdb.Now())
	r.d.mirror.sync()
	if m := r.fp.FDB(); len(m) != 1 || m[0].Ifindex != 7 {
		t.Fatalf("MAC map %+v, want the fast port's MAC only", m)
	}

	before := len(r.calls())
	r.links.remove(8)
	r.links.remove(7)
	if err := r.d.Resync(); err != nil {
		t.Fatal(err)
	}
	r.d.mirror.sync()
	if got := r.calls()[before:]; !slices.Equal(got, []string{"detach vif1.0"}) {
		t.Errorf("fast path asked %q, want vif1.0 detached (vif2.0 never was in)", got)
	}
	if m := r.fp.FDB(); len(m) != 0 {
		t.Errorf("MAC map still has %+v", m)
	}
	if ps := b.Ports(); len(ps) != 0 {
		t.Errorf("ports left: %+v", ps)
	}
}

// A link renamed away from the bridge's patterns is detached; a link
// deleted and recreated under the same name attaches again.
func TestLinkEvents(t *testing.T) {
	r := newRig(t, testBridge, fastpathtest.New(), "")
	r.links.add(7, "vif1.0", "veth", 1500)
	r.d.adopt()
	r.links.add(7, "eth9", "veth", 1500)
	r.d.handle(netlink.LinkUpdate{Header: unix.NlMsghdr{Type: unix.RTM_NEWLINK}, Link: r.links.byIndex[7]})
	if _, ok := r.port("vif1.0"); ok {
		t.Error("renamed link still a port")
	}
	r.links.add(8, "vif1.0", "veth", 1500)
	r.d.handle(netlink.LinkUpdate{Header: unix.NlMsghdr{Type: unix.RTM_NEWLINK}, Link: r.links.byIndex[8]})
	if ps, ok := r.port("vif1.0"); !ok || ps.Ifindex != 8 {
		t.Errorf("recreated link: %+v %v", ps, ok)
	}
	link := r.links.byIndex[8]
	r.links.remove(8)
	r.d.handle(netlink.LinkUpdate{Header: unix.NlMsghdr{Type: unix.RTM_DELLINK}, Link: link})
	if _, ok := r.port("vif1.0"); ok {
		t.Error("deleted link still a port")
	}
}

func TestCloseLeavesTheFastPath(t *testing.T) {
	r := newRig(t, testBridge, fastpathtest.New(), "")
	r.links.add(7, "vif1.0", "veth", 1500)
	r.d.adopt()
	b, _ := r.d.Bridge("xenbr0")
	ps, _ := r.port("vif1.0")
	b.FDB().Learn(fdb.MakeKey(0, mac(1)), ps.ID, fdb.Now())
	r.d.mirror.sync()
	if err := r.d.Close(); err != nil {
		t.Fatal(err)
	}
	// The next daemon adopts the map: Close keeps it, and detaches nothing.
	if m := r.fp.FDB(); len(m) != 1 {
		t.Errorf("MAC map after Close: %+v", m)
	}
	if got := r.calls(); slices.Contains(got, "detach vif1.0") || got[len(got)-1] != "close" {
		t.Errorf("fast path asked %q", got)
	}
	if !r.socks.closed {
		t.Error("sockets not released")
	}
}

package vxlan

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/nstest"
)

func TestConfigDefaults(t *testing.T) {
	local := netip.MustParseAddr("10.0.0.1")
	for _, tc := range []struct {
		name string
		cfg  Config
		want Config
		err  string
	}{
		{"defaults", Config{VNI: 100, Local: local}, Config{Name: "vxlan100", VNI: 100, Local: local, Port: DefaultPort}, ""},
		{"kept", Config{Name: "vx", VNI: 7, Local: local, Port: 8472, MTU: 1450}, Config{Name: "vx", VNI: 7, Local: local, Port: 8472, MTU: 1450}, ""},
		{"mapped", Config{VNI: 1, Local: netip.MustParseAddr("::ffff:10.0.0.1")}, Config{Name: "vxlan1", VNI: 1, Local: local, Port: DefaultPort}, ""},
		{"vni zero", Config{Local: local}, Config{}, "VNI 0 out of range"},
		{"vni too big", Config{VNI: 1 << 24, Local: local}, Config{}, "out of range"},
		{"no local", Config{VNI: 1}, Config{}, "not a unicast address"},
		{"multicast local", Config{VNI: 1, Local: netip.MustParseAddr("239.1.1.1")}, Config{}, "not a unicast address"},
		{"long name", Config{Name: "vxlan-much-too-long", VNI: 1, Local: local}, Config{}, "longer than"},
		{"negative mtu", Config{VNI: 1, Local: local, MTU: -1}, Config{}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.withDefaults()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestOverhead(t *testing.T) {
	for addr, want := range map[string]int{"10.0.0.1": 50, "::ffff:10.0.0.1": 50, "fd00::1": 70} {
		if got := Overhead(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Overhead(%s) = %d, want %d", addr, got, want)
		}
	}
}

// underlay makes a namespace with an underlay veth dev carrying addr, and
// runs the rest of the test inside it.
func underlay(t *testing.T, addr string) {
	t.Helper()
	nstest.RequireRoot(t)
	ns := nstest.Netns(t, "vxu")
	peer := nstest.Netns(t, "vxp")
	nstest.Veth(t, ns, "ul0", peer, "ul1")
	nstest.Run(t, "ip", "-n", ns, "link", "set", "ul0", "mtu", "9000")
	nstest.Run(t, "ip", "-n", ns, "addr", "add", addr, "dev", "ul0")
	nstest.Enter(t, ns)
}

func TestCreateAdoptDelete(t *testing.T) {
	underlay(t, "10.9.0.1/24")
	cfg := Config{VNI: 4242, Local: netip.MustParseAddr("10.9.0.1"), Underlay: "ul0", MTU: 1400}
	d, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "vxlan4242" || d.VNI() != 4242 || d.Port() != DefaultPort || d.Underlay() != "ul0" ||
		d.MTU() != 1400 || d.Local() != cfg.Local || d.Learning() || !d.Owned() || d.Ifindex() == 0 {
		t.Fatalf("created %+v", d)
	}
	l, err := netlink.LinkByName("vxlan4242")
	if err != nil {
		t.Fatal(err)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		t.Error("device is not up")
	}

	// Idempotent: the same config adopts, a new MTU is applied.
	cfg.MTU = 1450
	d2, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Ifindex() != d.Ifindex() || d2.MTU() != 1450 {
		t.Fatalf("adopted %+v, want ifindex %d MTU 1450", d2, d.Ifindex())
	}

	// The switch's own device is replaced when the config changes.
	cfg.Port = 8472
	d3, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d3.Port() != 8472 || !d3.Owned() {
		t.Fatalf("replaced %+v", d3)
	}
	o, err := Open("vxlan4242")
	if err != nil || o.Port() != 8472 || o.Ifindex() != d3.Ifindex() {
		t.Fatalf("Open = %+v, %v", o, err)
	}

	if err := d3.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName("vxlan4242"); err == nil {
		t.Fatal("device still there after Delete")
	}
	if err := d3.Delete(); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestForeignDevice(t *testing.T) {
	underlay(t, "10.9.0.1/24")
	if err := netlink.LinkAdd(&netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "vxop"}, VxlanId: 5, SrcAddr: net.ParseIP("10.9.0.1"), Port: 4789, Learning: true}); err != nil {
		t.Fatal(err)
	}
	d, err := Open("vxop")
	if err != nil {
		t.Fatal(err)
	}
	if d.Owned() || d.VNI() != 5 || !d.Learning() {
		t.Fatalf("opened %+v", d)
	}
	// A matching config adopts an operator's device without owning it.
	d, err = Create(Config{Name: "vxop", VNI: 5, Local: netip.MustParseAddr("10.9.0.1"), Learning: true})
	if err != nil || d.Owned() {
		t.Fatalf("adopt: %+v, %v", d, err)
	}
	// A different one never touches it.
	_, err = Create(Config{Name: "vxop", VNI: 6, Local: netip.MustParseAddr("10.9.0.1")})
	if err == nil || !strings.Contains(err.Error(), "VNI 5, not 6") || !strings.Contains(err.Error(), "not created by xswitch") {
		t.Fatalf("mismatch: %v", err)
	}
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("br0"); err == nil || !strings.Contains(err.Error(), "not vxlan") {
		t.Fatalf("Open(bridge): %v", err)
	}
	if _, err := Create(Config{Name: "br0", VNI: 1, Local: netip.MustParseAddr("10.9.0.1")}); err == nil {
		t.Fatal("Create adopted a bridge")
	}
}

func TestFDB(t *testing.T) {
	underlay(t, "10.9.0.1/24")
	d, err := Create(Config{VNI: 10, Local: netip.MustParseAddr("10.9.0.1"), Underlay: "ul0"})
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	b, c := netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("10.9.0.3")

	for range 2 { // each call is idempotent
		if err := d.AddFloodVTEP(b); err != nil {
			t.Fatal(err)
		}
		if err := d.AddFloodVTEP(c); err != nil {
			t.Fatal(err)
		}
		if err := d.AddRemoteMAC(mac, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AddRemoteMAC(mac, c); err != nil { // moved
		t.Fatal(err)
	}
	flood, err := d.FloodVTEPs()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(flood, netip.Addr.Compare)
	if !slices.Equal(flood, []netip.Addr{b, c}) {
		t.Fatalf("flood list %v, want [%v %v]", flood, b, c)
	}
	if got := remotes(t, d); len(got) != 1 || got[mac.String()] != c {
		t.Fatalf("remote MACs %v, want %v at %v", got, mac, c)
	}
	// The kernel's own view agrees.
	out := nstest.Run(t, "bridge", "fdb", "show", "dev", "vxlan10")
	for _, want := range []string{"00:00:00:00:00:00 dst 10.9.0.2", "00:00:00:00:00:00 dst 10.9.0.3", mac.String() + " dst 10.9.0.3"} {
		if !strings.Contains(out, want) {
			t.Errorf("bridge fdb show lacks %q:\n%s", want, out)
		}
	}

	for range 2 {
		if err := d.DelFloodVTEP(b); err != nil {
			t.Fatal(err)
		}
		if err := d.DelRemoteMAC(mac); err != nil {
			t.Fatal(err)
		}
	}
	flood, err = d.FloodVTEPs()
	if err != nil || !slices.Equal(flood, []netip.Addr{c}) {
		t.Fatalf("flood list %v, %v; want [%v]", flood, err, c)
	}
	if got := remotes(t, d); len(got) != 0 {
		t.Fatalf("remote MACs %v after delete", got)
	}

	if err := d.AddRemoteMAC(net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, b); err == nil {
		t.Error("AddRemoteMAC took a multicast MAC")
	}
	if err := d.AddFloodVTEP(netip.Addr{}); err == nil {
		t.Error("AddFloodVTEP took no address")
	}
}

func remotes(t *testing.T, d *Device) map[string]netip.Addr {
	t.Helper()
	es, err := d.FDB()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]netip.Addr{}
	for _, e := range es {
		if !e.Flood() {
			m[e.MAC.String()] = e.VTEP
		}
	}
	return m
}

func TestRemoveOwned(t *testing.T) {
	underlay(t, "10.9.0.1/24")
	if _, err := Create(Config{VNI: 1, Local: netip.MustParseAddr("10.9.0.1")}); err != nil {
		t.Fatal(err)
	}
	nstest.Run(t, "ip", "link", "add", "vxop", "type", "vxlan", "id", "2", "local", "10.9.0.1", "dstport", "4789")
	removed, err := RemoveOwned()
	if err != nil || !slices.Equal(removed, []string{"vxlan1"}) {
		t.Fatalf("RemoveOwned = %v, %v; want [vxlan1]", removed, err)
	}
	if _, err := Open("vxop"); err != nil {
		t.Fatalf("the operator's device went: %v", err)
	}
}

func TestIPv6Underlay(t *testing.T) {
	underlay(t, "fd00:9::1/64")
	d, err := Create(Config{VNI: 6, Local: netip.MustParseAddr("fd00:9::1"), Underlay: "ul0"})
	if err != nil {
		t.Fatal(err)
	}
	// The kernel sizes the device for the larger IPv6 overhead.
	if d.Overhead() != Overhead6 || d.MTU() != 9000-Overhead6 {
		t.Errorf("overhead %d, MTU %d; want %d, %d", d.Overhead(), d.MTU(), Overhead6, 9000-Overhead6)
	}
	vtep := netip.MustParseAddr("fd00:9::2")
	if err := d.AddFloodVTEP(vtep); err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x66}
	if err := d.AddRemoteMAC(mac, vtep); err != nil {
		t.Fatal(err)
	}
	es, err := d.FDB()
	if err != nil || len(es) != 2 {
		t.Fatalf("FDB = %v, %v", es, err)
	}
	for _, e := range es {
		if e.VTEP != vtep {
			t.Errorf("entry %v at %v, want %v", e.MAC, e.VTEP, vtep)
		}
	}
}

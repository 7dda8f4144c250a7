package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/hostport"
	"github.com/xswitch/xswitch/internal/topo"
)

// mapNet is the supernet of the map's subnets, 10.77.B.0/24 for bridge
// xenbrB. Every interface of the map reaches all of it on-link, so a ping to
// another bridge's address is an ARP on the sender's own bridge, never a
// route: only the switch keeps the bridges apart, and a leak would answer.
var mapNet = netip.MustParsePrefix("10.77.0.0/16")

// mapIface is one interface of the network map: a host port of dom0, a LAN
// host's link or a guest's NIC.
type mapIface struct {
	who    string // for messages: "dom0 eth1", "dom6 eth1", "LAN 2"
	ns     *topo.Netns
	ifname string
	bridge int // N of xenbrN
	addr   netip.Addr
	mac    net.HardwareAddr
	port   string // the switch port its frames enter by
}

// mapAddr is the address of host number host on bridge xenbrB's subnet.
func mapAddr(bridge, host int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, byte(bridge), byte(host)}), 24)
}

// TestXenNetworkMap builds the network map of "Networking in Xen 4.x" and
// runs xswitchd on it in auto mode, without a configuration file:
//
//	peth0 ─ xenbr0 ─ eth0 (dom0), vif1.0 (dom1 eth0), vif2.0, vif4.0, vif6.0 (dom6 eth0)
//	peth1 ─ xenbr1 ─ eth1 (dom0): the DRBD link to the peer node, dom0 only
//	peth2 ─ xenbr2 ─ eth2 (dom0), vif1.2 (dom1 eth1), vif6.2 (dom6 eth1)
//
// Each pethN is wired to a LAN namespace of its own; xswitchd makes the host
// ports ethN, which get pethN's MAC and dom0's addresses. Every interface
// must reach every other of its bridge and nothing of the others, each MAC
// must be learned on its own port and bridge only, and a 256 MiB TCP stream
// from dom0 to the peer node crosses xenbr1 intact.
func TestXenNetworkMap(t *testing.T) {
	d := newDom0(t, "auto")
	var ifaces []mapIface
	var lans []*topo.Guest
	for b := range 3 {
		lan, err := d.host.AddUplink(fmt.Sprintf("peth%d", b), topo.MAC(250+b), mapAddr(b, 254))
		if err != nil {
			t.Fatal(err)
		}
		lans = append(lans, lan)
		ifaces = append(ifaces, mapIface{fmt.Sprintf("LAN %d", b), lan.Netns, "eth0", b, lan.Addr(), lan.MAC(), lan.Vif()})
	}
	// The guests of the page: domain D's NIC N is vifD.N in dom0 and ethN
	// in the guest; its address on xenbrB's subnet is 10.77.B.(10+D).
	guests := []struct {
		dom     int
		bridges []int // bridge of the guest's eth0, eth1, …
	}{{1, []int{0, 2}}, {2, []int{0}}, {4, []int{0}}, {6, []int{0, 2}}}
	var nss []*topo.Netns
	for _, gs := range guests {
		var g *topo.Guest
		for n, b := range gs.bridges {
			vif, ifname, addr := fmt.Sprintf("vif%d.%d", gs.dom, b), fmt.Sprintf("eth%d", n), mapAddr(b, 10+gs.dom)
			mac := topo.MAC(10*gs.dom + n)
			if n == 0 {
				g = d.guest(vif, 10*gs.dom, addr.String())
			} else if _, err := g.AddNIC(vif, ifname, mac, addr); err != nil {
				t.Fatal(err)
			}
			ifaces = append(ifaces, mapIface{fmt.Sprintf("dom%d %s", gs.dom, ifname), g.Netns, ifname, b, addr.Addr(), mac, vif})
		}
		nss = append(nss, g.Netns)
	}
	d.start("")

	// The host ports come from xswitchd; dom0 then configures them as
	// ifupdown would.
	for b := range 3 {
		eth := fmt.Sprintf("eth%d", b)
		var mac net.HardwareAddr
		d.eventually(5*time.Second, "host port "+eth, func() error {
			return d.host.Do(func() error {
				l, err := netlink.LinkByName(eth)
				if err == nil {
					mac = l.Attrs().HardwareAddr
				}
				return err
			})
		})
		if err := d.host.AddAddr(eth, mapAddr(b, 10)); err != nil {
			t.Fatal(err)
		}
		ifaces = append(ifaces, mapIface{"dom0 " + eth, d.host.Netns, eth, b, mapAddr(b, 10).Addr(), mac, hostport.Peer(eth)})
	}
	d.waitPorts(5*time.Second,
		"peth0=xenbr0", hostport.Peer("eth0")+"=xenbr0", "vif1.0=xenbr0", "vif2.0=xenbr0", "vif4.0=xenbr0", "vif6.0=xenbr0",
		"peth1=xenbr1", hostport.Peer("eth1")+"=xenbr1",
		"peth2=xenbr2", hostport.Peer("eth2")+"=xenbr2", "vif1.2=xenbr2", "vif6.2=xenbr2")

	// Nothing but the switch may carry a frame between bridges: no
	// namespace forwards, none answers ARP for an address of another of its
	// links, and every link reaches the whole map on-link (metrics apart,
	// as IPv4 keeps one route per prefix and metric).
	nss = append(nss, d.host.Netns)
	for _, lan := range lans {
		nss = append(nss, lan.Netns)
	}
	for _, ns := range nss {
		for _, kv := range [][2]string{{"net/ipv4/ip_forward", "0"}, {"net/ipv4/conf/all/arp_ignore", "1"}} {
			if err := ns.SetSysctl(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, f := range ifaces {
		if err := f.ns.AddRoute(mapNet, f.ifname, 1000+i); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	pingMatrix(t, ifaces)
	t.Logf("%d interfaces, each pinged from every other namespace, in %v", len(ifaces), time.Since(start).Round(time.Millisecond))

	// Every interface's MAC was learned on its own bridge, on its own
	// port, and on no other bridge.
	fdb := d.fdb()
	for _, f := range ifaces {
		for b := range 3 {
			got := fdb[fmt.Sprintf("xenbr%d %s", b, f.mac)]
			switch {
			case b == f.bridge && got != f.port:
				t.Errorf("xenbr%d learned %s's MAC %s on %q, want %s", b, f.who, f.mac, got, f.port)
			case b != f.bridge && got != "":
				t.Errorf("xenbr%d learned %s's MAC %s (of xenbr%d) on %s", b, f.who, f.mac, f.bridge, got)
			}
		}
	}

	// dom0's own view: ethN carries pethN's MAC and its route to LAN N
	// goes out of ethN.
	err := d.host.Do(func() error {
		for b := range 3 {
			eth, peth := fmt.Sprintf("eth%d", b), fmt.Sprintf("peth%d", b)
			l, err := netlink.LinkByName(eth)
			if err != nil {
				return err
			}
			p, err := netlink.LinkByName(peth)
			if err != nil {
				return err
			}
			mac := l.Attrs().HardwareAddr
			if mac.String() != p.Attrs().HardwareAddr.String() {
				t.Errorf("host port %s has MAC %s, want %s's %s", eth, mac, peth, p.Attrs().HardwareAddr)
			}
			routes, err := netlink.RouteGet(lans[b].Addr().AsSlice())
			if err != nil {
				return err
			}
			if len(routes) != 1 || routes[0].LinkIndex != l.Attrs().Index {
				t.Errorf("dom0's route to LAN %d (%s): %+v, want through %s (index %d)", b, lans[b].Addr(), routes, eth, l.Attrs().Index)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	drbdTransfer(t, d, lans[1])
	t.Logf("256 MiB from dom0 to the peer node in %v", time.Since(start).Round(time.Millisecond))
}

// received matches ping's summary line.
var received = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pingMatrix pings every address of the map from every interface in
// another namespace, bound to that interface: two echoes must come back
// within the bridge, none across.
func pingMatrix(t *testing.T, ifaces []mapIface) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, from := range ifaces {
		for _, to := range ifaces {
			if from.ns == to.ns {
				continue
			}
			same := from.bridge == to.bridge
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				// Across bridges an echo needs no more than the ARP it
				// waits for, so a second is enough to see a leak.
				args := []string{"-n", "-q", "-I", from.ifname, "-c", "2", "-i", "0.2", "-w", "1", to.addr.String()}
				if same {
					args[len(args)-2] = "5"
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				out, _ := from.ns.Command(ctx, "ping", args...).CombinedOutput()
				m := received.FindSubmatch(out)
				if m == nil {
					t.Errorf("ping %s (%s) from %s: no summary:\n%s", to.addr, to.who, from.who, out)
					return
				}
				n, _ := strconv.Atoi(string(m[2]))
				switch {
				case same && n != 2:
					t.Errorf("xenbr%d: %s got %d of 2 echoes from %s (%s)", from.bridge, from.who, n, to.who, to.addr)
				case !same && n != 0:
					t.Errorf("%s on xenbr%d got %d echoes from %s (%s) on xenbr%d", from.who, from.bridge, n, to.who, to.addr, to.bridge)
				}
			})
		}
	}
	wg.Wait()
}

// drbdTransfer sends 256 MiB from dom0 to the peer node over xenbr1, the
// DRBD link, and checks that it arrives intact and that the switch took it
// from dom0's eth1 and from no other host port.
func drbdTransfer(t *testing.T, d *dom0, peer *topo.Guest) {
	t.Helper()
	const size = 256 << 20
	before := hostPortBytes(t, d)
	l, err := peer.Listen("tcp", peer.Addr().String()+":7788")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := receiveSum(l)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	conn, err := d.host.Dial(ctx, "tcp", peer.Addr().String()+":7788")
	if err != nil {
		t.Fatal(err)
	}
	if local := conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); local != mapAddr(1, 10).Addr() {
		t.Errorf("dom0 sends to the peer node from %s, want eth1's %s", local, mapAddr(1, 10).Addr())
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	w, err := sendRandom(conn, [32]byte{'d', 'r', 'b', 'd'}, size)
	if err != nil {
		t.Fatalf("dom0 → peer node: %v", err)
	}
	select {
	case g := <-got:
		if g != w {
			t.Fatalf("the peer node received %s, dom0 sent %s", g, w)
		}
	case <-ctx.Done():
		t.Fatal("the transfer did not finish within 60s")
	}
	after := hostPortBytes(t, d)
	for b := range 3 {
		in := after[b] - before[b]
		switch {
		case b == 1 && in < size:
			t.Errorf("xenbr1 took %d bytes from dom0's eth1, less than the %d of the transfer", in, size)
		case b != 1 && in > size/16:
			t.Errorf("xenbr%d took %d bytes from dom0's eth%d during the transfer to the peer node on xenbr1", b, in, b)
		}
	}
}

// hostPortBytes reads how many bytes xenbr0, xenbr1 and xenbr2 took from
// dom0's eth0, eth1 and eth2, in the fast path and in userspace.
func hostPortBytes(t *testing.T, d *dom0) [3]uint64 {
	t.Helper()
	ports := d.ports()
	var n [3]uint64
	for b := range n {
		p := ports[hostport.Peer(fmt.Sprintf("eth%d", b))]
		n[b] = p.RxBytes + p.FastPathBytes
	}
	return n
}

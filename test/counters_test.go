package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// TestPortCountersMatchTheWire sends known numbers of frames, unicast both
// ways and floods, through the path of each mode (userspace, TC, XDP), and
// checks that every port's receive and transmit series grew by what its
// guest's interface sent and received: a frame is counted whichever path
// took it, and once.
func TestPortCountersMatchTheWire(t *testing.T) { forEachMode(t, testPortCountersMatchTheWire) }

func testPortCountersMatchTheWire(t *testing.T, mode string) {
	d := newDom0(t, mode)
	guests := []*topo.Guest{
		d.guest("vif4.0", 1, "10.14.0.1/24"),
		d.guest("vif5.0", 2, "10.14.0.2/24"),
		d.guest("vif6.0", 3, "10.14.0.3/24"),
	}
	a, b, c := guests[0], guests[1], guests[2]
	d.start("")
	d.waitPorts(2*time.Second, "vif4.0=xenbr0", "vif5.0=xenbr0", "vif6.0=xenbr0")
	caps := []*topo.Capture{capture(t, a), capture(t, b), capture(t, c)}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	// Each speaks first, so that every MAC is known before the count.
	for i, g := range guests {
		inject(t, g, marker(bcast, g.MAC(), fmt.Sprint("hello-", i)))
	}
	for i, cp := range caps {
		exactly(t, cp, fmt.Sprint("guest ", i), taggedPrefix("hello-"), 2)
	}
	wireBefore, before := d.wire(guests), d.scrape()

	// sized is a marker frame of size bytes.
	sized := func(dst, src net.HardwareAddr, tag string, size int) []byte {
		f := marker(dst, src, tag)
		return append(f, make([]byte, size-len(f))...)
	}
	flows := []struct {
		from, to *topo.Guest
		dst      net.HardwareAddr
		n, size  int
	}{
		{a, b, b.MAC(), 300, 60},
		{b, a, a.MAC(), 200, 100},
		{a, c, c.MAC(), 100, 1000},
		{c, nil, bcast, 50, 80},
	}
	for i, f := range flows {
		for j := range f.n {
			inject(t, f.from, sized(f.dst, f.from.MAC(), fmt.Sprintf("flow%d-%d", i, j), f.size))
		}
	}
	want := map[*topo.Guest][4]uint64{} // rx, rx bytes, tx, tx bytes of the port, from the flows
	add := func(g *topo.Guest, i int, n, size int) {
		w := want[g]
		w[i] += uint64(n)
		w[i+1] += uint64(n * size)
		want[g] = w
	}
	for i, f := range flows {
		add(f.from, 0, f.n, f.size)
		for j, g := range guests {
			if g == f.to || (f.to == nil && g != f.from) {
				add(g, 2, f.n, f.size)
				exactly(t, caps[j], fmt.Sprintf("guest %d, flow %d", j, i), taggedPrefix(fmt.Sprintf("flow%d-", i)), f.n)
			}
		}
	}
	wireAfter, after := d.wire(guests), d.scrape()
	ports := d.ports()

	for i, g := range guests {
		labels := map[string]string{"bridge": "xenbr0", "port": g.Vif()}
		delta := func(name string) uint64 {
			return uint64(value(t, after, name, labels) - value(t, before, name, labels))
		}
		w := wireAfter[i].Sub(wireBefore[i])
		for _, c := range []struct {
			series    string
			got, wire uint64
			fromFlows uint64
		}{
			// What the guest sent, the port received; what it received,
			// the port sent.
			{"xswitch_port_receive_packets_total", delta("xswitch_port_receive_packets_total"), w.TxPackets, want[g][0]},
			{"xswitch_port_receive_bytes_total", delta("xswitch_port_receive_bytes_total"), w.TxBytes, want[g][1]},
			{"xswitch_port_transmit_packets_total", delta("xswitch_port_transmit_packets_total"), w.RxPackets, want[g][2]},
			{"xswitch_port_transmit_bytes_total", delta("xswitch_port_transmit_bytes_total"), w.RxBytes, want[g][3]},
		} {
			// A veth whose peer has an XDP program counts what it sends
			// without the Ethernet header: those bytes are checked
			// against the flows alone.
			if c.series == "xswitch_port_receive_bytes_total" && (fastPath(mode) == "xdp" || isAFXDP(mode)) {
				c.wire = c.got
			}
			if c.got != c.wire || c.wire != c.fromFlows {
				t.Errorf("%s %s: grew by %d; the guest's interface counted %d, the flows make %d", g.Vif(), c.series, c.got, c.wire, c.fromFlows)
			}
		}
		if p := ports[g.Vif()]; p.TxPackets != uint64(value(t, after, "xswitch_port_transmit_packets_total", labels)) {
			t.Errorf("%s: /v1/ports tx_packets %d, /metrics %v", g.Vif(), p.TxPackets, value(t, after, "xswitch_port_transmit_packets_total", labels))
		}
	}
	// The unicast flows took the mode's path: the fast path's counters have
	// them, and none reached userspace.
	if fastPath(mode) != "off" {
		var fast, xdp float64
		for _, g := range guests {
			labels := map[string]string{"bridge": "xenbr0", "port": g.Vif()}
			fast += value(t, after, "xswitch_port_fastpath_packets_total", labels) - value(t, before, "xswitch_port_fastpath_packets_total", labels)
			xdp += value(t, after, "xswitch_port_fastpath_xdp_packets_total", labels) - value(t, before, "xswitch_port_fastpath_xdp_packets_total", labels)
		}
		if fast != 600 {
			t.Errorf("the fast path forwarded %v frames, want the 600 of the unicast flows", fast)
		}
		if fastPath(mode) == "xdp" && xdp != 600 {
			t.Errorf("XDP forwarded %v frames, want the 600 of the unicast flows", xdp)
		}
	}
}

// wire reads the counters of the guests' interfaces.
func (d *dom0) wire(guests []*topo.Guest) []topo.LinkStats {
	d.t.Helper()
	out := make([]topo.LinkStats, len(guests))
	for i, g := range guests {
		s, err := g.LinkStats()
		if err != nil {
			d.t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

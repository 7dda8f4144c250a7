// Package topo builds test topologies of a Xen dom0 in network namespaces,
// for the end-to-end tests, the benchmarks and the demo.
//
// A Host is a namespace that plays dom0: the switch under test runs inside
// it, so its interface names (vif7.0, peth0) collide neither with the real
// machine's nor with those of tests running in parallel. A Guest is a
// namespace that plays a domU: its eth0 is the peer of a veth whose end in
// the host is named like a Xen vif. An uplink is the same thing with the
// host end named pethN and the far end playing another machine on the LAN.
//
// Every namespace is named "xs<pid>-…" and mounted under /run/netns, so
// `ip netns exec` and `nsenter` reach it; NewHost deletes the namespaces of
// earlier runs whose process is gone. Everything here needs root.
package topo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
)

// Host is a namespace that plays dom0, and the owner of every namespace
// hanging off it.
type Host struct {
	*Netns

	mu sync.Mutex
	// guests holds every guest, uplink and wire end not yet removed.
	guests map[*Guest]struct{}
	// closed is set by Close; no guest can be added afterwards.
	closed bool
}

// NewHost creates a host namespace named after prefix (at most 16 letters,
// digits or '_'), with lo up. The first call in a process also deletes the
// namespaces left by earlier runs that died; failing to is not an error.
func NewHost(prefix string) (*Host, error) {
	name, err := hostName(prefix)
	if err != nil {
		return nil, err
	}
	removeStaleOnce.Do(func() { _ = removeStale() })
	ns, err := createNetns(name)
	if err != nil {
		return nil, err
	}
	return &Host{Netns: ns, guests: make(map[*Guest]struct{})}, nil
}

// Close deletes every namespace the host created and then the host's own;
// the veths in them go too. It may be called more than once, and after a
// failed test. A process still running inside a namespace (a switch started
// with Command) keeps it alive, unnamed, until the process exits.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	guests := h.guests
	h.guests = nil
	h.mu.Unlock()

	var errs []error
	for g := range guests {
		errs = append(errs, g.remove())
	}
	errs = append(errs, h.Netns.close())
	return errors.Join(errs...)
}

// AddGuest starts a domU: a new namespace whose eth0 (MAC mac, address addr,
// up, default offloads) is the peer of a veth whose end vif is in the host,
// up and without address. A nil mac lets the kernel pick one; an invalid
// (zero) addr leaves eth0 without address. IPv6 is enabled on eth0 only when
// addr is an IPv6 one, so an IPv4 guest sends nothing of its own accord.
// Adding a guest while the switch runs is how a test hot-plugs a vif.
func (h *Host) AddGuest(vif string, mac net.HardwareAddr, addr netip.Prefix) (*Guest, error) {
	return h.addPeer("g", vif, mac, addr)
}

// AddUplink is AddGuest for a physical NIC: the host end is named peth and
// the namespace at the other end plays another machine on the LAN.
func (h *Host) AddUplink(peth string, mac net.HardwareAddr, addr netip.Prefix) (*Guest, error) {
	return h.addPeer("u", peth, mac, addr)
}

// AddWire joins two new namespaces by a bare veth, eth0 to eth0, with no
// host end (their Vif is ""): the baseline a switch is measured against.
func (h *Host) AddWire(macA net.HardwareAddr, addrA netip.Prefix, macB net.HardwareAddr, addrB netip.Prefix) (a, b *Guest, err error) {
	if err := h.checkOpen(); err != nil {
		return nil, nil, err
	}
	a, err = h.newGuest("w", "", addrA)
	if err != nil {
		return nil, nil, err
	}
	b, err = h.newGuest("w", "", addrB)
	if err != nil {
		h.drop(a)
		return nil, nil, err
	}
	err = a.withNetlink("add veth eth0 (peer eth0 in netns "+b.name+")", func(nl *netlink.Handle) error {
		return addVeth(nl, "eth0", macA, "eth0", macB, b)
	})
	if err == nil {
		err = a.configure(macA)
	}
	if err == nil {
		err = b.configure(macB)
	}
	if err != nil {
		h.drop(a)
		h.drop(b)
		return nil, nil, err
	}
	return a, b, nil
}

func (h *Host) addPeer(kind, hostEnd string, mac net.HardwareAddr, addr netip.Prefix) (*Guest, error) {
	if err := h.checkOpen(); err != nil {
		return nil, err
	}
	g, err := h.newGuest(kind, hostEnd, addr)
	if err != nil {
		return nil, err
	}
	err = h.withNetlink("add veth "+hostEnd+" (peer eth0 in netns "+g.name+")", func(nl *netlink.Handle) error {
		if err := addVeth(nl, hostEnd, nil, "eth0", mac, g); err != nil {
			return err
		}
		l, err := nl.LinkByName(hostEnd)
		if err != nil {
			return err
		}
		return nl.LinkSetUp(l)
	})
	if err == nil {
		err = g.configure(mac)
	}
	if err != nil {
		h.drop(g)
		return nil, err
	}
	return g, nil
}

// newGuest creates a guest's namespace and registers it, so that Close
// deletes it even if the caller fails before adding its links.
func (h *Host) newGuest(kind, vif string, addr netip.Prefix) (*Guest, error) {
	ns, err := createNetns(childName(h.name, kind))
	if err != nil {
		return nil, err
	}
	g := &Guest{Netns: ns, host: h, vif: vif, prefix: addr, injectFD: -1, captures: make(map[*Capture]struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.Join(fmt.Errorf("topo: netns %s: %w", h.name, ErrRemoved), ns.close())
	}
	h.guests[g] = struct{}{}
	return g, nil
}

// drop undoes a half-built guest; its error is secondary to the one that
// made the caller give up.
func (h *Host) drop(g *Guest) {
	h.forget(g)
	_ = g.remove()
}

func (h *Host) forget(g *Guest) {
	h.mu.Lock()
	delete(h.guests, g)
	h.mu.Unlock()
}

func (h *Host) checkOpen() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("topo: netns %s: %w", h.name, ErrRemoved)
	}
	return nil
}

// addVeth creates, through nl, a veth whose end name stays in nl's
// namespace and whose end peer goes into the namespace of g.
func addVeth(nl *netlink.Handle, name string, mac net.HardwareAddr, peer string, peerMAC net.HardwareAddr, g *Guest) error {
	g.Netns.mu.RLock()
	defer g.Netns.mu.RUnlock()
	if g.fd < 0 {
		return ErrRemoved
	}
	return nl.LinkAdd(&netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: name, HardwareAddr: mac},
		PeerName:         peer,
		PeerHardwareAddr: peerMAC,
		PeerNamespace:    netlink.NsFd(g.fd),
	})
}

// AddBridge creates a Linux bridge in the host (STP off, no address), makes
// it the master of ports and brings it up: the kernel's switch, for tests of
// this package and for comparison in the benchmarks.
func (h *Host) AddBridge(name string, ports ...string) error {
	return h.withNetlink("add bridge "+name, func(nl *netlink.Handle) (err error) {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := nl.LinkAdd(br); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = nl.LinkDel(br)
			}
		}()
		for _, p := range ports {
			l, err := nl.LinkByName(p)
			if err != nil {
				return fmt.Errorf("port %s: %w", p, err)
			}
			if err := nl.LinkSetMaster(l, br); err != nil {
				return fmt.Errorf("port %s: %w", p, err)
			}
		}
		return nl.LinkSetUp(br)
	})
}

// LinkStats reads the counters of a link in the host, e.g. a vif.
func (h *Host) LinkStats(ifname string) (LinkStats, error) { return h.linkStats(ifname) }

// SetLinkUp brings a link of the host up.
func (h *Host) SetLinkUp(ifname string) error { return h.setLink(ifname, true) }

// SetLinkDown brings a link of the host down; the carrier of its veth peer
// goes down with it.
func (h *Host) SetLinkDown(ifname string) error { return h.setLink(ifname, false) }

// HTTPClient returns a client whose connections are made inside the host
// namespace, e.g. to scrape the switch's /metrics on 127.0.0.1. It uses no
// proxy and gives up on a request after 30 s.
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return h.Dial(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     10 * time.Second,
		},
	}
}

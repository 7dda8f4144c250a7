package topo

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo/netns"
)

// Guest is a namespace that plays a domU (or, made by AddUplink, another
// machine on the LAN): its eth0 is the far end of a veth from the host.
type Guest struct {
	*Netns

	host *Host
	// vif is the veth's end in the host; "" for an end of AddWire.
	vif    string
	prefix netip.Prefix
	// mac is eth0's address as the kernel reports it; set before the guest
	// is handed out, read-only afterwards.
	mac net.HardwareAddr

	mu sync.Mutex
	// injectFD is the packet socket Inject sends on, opened on first use;
	// -1 until then and after Remove. Held under mu while in use.
	injectFD int
	// captures are the open captures, closed by Remove; nil after Remove.
	captures map[*Capture]struct{}
	// nics are the host ends of the veths AddNIC added, deleted by Remove.
	nics    []string
	removed bool
}

// Vif is the name of the guest's veth end in the host (vif7.0, peth0).
func (g *Guest) Vif() string { return g.vif }

// MAC is eth0's hardware address.
func (g *Guest) MAC() net.HardwareAddr { return g.mac }

// Addr is eth0's address; the zero Addr if it has none.
func (g *Guest) Addr() netip.Addr { return g.prefix.Addr() }

// Prefix is eth0's address with its prefix length.
func (g *Guest) Prefix() netip.Prefix { return g.prefix }

// LinkStats reads the counters of the guest's eth0.
func (g *Guest) LinkStats() (LinkStats, error) { return g.linkStats("eth0") }

// configure sets eth0's address and brings it up, then records its MAC.
func (g *Guest) configure(mac net.HardwareAddr) (err error) {
	g.mac, err = g.configureLink("eth0", g.prefix, mac)
	return err
}

// configureLink gives the guest's link ifname the address addr (none if it
// is invalid), enables IPv6 on it if addr is an IPv6 one, brings it up and
// returns its MAC, which must be mac unless mac is nil.
func (g *Guest) configureLink(ifname string, addr netip.Prefix, mac net.HardwareAddr) (net.HardwareAddr, error) {
	if addr.IsValid() && addr.Addr().Is6() && !addr.Addr().Is4In6() {
		if err := g.Do(func() error {
			return writeSysctl("net/ipv6/conf/"+ifname+"/disable_ipv6", "0")
		}); err != nil {
			return nil, fmt.Errorf("topo: enable IPv6 on %s in netns %s: %w", ifname, g.name, err)
		}
	}
	var got net.HardwareAddr
	err := g.withNetlink("configure "+ifname, func(nl *netlink.Handle) error {
		l, err := nl.LinkByName(ifname)
		if err != nil {
			return err
		}
		if addr.IsValid() {
			if err := nl.AddrAdd(l, netlinkAddr(addr)); err != nil {
				return fmt.Errorf("add address %s: %w", addr, err)
			}
		}
		if err := nl.LinkSetUp(l); err != nil {
			return err
		}
		l, err = nl.LinkByName(ifname)
		if err != nil {
			return err
		}
		got = l.Attrs().HardwareAddr
		if mac != nil && got.String() != mac.String() {
			return fmt.Errorf("%s has MAC %s, want %s", ifname, got, mac)
		}
		return nil
	})
	return got, err
}

// Remove stops the guest: it closes the guest's captures and socket,
// deletes its veth (the vif is gone from the host when Remove returns, as
// when a domU stops) and its namespace. Sockets made by Listen or Dial keep
// the namespace alive, without links, until they are closed. Removing twice
// is not an error.
func (g *Guest) Remove() error {
	g.host.forget(g)
	return g.remove()
}

func (g *Guest) remove() error {
	g.mu.Lock()
	if g.removed {
		g.mu.Unlock()
		return nil
	}
	g.removed = true
	captures := g.captures
	g.captures = nil
	nics := g.nics
	if g.injectFD >= 0 {
		unix.Close(g.injectFD)
		g.injectFD = -1
	}
	g.mu.Unlock()

	var errs []error
	for c := range captures {
		errs = append(errs, c.Close())
	}
	// The kernel destroys a dead namespace's devices asynchronously, so the
	// veth is deleted by hand for the vif to be gone when Remove returns.
	for _, vif := range nics {
		if err := g.host.removeLink(vif); !errors.Is(err, ErrRemoved) {
			errs = append(errs, err)
		}
	}
	if g.vif != "" {
		if err := g.host.removeLink(g.vif); !errors.Is(err, ErrRemoved) {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, g.removeLink("eth0"))
	}
	errs = append(errs, g.Netns.close())
	return errors.Join(errs...)
}

// Inject sends frames, complete from the destination MAC on and without
// FCS, out of eth0 as the guest's kernel would send them.
func (g *Guest) Inject(frames ...[]byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed {
		return fmt.Errorf("topo: inject on eth0 in netns %s: %w", g.name, ErrRemoved)
	}
	if g.injectFD < 0 {
		fd, err := g.openPacket("eth0", false)
		if err != nil {
			return err
		}
		g.injectFD = fd
	}
	for i, f := range frames {
		if _, err := unix.Write(g.injectFD, f); err != nil {
			return fmt.Errorf("topo: inject frame %d of %d (%d bytes) on eth0 in netns %s: %w", i+1, len(frames), len(f), g.name, err)
		}
	}
	return nil
}

// Capture starts recording the frames that arrive on eth0 (see Capture).
func (g *Guest) Capture() (*Capture, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed {
		return nil, fmt.Errorf("topo: capture on eth0 in netns %s: %w", g.name, ErrRemoved)
	}
	fd, err := g.openPacket("eth0", true)
	if err != nil {
		return nil, err
	}
	c := newCapture(fd, g.name+"/eth0")
	c.onClose = func() {
		g.mu.Lock()
		delete(g.captures, c)
		g.mu.Unlock()
	}
	g.captures[c] = struct{}{}
	return c, nil
}

// openPacket opens an AF_PACKET socket bound to ifname (see
// netns.OpenPacket).
func (n *Netns) openPacket(ifname string, recv bool) (int, error) {
	fd := -1
	err := n.Do(func() (err error) {
		fd, err = netns.OpenPacket(ifname, recv)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("topo: netns %s: %w", n.name, err)
	}
	return fd, nil
}

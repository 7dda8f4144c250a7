package topo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo/netns"
)

// ErrRemoved is returned by operations on a namespace that was deleted.
var ErrRemoved = errors.New("network namespace removed")

// Netns is a named network namespace under /run/netns. Host and Guest embed it.
type Netns struct {
	name string
	path string

	// mu guards fd and nl: both hold a reference on the namespace, and a
	// closed fd number may be reused by an unrelated file, so every use
	// holds mu for reading and close holds it for writing.
	mu sync.RWMutex
	// fd is an open descriptor of path; -1 once the namespace is deleted.
	fd int
	// nl is a rtnetlink socket created inside the namespace; nil once
	// deleted (a closed netlink.Handle would silently fall back to the
	// caller's namespace, which is the real machine's).
	nl *netlink.Handle
}

// Name is the namespace's name, as `ip netns list` shows it.
func (n *Netns) Name() string { return n.name }

// NSPath is the namespace's bind-mount, e.g. /run/netns/xs123-e2e-1.
func (n *Netns) NSPath() string { return n.path }

// createNetns creates the network namespace name (see netns.Create). IPv6
// is off on the devices created in it later, so that links stay silent (no
// router solicitations, DAD or MLD reports) unless the caller asks for an
// IPv6 address.
func createNetns(name string) (_ *Netns, err error) {
	if err := netns.Create(name); err != nil {
		return nil, fmt.Errorf("topo: %w", err)
	}
	n := &Netns{name: name, path: netns.Path(name), fd: -1}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if n.fd, err = netns.Open(name); err != nil {
		return nil, fmt.Errorf("topo: %w", err)
	}
	n.nl, err = netlink.NewHandleAt(vnetns.NsHandle(n.fd), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("topo: netlink socket in netns %s: %w", name, err)
	}
	if err := n.Do(func() error {
		return writeSysctl("net/ipv6/conf/default/disable_ipv6", "1")
	}); err != nil {
		return nil, fmt.Errorf("topo: netns %s: %w", name, err)
	}
	return n, nil
}

// writeSysctl writes a /proc/sys value of the calling thread's namespace.
// A kernel without IPv6 has no ipv6 keys; that is not an error here.
func writeSysctl(key, value string) error {
	err := os.WriteFile("/proc/sys/"+key, []byte(value), 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// close deletes the namespace: it releases our references and unmounts it.
// The kernel destroys the namespace (and the veths in it) once no process
// or socket holds it any more.
func (n *Netns) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
	if err := netns.Delete(n.name); err != nil {
		return fmt.Errorf("topo: %w", err)
	}
	return nil
}

// Do runs fn on a fresh OS thread inside the namespace and returns its error
// (see netns.Do).
func (n *Netns) Do(fn func() error) error {
	fd, err := n.dupFD()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return netns.Do(fd, fn)
}

// dupFD returns a duplicate of the namespace's descriptor, which deleting
// the namespace meanwhile does not close.
func (n *Netns) dupFD() (int, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.fd < 0 {
		return -1, fmt.Errorf("topo: enter netns %s: %w", n.name, ErrRemoved)
	}
	fd, err := unix.FcntlInt(uintptr(n.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("topo: enter netns %s: %w", n.name, err)
	}
	return fd, nil
}

// Command returns a command that runs name inside the namespace through
// `nsenter --net=PATH` (util-linux). Only the network namespace changes:
// /sys still shows the caller's devices, /proc/net the namespace's.
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.path, "--", name}, args...)...)
}

// Listen is net.Listen inside the namespace. The listener keeps the
// namespace, so it may be used from any goroutine; close it before the
// namespace is deleted, or the namespace lives on until it is.
func (n *Netns) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("topo: listen %s %s in netns %s: %w", network, addr, n.name, err)
	}
	return l, nil
}

// ListenPacket is net.ListenPacket inside the namespace (see Listen).
func (n *Netns) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() (err error) {
		c, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("topo: listen %s %s in netns %s: %w", network, addr, n.name, err)
	}
	return c, nil
}

// Dial connects from inside the namespace (see Listen). addr should be an
// IP literal: name resolution would read the caller's files anyway.
func (n *Netns) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("topo: dial %s %s from netns %s: %w", network, addr, n.name, err)
	}
	return c, nil
}

// withNetlink runs fn with the namespace's rtnetlink handle, which stays
// valid (not closed by a concurrent delete) until fn returns.
func (n *Netns) withNetlink(op string, fn func(*netlink.Handle) error) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.nl == nil {
		return fmt.Errorf("topo: %s in netns %s: %w", op, n.name, ErrRemoved)
	}
	if err := fn(n.nl); err != nil {
		return fmt.Errorf("topo: %s in netns %s: %w", op, n.name, err)
	}
	return nil
}

// setLink brings a link up or down.
func (n *Netns) setLink(ifname string, up bool) error {
	op := "set " + ifname + " down"
	if up {
		op = "set " + ifname + " up"
	}
	return n.withNetlink(op, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		if up {
			return h.LinkSetUp(l)
		}
		return h.LinkSetDown(l)
	})
}

// SetMTU sets a link's MTU.
func (n *Netns) SetMTU(ifname string, mtu int) error {
	return n.withNetlink(fmt.Sprintf("set %s mtu %d", ifname, mtu), func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		return h.LinkSetMTU(l, mtu)
	})
}

// linkStats reads a link's counters.
func (n *Netns) linkStats(ifname string) (LinkStats, error) {
	var s LinkStats
	err := n.withNetlink("read counters of "+ifname, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		st := l.Attrs().Statistics
		if st == nil {
			return errors.New("kernel reported no statistics")
		}
		s = LinkStats{
			RxPackets: st.RxPackets, TxPackets: st.TxPackets,
			RxBytes: st.RxBytes, TxBytes: st.TxBytes,
			RxErrors: st.RxErrors, TxErrors: st.TxErrors,
			RxDropped: st.RxDropped, TxDropped: st.TxDropped,
			Multicast: st.Multicast,
		}
		return nil
	})
	return s, err
}

// removeLink deletes a link; one already gone is not an error.
func (n *Netns) removeLink(ifname string) error {
	return n.withNetlink("delete link "+ifname, func(nl *netlink.Handle) error {
		l, err := nl.LinkByName(ifname)
		if err != nil {
			if errors.As(err, new(netlink.LinkNotFoundError)) {
				return nil
			}
			return err
		}
		if err := nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return err
		}
		return nil
	})
}

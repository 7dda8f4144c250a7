package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/bpf"
)

// resyncEvery is how often the daemon compares its ports with the system's
// links, in case a netlink notification was lost (the socket overflowed).
const resyncEvery = 10 * time.Second

// watch subscribes to link changes (listing the existing links first) and
// handles them until ctx ends or the subscription fails.
func (d *Daemon) watch(ctx context.Context) error {
	updates := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	failed := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case failed <- err:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	resync := time.NewTicker(resyncEvery)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case u, ok := <-updates:
			if !ok {
				return errors.New("link subscription closed")
			}
			d.serialized(func() { d.handle(u) })
		case <-resync.C:
			d.serialized(func() {
				if err := d.Resync(); err != nil {
					d.log.Warn("link resync failed", "err", err)
				}
			})
		}
	}
}

// handle reacts to one link notification.
func (d *Daemon) handle(u netlink.LinkUpdate) {
	attrs := u.Link.Attrs()
	idx := attrs.Index
	// The kernel also says RTM_DELLINK, in family AF_BRIDGE, when a link
	// leaves a kernel bridge: the link stays.
	if u.Header.Type == unix.RTM_DELLINK && u.IfInfomsg.Family != unix.AF_BRIDGE {
		d.detach(idx, "interface removed")
		d.mu.Lock()
		delete(d.deleted, idx) // an interface of its name that comes is a new one
		d.mu.Unlock()
		// A link that failed to attach because its name was still taken by
		// the removed one (deleted and recreated quickly) can attach now.
		d.mu.Lock()
		retry := len(d.failed) > 0
		d.mu.Unlock()
		if retry {
			if err := d.Resync(); err != nil {
				d.log.Warn("link resync failed", "err", err)
			}
		}
		return
	}
	// The notification may predate a rename that a takeover made while
	// it waited: the link's name now is the one that counts.
	l := u.Link
	if now, err := d.sys.links.LinkByIndex(idx); err == nil {
		l = now
	}
	if enslaved(l) {
		d.detach(idx, "enslaved to another device")
		return
	}
	d.linkPresent(idx, l.Attrs().Name)
}

// enslaved says whether a link is a port of a kernel bridge or a bond: the
// kernel switches its frames, so it must not be a port of the switch too,
// as when a dom0 still has its kernel bridge, or has it back after a release.
func enslaved(l netlink.Link) bool { return l.Attrs().MasterIndex != 0 }

// linkPresent attaches a link that matches a bridge, and detaches an attached
// one whose name no longer matches (it was renamed).
func (d *Daemon) linkPresent(idx int, name string) {
	d.mu.Lock()
	a, isPort := d.attached[idx]
	d.mu.Unlock()
	if isPort {
		if a.name == name {
			d.refresh(idx, a)
			d.uplinkPresent(name) // its MAC or MTU may have changed
			return
		}
		d.detach(idx, "interface renamed to "+name)
	}
	d.attach(idx, name)
	d.uplinkPresent(name)
}

// Resync attaches links that match but are not ports and detaches ports
// whose links are gone.
func (d *Daemon) Resync() error {
	d.restoreTakeovers()
	d.ensureHostPorts()
	d.ensureTunnels()
	links, err := d.sys.links.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	present := map[int]string{}
	for _, l := range links {
		present[l.Attrs().Index] = l.Attrs().Name
		if enslaved(l) {
			d.detach(l.Attrs().Index, "enslaved to another device")
			continue
		}
		d.linkPresent(l.Attrs().Index, l.Attrs().Name)
	}
	d.mu.Lock()
	var gone []int
	for idx := range d.attached {
		if _, ok := present[idx]; !ok {
			gone = append(gone, idx)
		}
	}
	for idx, name := range d.deleted {
		if present[idx] != name {
			delete(d.deleted, idx) // gone or renamed: what comes is a new interface
		}
	}
	d.mu.Unlock()
	for _, idx := range gone {
		// A host port's switch end attaches with its uplink, also when it
		// was made after the listing.
		if _, err := d.sys.links.LinkByIndex(idx); err == nil {
			continue
		}
		d.detach(idx, "interface removed")
	}
	d.ready.set()
	return nil
}

// refresh updates what the fast path knows of a port that changed: its MTU,
// and whether it accepts XDP frames. It talks to the kernel: call it
// without holding d.mu.
func (d *Daemon) refresh(idx int, a attachment) {
	fast := d.fp != nil && a.fastPath != bpf.ModeOff
	if a.xsk == nil && !fast {
		return
	}
	l, err := d.sys.links.LinkByIndex(idx)
	if a.xsk != nil && err == nil {
		if d.xskOutgrown(idx, a, l.Attrs().MTU) {
			return
		}
		// An AF_XDP port checks what it sends against the MTU itself.
		a.xsk.SetMTU(l.Attrs().MTU)
	}
	if !fast {
		return
	}
	p := bpf.Port{Name: a.name, Index: idx, Bridge: bpf.BridgeID(a.bridge), MTU: a.mtu, Policy: a.policy}
	if err == nil {
		p.MTU, p.Kind, p.PeerElsewhere = l.Attrs().MTU, l.Type(), l.Attrs().NetNsID >= 0
	}
	if err := d.fp.Refresh(p); err != nil {
		d.log.Warn("cannot refresh the fast path of a port", "port", a.name, "err", err)
	}
}

// refreshPorts refreshes what the fast path knows of the attached port with
// the given ifindex, or of every attached port when ifindex is 0.
func (d *Daemon) refreshPorts(ifindex int) {
	d.mu.Lock()
	var todo []int
	for idx := range d.attached {
		if ifindex == 0 || idx == ifindex {
			todo = append(todo, idx)
		}
	}
	d.mu.Unlock()
	for _, idx := range todo {
		d.mu.Lock()
		a, ok := d.attached[idx]
		closed := d.closed
		d.mu.Unlock()
		if ok && !closed {
			d.refresh(idx, a)
		}
	}
}

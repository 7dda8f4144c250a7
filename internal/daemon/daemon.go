// Package daemon wires xswitchd together: it keeps the bridges of the
// configuration, follows interfaces as they appear and disappear, and attaches
// the matching ones as ports.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/config"
)

// resyncEvery is how often the daemon compares its ports with the system's
// links, in case a netlink notification was lost (the socket overflowed).
const resyncEvery = 10 * time.Second

// Daemon owns the bridges and their ports.
type Daemon struct {
	cfg *config.Config
	log *slog.Logger

	mu       sync.Mutex
	bridges  map[string]*dataplane.Bridge // by name; bridges are never removed while running
	attached map[int]attachment           // by ifindex: the interfaces that are ports now
	failed   map[int]string               // by ifindex: the last attach error logged, so it is logged once
	closed   bool                         // Close ran: attach nothing more
}

// attachment is an interface attached to a bridge.
type attachment struct {
	name   string
	bridge string
}

// New creates the configured bridges. In auto mode there are none until
// their interfaces appear.
func New(cfg *config.Config, log *slog.Logger) *Daemon {
	d := &Daemon{
		cfg:      cfg,
		log:      log,
		bridges:  map[string]*dataplane.Bridge{},
		attached: map[int]attachment{},
		failed:   map[int]string{},
	}
	for _, b := range cfg.Bridges {
		d.bridge(b)
	}
	return d
}

// bridge returns the dataplane bridge for b, creating it; under mu or before
// the daemon runs.
func (d *Daemon) bridge(b config.Bridge) *dataplane.Bridge {
	if br, ok := d.bridges[b.Name]; ok {
		return br
	}
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: b.Name, FDB: b.FDB}, d.log)
	d.bridges[b.Name] = br
	d.log.Info("bridge created", "bridge", b.Name, "uplink", b.Uplink, "ports", b.Ports, "aging", b.FDB.AgingTime)
	return br
}

// Bridges returns the bridges sorted by name.
func (d *Daemon) Bridges() []*dataplane.Bridge {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*dataplane.Bridge, 0, len(d.bridges))
	for _, b := range d.bridges {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Bridge returns the named bridge.
func (d *Daemon) Bridge(name string) (*dataplane.Bridge, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.bridges[name]
	return b, ok
}

// Run follows the links of the network namespace until ctx ends, then
// releases every port.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Close()
	for {
		err := d.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d.log.Warn("link watch ended, subscribing again", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

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
			d.handle(u)
		case <-resync.C:
			if err := d.Resync(); err != nil {
				d.log.Warn("link resync failed", "err", err)
			}
		}
	}
}

// handle reacts to one link notification.
func (d *Daemon) handle(u netlink.LinkUpdate) {
	attrs := u.Link.Attrs()
	idx, name := attrs.Index, attrs.Name
	if u.Header.Type == unix.RTM_DELLINK {
		d.detach(idx, "interface removed")
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
	d.linkPresent(idx, name)
}

// linkPresent attaches a link that matches a bridge, and detaches an attached
// one whose name no longer matches (it was renamed).
func (d *Daemon) linkPresent(idx int, name string) {
	d.mu.Lock()
	a, isPort := d.attached[idx]
	d.mu.Unlock()
	if isPort {
		if a.name == name {
			return
		}
		d.detach(idx, "interface renamed to "+name)
	}
	d.attach(idx, name)
}

// Resync attaches links that match but are not ports and detaches ports
// whose links are gone.
func (d *Daemon) Resync() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	present := map[int]bool{}
	for _, l := range links {
		present[l.Attrs().Index] = true
		d.linkPresent(l.Attrs().Index, l.Attrs().Name)
	}
	d.mu.Lock()
	var gone []int
	for idx := range d.attached {
		if !present[idx] {
			gone = append(gone, idx)
		}
	}
	d.mu.Unlock()
	for _, idx := range gone {
		d.detach(idx, "interface removed")
	}
	return nil
}

// attach makes the interface a port of its bridge, if it has one. A failure
// is logged once with the interface and the cause; the other ports go on.
func (d *Daemon) attach(idx int, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	b, uplink, ok := d.cfg.Match(name)
	if !ok {
		return
	}
	br := d.bridge(b)
	ring := b.Rings.Vif
	if uplink {
		ring = b.Rings.Uplink
	}
	p, err := afpacket.Open(name, ring)
	if err == nil {
		err = br.AddPort(p, dataplane.PortInfo{Name: name, Uplink: uplink, Kind: "afpacket"})
	}
	if err != nil {
		if msg := err.Error(); d.failed[idx] != msg {
			d.failed[idx] = msg
			d.log.Error("cannot attach interface", "port", name, "bridge", b.Name, "err", err)
		}
		return
	}
	delete(d.failed, idx)
	d.attached[idx] = attachment{name: name, bridge: b.Name}
	d.pinStatic(br, b, name)
}

// pinStatic installs the static MACs of a port that just attached; they go
// with the port's other entries when it is removed.
func (d *Daemon) pinStatic(br *dataplane.Bridge, b config.Bridge, port string) {
	var id fdb.PortID
	for _, p := range br.Ports() {
		if p.Name == port {
			id = p.ID
		}
	}
	for _, st := range b.Static {
		if st.Port != port || id == 0 {
			continue
		}
		if err := br.FDB().AddStatic(fdb.MakeKey(st.VLAN, st.MAC), id); err != nil {
			d.log.Error("cannot pin static MAC", "port", port, "bridge", b.Name, "mac", st.MAC.String(), "vlan", st.VLAN, "err", err)
		}
	}
}

// detach removes an attached interface from its bridge, which flushes its MAC
// entries.
func (d *Daemon) detach(idx int, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.failed, idx)
	a, ok := d.attached[idx]
	if !ok {
		return
	}
	delete(d.attached, idx)
	d.log.Info("detaching port", "port", a.name, "bridge", a.bridge, "why", why)
	if err := d.bridges[a.bridge].RemovePort(a.name); err != nil {
		d.log.Warn("detach", "port", a.name, "bridge", a.bridge, "err", err)
	}
}

// Close releases every port of every bridge.
func (d *Daemon) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for _, b := range d.bridges {
		errs = append(errs, b.Close())
	}
	d.attached = map[int]attachment{}
	return errors.Join(errs...)
}

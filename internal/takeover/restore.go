package takeover

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/hostport"
)

// A takeover on record outlives a reboot; its host port, a veth, does not.
// After a reboot the interface taken over is back under its old name, as
// udev and the operator's files make it: the NIC ethN (holding dom0's
// addresses, or none), or the kernel bridge xenbrN. Restore takes it over
// again, as Xen's network-bridge script did at every boot.

// ErrNotThere says that a takeover on record is not in force and that what
// it took over is not there to take over again (yet).
var ErrNotThere = errors.New("not there to take over again")

// standing is where a takeover on record stands.
type standing int

const (
	// inForce: the host port is there.
	inForce standing = iota
	// noHostPort: the host port is missing but the uplink is there: someone
	// deleted the host port, or, for a kernel bridge, the NIC came up
	// without its bridge.
	noHostPort
	// back: the interface taken over is back as before the takeover, with
	// neither host port nor uplink: after a reboot.
	back
	// notThere: neither host port, nor uplink, nor the interface.
	notThere
)

// stand says where the takeover of r stands and returns the interface
// taken over when it is back.
func stand(r Record) (standing, netlink.Link, error) {
	hps, err := hostport.Find()
	if err != nil {
		return 0, nil, err
	}
	for _, hp := range hps {
		if hp.Name == r.HostPort {
			return inForce, nil, nil
		}
	}
	if r.Kind == KindNIC && linkExists(r.Uplink) {
		return noHostPort, nil, nil
	}
	l, err := netlink.LinkByName(r.Interface)
	if err == nil {
		return back, l, nil
	}
	if r.Kind == KindBridge && linkExists(r.Uplink) {
		return noHostPort, nil, nil
	}
	return notThere, nil, nil
}

// Restore brings the takeover of r back in force where it is not:
//   - in force: nothing changes;
//   - the host port missing, the uplink there: the host port is made again
//     with the recorded MAC and MTU and attached with the uplink;
//   - the interface back as before (after a reboot): it is taken over again
//     in full, moving the addresses and routes it holds now, and the record
//     is replaced by the new one;
//   - nothing there: an error wrapping ErrNotThere; the record stays.
func (t *Taker) Restore(r Record, o Options) (Result, error) {
	st, l, err := stand(r)
	if err != nil {
		return Result{Record: r}, fmt.Errorf("takeover of %s: %w", r.Interface, err)
	}
	switch st {
	case noHostPort:
		return t.rebuild(r, o)
	case back:
		return t.retake(r, l, o)
	case notThere:
		what := r.Interface
		if r.Kind == KindBridge {
			what = "kernel bridge " + r.Interface + " or its uplink " + r.Uplink
		}
		return Result{Record: r}, fmt.Errorf("takeover of %s is on record in %s but not in force: its host port %s is missing, and %s is %w; the record stays",
			r.Interface, t.Store.Path(), r.HostPort, what, ErrNotThere)
	}
	msg := fmt.Sprintf("%s already taken over, nothing changed: bridge %s, uplink %s, host port %s", r.Interface, r.Bridge, r.Uplink, r.HostPort)
	if !linkExists(r.Uplink) {
		msg += "; the uplink is missing, and is attached when it appears"
	}
	return Result{Record: r, Message: msg}, nil
}

// retake takes l, the interface of r back under its old name, over again.
func (t *Taker) retake(r Record, l netlink.Link, o Options) (Result, error) {
	_, isBridge := l.(*netlink.Bridge)
	if isBridge != (r.Kind == KindBridge) {
		return Result{Record: r}, fmt.Errorf("takeover of %s is on record as a %s takeover, but %s is a %s now; release it to forget the record", r.Interface, r.Kind, r.Interface, l.Type())
	}
	if m := l.Attrs().MasterIndex; m != 0 {
		return Result{Record: r}, fmt.Errorf("takeover of %s is on record, but %s is a port of another device (ifindex %d) now; release it to forget the record", r.Interface, r.Interface, m)
	}
	take := t.takeNIC
	if isBridge {
		take = t.takeBridge
	}
	res, err := take(l, o)
	if err == nil {
		res.Message = fmt.Sprintf("%s was back as before its takeover, as after a reboot, and is taken over again as on record: %s", r.Interface, res.Message)
	}
	return res, err
}

// rebuild makes the missing host port of r again with the recorded MAC and
// MTU, and attaches it with the uplink, which it sets up. Its addresses are
// gone with it: the operator's files give them again.
func (t *Taker) rebuild(r Record, o Options) (Result, error) {
	mac, err := net.ParseMAC(r.MAC)
	if err != nil {
		return Result{Record: r}, fmt.Errorf("takeover of %s: MAC %q in %s: %w", r.Interface, r.MAC, t.Store.Path(), err)
	}
	up, err := netlink.LinkByName(r.Uplink)
	if err != nil {
		return Result{Record: r}, fmt.Errorf("takeover of %s: uplink %s: %w", r.Interface, r.Uplink, err)
	}
	idx, wasUp := up.Attrs().Index, isUp(up)
	peer := hostport.Peer(r.HostPort)
	b := r.bridge(peer)
	b.Ports = nil
	for _, p := range append(r.Ports, peer) {
		if p == peer || linkExists(p) {
			b.Ports = append(b.Ports, p) // the guests of before a reboot are gone
		}
	}
	var created bool
	steps := []step{
		{"set " + r.Uplink + " up", func() error { return setUp(idx, true) }, func() error {
			if wasUp {
				return nil
			}
			return setUp(idx, false)
		}},
		{fmt.Sprintf("create host port %s with MAC %s and MTU %d", r.HostPort, mac, r.MTU), func() (err error) {
			created, err = hostport.Ensure(hostport.Spec{Name: r.HostPort, Bridge: r.Bridge, MAC: mac, MTU: r.MTU})
			return err
		}, func() error {
			if !created {
				return nil
			}
			return hostport.Remove(r.HostPort)
		}},
		{"attach " + fmt.Sprint(append([]string{r.Uplink}, b.Ports...)) + " to " + r.Bridge, func() error { return t.Switch.Attach(b) },
			func() error { return t.Switch.Detach(b) }},
	}
	done, err := run(steps, o.FailAt)
	res := Result{Record: r, Message: fmt.Sprintf("%s taken over again, as on record: host port %s was missing and is made again with MAC %s and MTU %d, without addresses; %s is the uplink of %s",
		r.Interface, r.HostPort, mac, r.MTU, r.Uplink, r.Bridge)}
	return finish(res, done, err, "takeover of "+r.Interface)
}

// forget removes the record of a takeover that is not in force: the system
// is as before it, or without what it took over.
func (t *Taker) forget(r Record, st standing) (Result, error) {
	if err := t.Store.remove(r.Interface); err != nil {
		return Result{Record: r}, fmt.Errorf("release of %s: %w", r.Interface, err)
	}
	t.Switch.Detach(r.bridge(hostport.Peer(r.HostPort)))
	why := r.Interface + " is as before the takeover"
	if st == notThere {
		why = r.Interface + " is not there"
	}
	return Result{Record: r, Changed: true, Message: fmt.Sprintf("%s released: the takeover was on record but not in force (host port %s missing, %s); its record is removed from %s, nothing else changed",
		r.Interface, r.HostPort, why, t.Store.Path())}, nil
}

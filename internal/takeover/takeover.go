// Package takeover moves dom0's network onto xswitch and back, as Xen's
// network-bridge script did, but step by step with an undo for each step:
//
//   - a NIC: ethN, which holds dom0's addresses, becomes the uplink pethN of
//     bridge xenbrN, and host port ethN takes its MAC, MTU, addresses and
//     routes;
//   - a kernel bridge xenbrN: its ports move to xswitch's bridge xenbrN, its
//     addresses and routes to host port xenbrN, and it is deleted.
//
// Release is the exact reverse. A step that fails undoes the ones done, so
// the system is as it was. The functions act on the network namespace of
// the calling OS thread.
package takeover

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
)

// Switch is what a takeover asks of the running switch.
type Switch interface {
	// Attach makes b a bridge of the switch, beyond its configuration, and
	// attaches its uplink and ports now.
	Attach(b Bridge) error
	// Detach forgets b and detaches its uplink and ports.
	Detach(b Bridge) error
	// Ports returns the interfaces attached to bridge name.
	Ports(name string) []string
}

// Bridge is a bridge a takeover gives the switch.
type Bridge struct {
	Name     string
	Uplink   string
	Ports    []string // exact names, the host port's switch end among them
	HostPort string
}

// Taker runs takeovers and releases.
type Taker struct {
	Store  *Store
	Switch Switch
}

// Options are a takeover's or release's knobs.
type Options struct {
	// FailAt makes step FailAt (1-based) fail once done, to drill the
	// rollback; 0 fails none.
	FailAt int
}

// Result says what a takeover or release did.
type Result struct {
	Record
	// Changed is false when there was nothing to do.
	Changed bool `json:"changed"`
	// Message says what happened in a sentence.
	Message   string   `json:"message"`
	Steps     []string `json:"steps,omitempty"`
	Addresses []string `json:"addresses,omitempty"` // moved
	Routes    []string `json:"routes,omitempty"`    // moved
	// Outage is how long dom0's addresses were on no link that forwards.
	Outage time.Duration `json:"outage_ns"`
}

// bridge returns the switch's bridge of a record, whose host port's switch
// end is peer.
func (r Record) bridge(peer string) Bridge {
	return Bridge{Name: r.Bridge, Uplink: r.Uplink, Ports: append(append([]string(nil), r.Ports...), peer), HostPort: r.HostPort}
}

// Takeover takes iface over: a kernel bridge by the bridge takeover, any
// other interface as a NIC.
func (t *Taker) Takeover(iface string, o Options) (Result, error) {
	if r, ok := t.Store.Lookup(iface); ok {
		return t.Restore(r, o)
	}
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return Result{}, fmt.Errorf("takeover of %s: %w", iface, err)
	}
	if _, ok := l.(*netlink.Bridge); ok {
		return t.takeBridge(l, o)
	}
	return t.takeNIC(l, o)
}

// Release undoes the takeover of iface, which may be named by any of its
// names (ethN, pethN, xenbrN). A takeover on record but not in force (after
// a reboot that Restore has not followed) is forgotten; one whose host port
// alone is missing gets it back first.
func (t *Taker) Release(iface string, o Options) (Result, error) {
	r, ok := t.Store.Lookup(iface)
	if !ok {
		return Result{Message: fmt.Sprintf("%s is not taken over, nothing changed", iface)}, nil
	}
	st, _, err := stand(r)
	if err != nil {
		return Result{}, fmt.Errorf("release of %s: %w", iface, err)
	}
	switch st {
	case back, notThere:
		return t.forget(r, st)
	case noHostPort:
		if _, err := t.rebuild(r, Options{}); err != nil {
			return Result{}, fmt.Errorf("release of %s: %w", iface, err)
		}
	}
	switch r.Kind {
	case KindNIC:
		return t.releaseNIC(r, o)
	case KindBridge:
		return t.releaseBridge(r, o)
	}
	return Result{}, fmt.Errorf("release of %s: unknown kind %q in %s", iface, r.Kind, t.Store.Path())
}

// outage times the steps between cut and restore.
type outage struct {
	start time.Time
	d     time.Duration
}

func (o *outage) cut() error { o.start = time.Now(); return nil }

func (o *outage) restored() error { o.d = time.Since(o.start); return nil }

// mark is a step that does nothing but note a time.
func mark(name string, f func() error) step { return step{name: name, do: f} }

// trailingDigits returns the number a name ends with: "0" of eth0.
func trailingDigits(s string) string {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return s[i:]
}

// finish fills the result of steps that ran.
func finish(res Result, done []string, err error, what string) (Result, error) {
	res.Steps = done
	if err != nil {
		return Result{Record: res.Record}, fmt.Errorf("%s: %w", what, err)
	}
	res.Changed = true
	return res, nil
}

// record is the last step of a takeover: it records rec. Its undo puts
// back what the store held before, the record of a takeover made again
// after a reboot included.
func (t *Taker) record(rec Record) step {
	var (
		old Record
		had bool
	)
	return step{"record the takeover in " + t.Store.Path(), func() error {
		old, had = t.Store.get(rec.Interface)
		return t.Store.put(rec)
	}, func() error {
		if had {
			return t.Store.put(old)
		}
		return t.Store.remove(rec.Interface)
	}}
}

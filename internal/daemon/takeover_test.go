package daemon

import (
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
)

// TestLinkEventsAroundTakeovers: what a takeover or a kernel bridge does to
// links reaches the daemon as notifications that must not mislead it.
func TestLinkEventsAroundTakeovers(t *testing.T) {
	r := newRig(t, testBridge, fastpathtest.New(), "")
	up := func(l netlink.Link) netlink.LinkUpdate {
		return netlink.LinkUpdate{Header: unix.NlMsghdr{Type: unix.RTM_NEWLINK}, Link: l}
	}

	// A notification from before a rename (eth0, now peth0) attaches the
	// link by the name it has now.
	stale := r.links.add(5, "eth0", "veth", 1500)
	r.links.add(5, "peth0", "veth", 1500)
	r.d.handle(up(stale))
	if ps, ok := r.port("peth0"); !ok || ps.Ifindex != 5 {
		t.Fatalf("peth0 not attached after a late notification of its old name: %+v %v", ps, ok)
	}
	r.d.handle(up(stale))
	if _, ok := r.port("peth0"); !ok {
		t.Fatal("a late notification of the old name detached peth0")
	}

	// A link leaving a kernel bridge is announced as RTM_DELLINK in family
	// AF_BRIDGE: it stays.
	r.links.add(7, "vif1.0", "veth", 1500)
	r.d.handle(up(r.links.byIndex[7]))
	del := netlink.LinkUpdate{Header: unix.NlMsghdr{Type: unix.RTM_DELLINK}, Link: r.links.byIndex[7]}
	del.IfInfomsg.Family = unix.AF_BRIDGE
	r.d.handle(del)
	if _, ok := r.port("vif1.0"); !ok {
		t.Error("vif1.0 detached when it left a kernel bridge")
	}

	// A link enslaved to a kernel bridge is the kernel's: detached, and not
	// attached again by a resync.
	r.links.byIndex[7].Attrs().MasterIndex = 42
	r.d.handle(up(r.links.byIndex[7]))
	if _, ok := r.port("vif1.0"); ok {
		t.Error("vif1.0 still a port once enslaved")
	}
	if err := r.d.Resync(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.port("vif1.0"); ok {
		t.Error("a resync attached an enslaved link")
	}
	r.links.byIndex[7].Attrs().MasterIndex = 0
	r.d.handle(up(r.links.byIndex[7]))
	if _, ok := r.port("vif1.0"); !ok {
		t.Error("vif1.0 not attached once released from the kernel bridge")
	}
}

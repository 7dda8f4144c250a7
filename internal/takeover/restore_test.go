package takeover

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/hostport"
)

// takenOver takes iface over and returns its record.
func takenOver(t *testing.T, tk *Taker, iface string) Record {
	t.Helper()
	if _, err := tk.Takeover(iface, Options{}); err != nil {
		t.Fatal(err)
	}
	r, ok := tk.Store.Lookup(iface)
	if !ok {
		t.Fatalf("no record of %s after its takeover", iface)
	}
	return r
}

func removeHostPort(t *testing.T, name string) {
	t.Helper()
	if err := hostport.Remove(name); err != nil {
		t.Fatal(err)
	}
}

// restored restores r and fails the test unless it changed something and
// says want.
func restored(t *testing.T, tk *Taker, r Record, want string) Result {
	t.Helper()
	res, err := tk.Restore(r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Message)
	if !res.Changed || !strings.Contains(res.Message, want) {
		t.Fatalf("restore: %+v; want a change, saying %q", res, want)
	}
	return res
}

// TestRestoreNIC: a NIC's takeover comes back after its host port was
// deleted, and after a reboot, and is released as usual.
func TestRestoreNIC(t *testing.T) {
	ip := dom0(t)
	tk, sw := newTaker(t)
	before := snapshot(t)
	r := takenOver(t, tk, "eth0")
	taken := snapshot(t)

	// The host port deleted while the daemon was down: made again with
	// the recorded MAC and MTU, without addresses.
	removeHostPort(t, "eth0")
	delete(sw.bridges, "xenbr0")
	restored(t, tk, r, "made again")
	hp, err := netlink.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if hp.Attrs().HardwareAddr.String() != r.MAC || hp.Attrs().MTU != 1400 {
		t.Errorf("host port made again with MAC %s and MTU %d, want %s and 1400", hp.Attrs().HardwareAddr, hp.Attrs().MTU, r.MAC)
	}
	if b := sw.bridges["xenbr0"]; b.Uplink != "peth0" || !slices.Equal(b.Ports, []string{"xhp-eth0"}) {
		t.Errorf("switch got %+v, want xenbr0 with uplink peth0 and port xhp-eth0", b)
	}

	// A reboot: no host port, the NIC named eth0 again, and the files give
	// it dom0's addresses.
	removeHostPort(t, "eth0")
	ip("link", "set", "peth0", "down")
	ip("link", "set", "peth0", "name", "eth0")
	ip("link", "set", "eth0", "up")
	nicAddresses(ip)
	same(t, "after a reboot", before)
	restored(t, tk, r, "taken over again")
	sameBut(t, "taken over again after a reboot", taken, "xhp-eth0") // its MAC is a new random one
	if again, err := tk.Restore(r, Options{}); err != nil || again.Changed {
		t.Errorf("second restore: %+v, %v; want nothing changed", again, err)
	}
	if _, err := tk.Release("eth0", Options{}); err != nil {
		t.Fatal(err)
	}
	same(t, "after release", before)
	if len(tk.Store.Records()) != 0 || len(sw.bridges) != 0 {
		t.Errorf("after release the store has %v and the switch %v", tk.Store.Records(), sw.bridges)
	}
}

// TestRestoreNotThere: a takeover whose interface is gone stays on record;
// a takeover or release names it; release forgets the record.
func TestRestoreNotThere(t *testing.T) {
	ip := dom0(t)
	tk, sw := newTaker(t)
	r := takenOver(t, tk, "eth0")
	removeHostPort(t, "eth0")
	ip("link", "del", "peth0")
	before := snapshot(t)

	for _, call := range []func() (Result, error){
		func() (Result, error) { return tk.Restore(r, Options{}) },
		func() (Result, error) { return tk.Takeover("eth0", Options{}) },
	} {
		_, err := call()
		if !errors.Is(err, ErrNotThere) || errors.Is(err, ErrStep) || !strings.Contains(err.Error(), "eth0") {
			t.Errorf("restore of a takeover whose NIC is gone: %v; want ErrNotThere naming eth0", err)
		}
	}
	if _, ok := tk.Store.Lookup("eth0"); !ok {
		t.Fatal("the record went")
	}
	res, err := tk.Release("eth0", Options{})
	if err != nil || !res.Changed || !strings.Contains(res.Message, "not in force") {
		t.Fatalf("release: %+v, %v; want the record forgotten", res, err)
	}
	same(t, "after forgetting the record", before)
	if len(tk.Store.Records()) != 0 || len(sw.bridges) != 0 {
		t.Errorf("after release the store has %v and the switch %v", tk.Store.Records(), sw.bridges)
	}
}

// TestRestoreBridge: a kernel bridge's migration comes back after a reboot
// that made the kernel bridge again, and, the NIC present without the
// bridge, gets its host port again.
func TestRestoreBridge(t *testing.T) {
	ip := kernelBridgeDom0(t)
	tk, sw := newTaker(t)
	r := takenOver(t, tk, "xenbr0")
	taken := snapshot(t)

	// A reboot: ifupdown makes the bridge again with the NIC and the
	// addresses; the guest is not running.
	removeHostPort(t, "xenbr0")
	ip("link", "del", "vif1.0")
	ip("link", "add", "xenbr0", "address", "02:00:00:00:0b:01", "type", "bridge", "stp_state", "0", "forward_delay", "400",
		"ageing_time", "12000", "mcast_snooping", "0", "hello_time", "300")
	ip("link", "set", "eth0", "master", "xenbr0")
	ip("link", "set", "xenbr0", "up")
	ip("addr", "add", "192.0.2.10/24", "dev", "xenbr0")
	ip("-6", "addr", "add", "2001:db8::10/64", "dev", "xenbr0")
	ip("route", "add", "default", "via", "192.0.2.1", "dev", "xenbr0", "src", "192.0.2.10")
	ip("route", "add", "198.51.100.0/24", "via", "192.0.2.2", "dev", "xenbr0", "table", "100")
	restored(t, tk, r, "taken over again")
	sameBut(t, "taken over again after a reboot", taken, "xhp-xenbr0", "vif1.0")
	if b := sw.bridges["xenbr0"]; b.Uplink != "eth0" || !slices.Equal(b.Ports, []string{"xhp-xenbr0"}) {
		t.Errorf("switch got %+v, want xenbr0 with uplink eth0 and port xhp-xenbr0", b)
	}

	// The NIC without its bridge (the files changed to xswitch's): the
	// host port is made again.
	r, _ = tk.Store.Lookup("xenbr0")
	removeHostPort(t, "xenbr0")
	ip("link", "set", "eth0", "down")
	delete(sw.bridges, "xenbr0")
	restored(t, tk, r, "made again")
	if b := sw.bridges["xenbr0"]; b.Uplink != "eth0" || !slices.Equal(b.Ports, []string{"xhp-xenbr0"}) {
		t.Errorf("switch got %+v, want xenbr0 with uplink eth0 and port xhp-xenbr0", b)
	}
	if l, err := netlink.LinkByName("eth0"); err != nil || !isUp(l) {
		t.Errorf("uplink eth0 not set up: %v", err)
	}
	if _, err := tk.Release("xenbr0", Options{}); err != nil {
		t.Fatal(err)
	}
	l, err := netlink.LinkByName("eth0")
	if err != nil || l.Attrs().MasterIndex != linkIndex(t, "xenbr0") {
		t.Errorf("after release eth0 is not a port of kernel bridge xenbr0: %v", err)
	}
}

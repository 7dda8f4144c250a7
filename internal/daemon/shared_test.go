package daemon

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
)

func sharedPorts(t *testing.T, d *Daemon) int {
	t.Helper()
	st, ok := d.SharedStats()
	if !ok {
		t.Fatal("no shared receiver")
	}
	return st.Ports
}

func TestFastPathPortsPuntToTheSharedReceiver(t *testing.T) {
	r := newRig(t, testBridge+"    port-fastpath:\n      vif3.0: \"off\"\n", fastpathtest.New(), "")
	for i, name := range []string{"vif1.0", "vif2.0", "vif3.0"} {
		r.links.add(7+i, name, "veth", 1500)
		r.d.attach(7+i, name)
	}
	want := []string{"afpacket vif1.0 send-only", "afpacket vif2.0 send-only", "afpacket vif3.0"}
	if !slices.Equal(r.socks.opened, want) {
		t.Fatalf("opened %q, want %q", r.socks.opened, want)
	}
	if n := sharedPorts(t, r.d); n != 2 {
		t.Errorf("%d ports on the shared receiver, want the 2 in the fast path", n)
	}
	// A broadcast punted on vif1.0 is flooded to the others, once each.
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, 1, 2, 3, 4}
	r.socks.shared.Inject(7, bcast)
	if got := r.socks.sendOnly["vif2.0"].WaitSent(1, 5*time.Second); len(got) != 1 {
		t.Fatalf("vif2.0 sent %d frames, want the broadcast once", len(got))
	}
	if got := r.socks.sendOnly["vif1.0"].Sent(); len(got) != 0 {
		t.Errorf("the broadcast went back to its ingress port")
	}
	if st, _ := r.port("vif1.0"); st.Counters.RxPackets != 1 {
		t.Errorf("vif1.0 counted %d received frames, want 1", st.Counters.RxPackets)
	}
	r.d.detach(7, "test")
	if n := sharedPorts(t, r.d); n != 1 {
		t.Errorf("%d ports on the shared receiver after a detach, want 1", n)
	}
	r.d.Close()
	if _, err := r.socks.shared.Receive(make([]dataplane.Frame, 1), make([]int32, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("shared receiver not closed with the daemon: %v", err)
	}
}

func TestWithoutSharedReceiverPortsPuntToTheirOwnRing(t *testing.T) {
	cfg, err := config.Parse("x.yaml", []byte(testBridge))
	if err != nil {
		t.Fatal(err)
	}
	socks := newFakeSockets()
	socks.sharedErr = errors.New("no AF_PACKET here")
	r := newRigSockets(t, cfg, fastpathtest.New(), socks)
	r.links.add(7, "vif1.0", "veth", 1500)
	r.d.attach(7, "vif1.0")
	if want := []string{"afpacket vif1.0 punt"}; !slices.Equal(r.socks.opened, want) {
		t.Errorf("opened %q, want %q", r.socks.opened, want)
	}
	if _, ok := r.d.SharedStats(); ok {
		t.Error("a shared receiver although it failed to open")
	}
}

func TestNoSharedReceiverWithoutFastPath(t *testing.T) {
	r := newRig(t, testBridge, nil, "")
	if r.socks.shared != nil {
		t.Error("shared receiver opened without a fast path")
	}
}

package daemon

import (
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/xswitch/xswitch/dataplane/afxdp"
	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
)

// Auto mode gives a native-XDP uplink an AF_XDP port only when its sockets
// carry the link's MTU.
func TestAutoTypeFollowsMTU(t *testing.T) {
	tests := []struct {
		mtu  int
		kind string
	}{
		{1500, "afxdp"},
		{9000, "afxdp"},
		{65000, "afpacket"},
	}
	for _, tt := range tests {
		if tt.mtu > afxdp.MaxMTU(afxdp.DefaultUMEMConfig().FrameSize, false) && tt.kind == "afxdp" && !afxdp.MultiBufferKernel() {
			tt.kind = "afpacket"
		}
		r := newRig(t, testBridge, fastpathtest.New(), "")
		r.native[7] = true
		r.links.add(7, "peth0", "device", tt.mtu)
		r.d.attach(7, "peth0")
		if ps, ok := r.port("peth0"); !ok || ps.Kind != tt.kind {
			t.Errorf("MTU %d: attached %v as %q, want %s", tt.mtu, ok, ps.Kind, tt.kind)
		}
	}
}

// An AF_XDP port whose link's MTU grows beyond what its sockets carry is
// attached again, on sockets opened for the new MTU; one whose MTU stays
// within keeps its sockets.
func TestAFXDPReopenedWhenMTUOutgrowsIt(t *testing.T) {
	r := newRig(t, testBridge+"    port-type: afxdp\n", fastpathtest.New(), "")
	r.links.add(7, "peth0", "device", 1500)
	r.d.attach(7, "peth0")
	first := r.socks.xsk["peth0"]
	first.maxMTU = 3822 // sockets without multi-buffer

	r.links.add(7, "peth0", "device", 3000)
	r.d.linkPresent(7, "peth0")
	if r.socks.xsk["peth0"] != first || first.mtu != 3000 {
		t.Fatalf("MTU 3000 within the sockets' 3822: reopened %v, MTU %d", r.socks.xsk["peth0"] != first, first.mtu)
	}

	r.links.add(7, "peth0", "device", 9000)
	r.d.linkPresent(7, "peth0")
	want := []string{"afxdp peth0 on xenbr0, 2 queues", "afxdp peth0 on xenbr0, 2 queues"}
	if !slices.Equal(r.socks.opened, want) || r.socks.xsk["peth0"] == first {
		t.Errorf("after the MTU grew to 9000, opened %q, want %q", r.socks.opened, want)
	}
	if ps, ok := r.port("peth0"); !ok || ps.Kind != "afxdp" {
		t.Errorf("peth0 attached %v as %q, want afxdp", ok, ps.Kind)
	}
	if _, err := first.Send(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the sockets opened for MTU 1500: Send says %v, want them closed", err)
	}
}

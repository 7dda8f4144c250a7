package daemon

import (
	"errors"
	"slices"
	"testing"

	"github.com/xswitch/xswitch/internal/daemon/fastpathtest"
)

func TestNotReady(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		noFP   bool   // the fast path failed to load
		fail   string // an interface whose socket does not open
		resync bool   // the first scan ran
		want   []string
	}{
		{name: "before the first scan", yaml: testBridge,
			want: []string{"starting: the interfaces are not all scanned yet"}},
		{name: "every port attached", yaml: testBridge, resync: true},
		{name: "a port that did not attach", yaml: testBridge, fail: "vif1.0", resync: true,
			want: []string{"port vif1.0 of xenbr0 not attached: no socket"}},
		{name: "fast path wanted, not loaded", yaml: testBridge, noFP: true, resync: true,
			want: []string{"fast path not loaded: no BPF here"}},
		{name: "fast path off, not loaded", yaml: "fastpath: \"off\"\nport-type: afpacket\n" + testBridge, noFP: true, resync: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fp *fastpathtest.FastPath
			if !tt.noFP {
				fp = fastpathtest.New()
			}
			r := newRig(t, tt.yaml, fp, "")
			if tt.fail != "" {
				r.socks.fail[tt.fail] = errors.New("no socket")
			}
			r.links.add(1, "lo", "device", 65536) // no port of any bridge
			r.links.add(2, "peth0", "device", 1500)
			r.links.add(3, "vif1.0", "veth", 1500)
			if tt.resync {
				if err := r.d.Resync(); err != nil {
					t.Fatal(err)
				}
			}
			if got := r.d.NotReady(); !slices.Equal(got, tt.want) {
				t.Errorf("NotReady() = %q, want %q", got, tt.want)
			}
		})
	}
}

// A port removed through the control API is not waited for; one whose
// attach failed is, until it attaches.
func TestNotReadyFollowsPorts(t *testing.T) {
	r := newRig(t, testBridge, fastpathtest.New(), "")
	r.socks.fail["vif1.0"] = errors.New("no socket")
	r.links.add(3, "vif1.0", "veth", 1500)
	if err := r.d.Resync(); err != nil {
		t.Fatal(err)
	}
	if got := r.d.NotReady(); len(got) != 1 {
		t.Fatalf("NotReady() = %q, want vif1.0", got)
	}
	delete(r.socks.fail, "vif1.0")
	if err := r.d.Resync(); err != nil {
		t.Fatal(err)
	}
	if got := r.d.NotReady(); len(got) != 0 {
		t.Fatalf("after the attach: NotReady() = %q, want nothing", got)
	}
	r.socks.fail["vif1.0"] = errors.New("no socket")
	if _, err := r.d.RemovePort("vif1.0"); err != nil {
		t.Fatal(err)
	}
	if got := r.d.NotReady(); len(got) != 0 {
		t.Errorf("after port del: NotReady() = %q, want nothing", got)
	}
}

package daemon

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/control/server"
)

var _ server.MirrorControl = (*Daemon)(nil)

func TestMirrors(t *testing.T) {
	state := filepath.Join(t.TempDir(), "ports.json")
	base := portsBase[:len(portsBase)-len("  - name: xenbr1\n")] + "    mirrors:\n      - {from: peth0, to: vif9.0, direction: ingress}\n  - name: xenbr1\n"
	r := newPortsRigFrom(t, base, state)
	ms, err := r.d.Mirrors("")
	if err != nil || len(ms) != 1 || ms[0] != (control.Mirror{Bridge: "xenbr0", From: "peth0", To: "vif9.0", Direction: "ingress"}) {
		t.Fatalf("mirrors of the file: %+v %v", ms, err)
	}
	res, err := r.d.SetMirror(control.Mirror{Bridge: "xenbr0", From: "vif1.0", To: "vif9.0"})
	if err != nil || !res.Changed || res.Direction != "both" {
		t.Fatalf("SetMirror: %+v %v", res, err)
	}
	if res, err := r.d.SetMirror(control.Mirror{Bridge: "xenbr0", From: "vif1.0", To: "vif9.0", Direction: "both"}); err != nil || res.Changed {
		t.Errorf("the same mirror again: %+v %v", res, err)
	}
	br, _ := r.d.Bridge("xenbr0")
	want := []dataplane.Mirror{{From: "peth0", To: "vif9.0", Dir: dataplane.MirrorIngress}, {From: "vif1.0", To: "vif9.0", Dir: dataplane.MirrorBoth}}
	if got := br.Mirrors(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("the bridge mirrors %+v, want %+v", got, want)
	}
	for _, bad := range []struct {
		m    control.Mirror
		kind error
	}{
		{control.Mirror{Bridge: "xenbr9", From: "vif1.0", To: "vif9.0"}, control.ErrNotFound},
		{control.Mirror{Bridge: "xenbr0", From: "vif1.0", To: "vif1.0"}, control.ErrInvalid},
		{control.Mirror{Bridge: "xenbr0", From: "vif9.0", To: "vif8.0"}, control.ErrInvalid},
		{control.Mirror{Bridge: "xenbr0", From: "vif1.0", To: "vif9.0", Direction: "up"}, control.ErrInvalid},
		{control.Mirror{Bridge: "xenbr0", From: "peth0", To: "vif9.0"}, control.ErrInvalid}, // the file's
	} {
		if _, err := r.d.SetMirror(bad.m); !errors.Is(err, bad.kind) {
			t.Errorf("SetMirror(%+v): %v, want %v", bad.m, err, bad.kind)
		}
	}
	if _, err := r.d.DeleteMirror(control.Mirror{Bridge: "xenbr0", From: "peth0", To: "vif9.0"}); !errors.Is(err, control.ErrInvalid) {
		t.Errorf("deleting the file's mirror: %v", err)
	}

	// Kept across a reload and a restart.
	if err := r.d.Reload(mustParse(t, base+"    aging-time: 10s\n")); err != nil {
		t.Fatal(err)
	}
	if got := br.Mirrors(); len(got) != 2 {
		t.Errorf("after a reload: %+v", got)
	}
	r.d.Close()
	r2 := newPortsRigFrom(t, base, state)
	ms, _ = r2.d.Mirrors("xenbr0")
	if len(ms) != 2 || !ms[1].Runtime || ms[1].From != "vif1.0" || ms[1].Active {
		t.Errorf("after a restart: %+v", ms)
	}
	if res, err := r2.d.DeleteMirror(control.Mirror{Bridge: "xenbr0", From: "vif1.0", To: "vif9.0"}); err != nil || !res.Changed {
		t.Errorf("DeleteMirror: %+v %v", res, err)
	}
	if res, err := r2.d.DeleteMirror(control.Mirror{Bridge: "xenbr0", From: "vif1.0", To: "vif9.0"}); err != nil || res.Changed {
		t.Errorf("DeleteMirror again: %+v %v", res, err)
	}
	b2, _ := r2.d.Bridge("xenbr0")
	if got := b2.Mirrors(); len(got) != 1 {
		t.Errorf("after the delete the bridge mirrors %+v", got)
	}
}

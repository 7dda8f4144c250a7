package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/control/server"
)

// mirrorer keeps mirrors as xswitchd would, without bridges.
type mirrorer struct {
	bridges
	ms []control.Mirror
}

func (m *mirrorer) Mirrors(bridge string) ([]control.Mirror, error) { return m.ms, nil }

func (m *mirrorer) SetMirror(c control.Mirror) (control.MirrorChange, error) {
	if c.Bridge != "xenbr0" {
		return control.MirrorChange{}, &apiErr{control.ErrNotFound, `no bridge "` + c.Bridge + `"`}
	}
	m.ms = append(m.ms, c)
	return control.MirrorChange{Mirror: c, Changed: true}, nil
}

func (m *mirrorer) DeleteMirror(c control.Mirror) (control.MirrorChange, error) {
	return control.MirrorChange{Mirror: c, Message: "mirror of " + c.From + ": there is none"}, nil
}

type apiErr struct {
	kind error
	msg  string
}

func (e *apiErr) Error() string { return e.msg }
func (e *apiErr) Unwrap() error { return e.kind }

func TestMirrorCommands(t *testing.T) {
	m := &mirrorer{bridges: bridges{dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0"}, nil)}}
	defer m.bridges[0].Close()
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := server.Listen(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: server.Handler(m)}
	go srv.Serve(l)
	defer srv.Close()

	out, errOut, code := xswitchctl(t, sock, "mirror", "add", "xenbr0", "vif1.0", "vif9.0", "-direction", "ingress")
	if code != 0 || out != "mirror of vif1.0 to vif9.0 on xenbr0: done\n" {
		t.Errorf("mirror add: exit %d, %q %q", code, out, errOut)
	}
	if len(m.ms) != 1 || m.ms[0].Direction != "ingress" {
		t.Errorf("the daemon got %+v", m.ms)
	}
	out, _, code = xswitchctl(t, sock, "mirror", "list")
	if code != 0 || !strings.Contains(out, "xenbr0  vif1.0  vif9.0  ingress") {
		t.Errorf("mirror list: exit %d\n%s", code, out)
	}
	out, _, code = xswitchctl(t, sock, "mirror", "del", "xenbr0", "vif1.0", "vif9.0")
	if code != 0 || !strings.Contains(out, "there is none") {
		t.Errorf("mirror del: exit %d, %q", code, out)
	}
	_, errOut, code = xswitchctl(t, sock, "mirror", "add", "xenbr7", "vif1.0", "vif9.0")
	if code != 1 || !strings.Contains(errOut, `no bridge "xenbr7"`) {
		t.Errorf("mirror add on an unknown bridge: exit %d, %q", code, errOut)
	}
	_, errOut, code = xswitchctl(t, sock, "mirror", "add", "xenbr0", "vif1.0", "vif9.0", "-direction", "up")
	if code != 2 || !strings.Contains(errOut, `-direction "up"`) {
		t.Errorf("a bad direction: exit %d, %q", code, errOut)
	}
}

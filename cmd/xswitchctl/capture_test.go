package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/porttest"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/control/server"
)

// captureRig is a bridge of two in-memory ports a and b behind a control
// socket; started receives the name of each port whose capture starts.
func captureRig(t *testing.T) (sock string, a, b *porttest.Port, started chan string) {
	t.Helper()
	started = make(chan string, 8)
	br := dataplane.NewBridge(dataplane.BridgeConfig{Name: "xenbr0", FDB: fdb.DefaultConfig(), OnCapture: func(p dataplane.PortInfo, on bool) {
		if on {
			started <- p.Name
		}
	}}, nil)
	t.Cleanup(func() { br.Close() })
	a, b = porttest.New("vif1.0", 8), porttest.New("vif2.0", 8)
	for _, p := range []*porttest.Port{a, b} {
		if _, err := br.AddPort(p, dataplane.PortInfo{Name: p.Name(), Kind: "porttest"}); err != nil {
			t.Fatal(err)
		}
	}
	sock = filepath.Join(t.TempDir(), "ctl.sock")
	l, err := server.Listen(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: server.Handler(bridges{br})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock, a, b, started
}

// startCapture runs xswitchctl capture with args in the background and
// returns a function that waits for it.
func startCapture(t *testing.T, sock string, args ...string) func() (string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-socket", sock, "capture"}, args...)...)
	cmd.Env = append(os.Environ(), "XSWITCHCTL_TEST_RUN=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() (string, string) {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("capture: %v: %s", err, errOut.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("capture did not end: %s", errOut.String())
		}
		return out.String(), errOut.String()
	}
}

// waitCapturing waits until the daemon has the capture of port running: a
// frame sent before would be missed.
func waitCapturing(t *testing.T, started chan string, port string) {
	t.Helper()
	select {
	case p := <-started:
		if p != port {
			t.Fatalf("capture of %s started, want %s", p, port)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the capture of %s did not start", port)
	}
}

func TestCapture(t *testing.T) {
	sock, a, b, started := captureRig(t)
	file := filepath.Join(t.TempDir(), "cap.pcapng")
	wait := startCapture(t, sock, "vif1.0", "-w", file, "-c", "2")
	waitCapturing(t, started, "vif1.0")
	bc := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, 'h', 'i'}
	reply := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5, 'y', 'o'}
	a.Inject(bc)
	b.WaitSent(1, 2*time.Second)
	b.Inject(reply)
	a.WaitSent(1, 2*time.Second)
	_, errOut := wait()
	if !strings.Contains(errOut, "2 frames captured") {
		t.Errorf("stderr: %q", errOut)
	}

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ng, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		data []byte
		dir  string
	}{{bc, "in"}, {reply, "out"}} {
		data, ci, err := ng.ReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		intf, _ := ng.Interface(ci.InterfaceIndex)
		port, dir, path, _ := control.ParseCaptureInterfaceDescription(intf.Description)
		if !bytes.Equal(data, w.data) || port != "vif1.0" || dir != w.dir || path != "userspace" || intf.Name != "vif1.0" {
			t.Errorf("captured %x on %q (%s), want %x %s userspace", data, intf.Name, intf.Description, w.data, w.dir)
		}
	}
	if tcpdump, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command(tcpdump, "-n", "-e", "-r", file).CombinedOutput()
		if err != nil || strings.Count(string(out), "\n") < 2 || !strings.Contains(string(out), "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff") {
			t.Errorf("tcpdump -r: %v\n%s", err, out)
		}
	}

	// A line per frame, filtered on a MAC.
	wait = startCapture(t, sock, "vif2.0", "-c", "1", "-mac", "02:00:00:00:00:02")
	waitCapturing(t, started, "vif2.0")
	a.Inject(bc) // not to or from 02:...:02
	b.WaitSent(1, 2*time.Second)
	b.Inject(reply)
	a.WaitSent(1, 2*time.Second)
	out, _ := wait()
	if !strings.Contains(out, " in  userspace 02:00:00:00:00:02 > 02:00:00:00:00:01, ") || strings.Count(out, "\n") != 1 {
		t.Errorf("capture lines:\n%s", out)
	}

	_, errOut, code := xswitchctl(t, sock, "capture", "vif9.9", "-c", "1")
	if code != 1 || !strings.Contains(errOut, "vif9.9") {
		t.Errorf("capture of a port that is not there: exit %d, %q", code, errOut)
	}
	_, errOut, code = xswitchctl(t, sock, "capture", "vif1.0", "-mac", "nonsense")
	if code != 1 || !strings.Contains(errOut, "nonsense") {
		t.Errorf("capture with a bad MAC: exit %d, %q", code, errOut)
	}
}

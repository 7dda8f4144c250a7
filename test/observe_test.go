package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/xswitch/xswitch/internal/control"
)

// startCapture runs xswitchctl capture with args and waits until it
// captures; stop ends it with Ctrl-C and returns its standard error.
func (d *dom0) startCapture(args ...string) (stop func() string) {
	d.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "xswitchctl"), append([]string{"-socket", filepath.Join(d.dir, "ctl.sock"), "capture"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if !strings.HasPrefix(l, "capturing on ") {
			cmd.Process.Kill()
			cmd.Wait()
			d.t.Fatalf("xswitchctl capture: %s", l)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		d.t.Fatal("xswitchctl capture did not start within 5s")
	}
	done := false
	d.t.Cleanup(func() {
		if !done {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return func() string {
		done = true
		cmd.Process.Signal(syscall.SIGINT)
		var rest []string
		for l := range lines {
			rest = append(rest, l)
		}
		if err := cmd.Wait(); err != nil {
			d.t.Errorf("xswitchctl capture: %v: %s", err, rest)
		}
		return strings.Join(rest, "\n")
	}
}

// capturedFrame is one frame of a pcapng file of xswitchctl capture.
type capturedFrame struct {
	data      []byte
	dir, path string
}

func readCapture(t *testing.T, file string) []capturedFrame {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ng, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []capturedFrame
	for {
		data, ci, err := ng.ReadPacketData()
		if err != nil {
			return out
		}
		intf, _ := ng.Interface(ci.InterfaceIndex)
		_, dir, path, _ := control.ParseCaptureInterfaceDescription(intf.Description)
		out = append(out, capturedFrame{data: data, dir: dir, path: path})
	}
}

// TestCaptureTraceMirror captures a guest's flow with xswitchctl capture,
// mirrors the guest's port to an IDS guest, and traces a frame of the flow.
// With a fast path, the flow is the fast path's once both MACs are learned:
// the capture has its frames from the programs, which also copy them to
// the IDS (TC; XDP leaves mirrored ports' frames to TC or userspace).
func TestCaptureTraceMirror(t *testing.T) { forEachMode(t, testCaptureTraceMirror) }

func testCaptureTraceMirror(t *testing.T, mode string) {
	d := newDom0(t, mode)
	a := d.guest("vif4.0", 1, "10.14.0.1/24")
	b := d.guest("vif5.0", 2, "10.14.0.2/24")
	ids := d.guest("vif6.0", 3, "10.14.0.3/24")
	// The mirror added at run time is kept in the test's own state file.
	d.args = append(d.args, "-port-state", filepath.Join(d.dir, "ports.json"))
	d.start(`
bridges:
  - name: xenbr0
    ports: ["vif*"]
`)
	d.waitPorts(5*time.Second, "vif4.0=xenbr0", "vif5.0=xenbr0", "vif6.0=xenbr0")
	atA, atB, atIDS := capture(t, a), capture(t, b), capture(t, ids)
	file := filepath.Join(d.dir, "vif4.0.pcapng")
	stop := d.startCapture("vif4.0", "-w", file)

	inject(t, b, marker(a.MAC(), b.MAC(), "hello-b"))
	exactly(t, atA, "a", tagged("hello-b"), 1)
	inject(t, a, marker(b.MAC(), a.MAC(), "hello-a"))
	exactly(t, atB, "b", tagged("hello-a"), 1)
	const n = 20
	var sent, answered [][]byte
	for i := range n {
		f := marker(b.MAC(), a.MAC(), fmt.Sprint("m-", i))
		sent = append(sent, f)
		inject(t, a, f)
		r := marker(a.MAC(), b.MAC(), fmt.Sprint("r-", i))
		answered = append(answered, r)
		inject(t, b, r)
	}
	exactly(t, atB, "b", taggedPrefix("m-"), n)
	exactly(t, atA, "a", taggedPrefix("r-"), n)

	summary := stop()
	if !strings.Contains(summary, fmt.Sprintf("%d frames captured", 2*n+2)) {
		t.Errorf("capture summary %q, want %d frames", summary, 2*n+2)
	}
	got := readCapture(t, file)
	path := "userspace"
	if fastPath(mode) != "off" {
		path = fastPath(mode)
	}
	match := func(want []byte, dir string) {
		t.Helper()
		k := 0
		for _, f := range got {
			if bytes.Equal(f.data, want) {
				k++
				if f.dir != dir || f.path != path {
					t.Errorf("frame %q captured as %s %s, want %s %s", want[14:26], f.dir, f.path, dir, path)
				}
			}
		}
		if k != 1 {
			t.Errorf("frame %q captured %d times, want once, byte for byte", want[14:26], k)
		}
	}
	for i := range n {
		match(sent[i], "in")
		match(answered[i], "out")
	}
	if tcpdump, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command(tcpdump, "-n", "-e", "-r", file).CombinedOutput()
		if err != nil || strings.Count(string(out), "ethertype Unknown (0x88b5)") != 2*n+2 {
			t.Errorf("tcpdump -r %s: %v\n%s", file, err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Error("tcpdump is missing: scripts/deps.sh installs it for the e2e tests")
	}

	// Mirrored at run time, a's port copies to the IDS, once, everything a
	// receives and sends, whichever path forwards it.
	if err := d.ctl.Put(context.Background(), "/v1/mirrors", control.Mirror{Bridge: "xenbr0", From: "vif4.0", To: "vif6.0"}, &control.MirrorChange{}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		inject(t, a, marker(b.MAC(), a.MAC(), fmt.Sprint("p-", i)))
		inject(t, b, marker(a.MAC(), b.MAC(), fmt.Sprint("q-", i)))
	}
	exactly(t, atB, "b", taggedPrefix("p-"), n)
	exactly(t, atA, "a", taggedPrefix("q-"), n)
	exactly(t, atIDS, "ids", taggedPrefix("p-"), n)
	exactly(t, atIDS, "ids", taggedPrefix("q-"), n)

	// The trace of a's next frame says what happened to the others: the
	// TC program's verdict, then userspace's.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "xswitchctl"), "-socket", filepath.Join(d.dir, "ctl.sock"), "trace", "xenbr0",
		"in=vif4.0", "src="+a.MAC().String(), "dst="+b.MAC().String(), "type=0x88b5").CombinedOutput()
	if err != nil {
		t.Fatalf("xswitchctl trace: %v\n%s", err, out)
	}
	fast := "fast path: no verdict (the port has no fast path, or is an AF_XDP port, whose program is not traced)"
	if fastPath(mode) != "off" && !isAFXDP(mode) {
		fast = "fast path (tc): redirect to vif5.0"
	}
	for _, want := range []string{
		fast,
		"source " + a.MAC().String() + ": on vif4.0, seen ",
		"destination " + b.MAC().String() + ": on vif5.0, seen ",
		"verdict: unicast (destination learned on vif5.0)",
		"  out vif5.0, as is",
		"  copy to vif6.0 (mirror)",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}

	// What the IDS sends goes nowhere, is counted, and teaches nothing.
	inject(t, ids, marker(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ids.MAC(), "from-ids"))
	inject(t, ids, marker(a.MAC(), ids.MAC(), "from-ids"))
	exactly(t, atA, "a", tagged("from-ids"), 0)
	exactly(t, atB, "b", tagged("from-ids"), 0)
	if got := d.ports()["vif6.0"].Drops["mirror_destination"]; got != 2 {
		t.Errorf("vif6.0 dropped %d frames as a mirror's destination, want 2", got)
	}
	if port, ok := d.fdb()["xenbr0 "+ids.MAC().String()]; ok {
		t.Errorf("the IDS's MAC was learned on %s", port)
	}
}

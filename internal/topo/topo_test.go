package topo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xswitch/xswitch/internal/nstest"
	"github.com/xswitch/xswitch/internal/topo/netns"
)

// requireRoot skips a test that needs root, except in CI, where root is
// promised and its absence is a failure.
func newHost(t *testing.T) *Host {
	t.Helper()
	nstest.RequireRoot(t)
	h, err := NewHost("topo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("close host: %v", err)
		}
	})
	return h
}

func addGuest(t *testing.T, h *Host, vif string, n int, addr string) *Guest {
	t.Helper()
	g, err := h.AddGuest(vif, MAC(n), netip.MustParsePrefix(addr))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func equal(want []byte) func([]byte) bool {
	return func(f []byte) bool { return bytes.Equal(f, want) }
}

// token makes frames of one test run unlike anything else on the link.
func token(t *testing.T) []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return []byte(fmt.Sprintf("%s-%x", t.Name(), b))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// nsInode is the inode of the network namespace at path, e.g.
// /proc/thread-self/ns/net.
func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// netdevs lists the interfaces in a /proc/net/dev listing.
func netdevs(t *testing.T, out []byte) []string {
	t.Helper()
	var devs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if name, _, ok := strings.Cut(sc.Text(), ":"); ok {
			devs = append(devs, strings.TrimSpace(name))
		}
	}
	slices.Sort(devs)
	return devs
}

// TestGuestsOnBridge joins two guests with a kernel bridge in the host and
// checks every tool of a guest against it.
func TestGuestsOnBridge(t *testing.T) {
	h := newHost(t)
	a := addGuest(t, h, "vif1.0", 1, "10.201.0.1/24")
	b := addGuest(t, h, "vif2.0", 2, "10.201.0.2/24")
	if err := h.AddBridge("br0", a.Vif(), b.Vif()); err != nil {
		t.Fatal(err)
	}
	capA, err := a.Capture()
	if err != nil {
		t.Fatal(err)
	}
	capB, err := b.Capture()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// sendAB injects frames on a, then a marker frame, and waits for the
	// marker on b: frames on the same path arrive in order, so every copy
	// of the frames that b will ever get has arrived by then.
	sendAB := func(t *testing.T, frames ...[]byte) {
		t.Helper()
		marker := UDPFrame(a.MAC(), b.MAC(), a.Addr(), b.Addr(), 9, 9, token(t))
		if err := a.Inject(append(frames, marker)...); err != nil {
			t.Fatal(err)
		}
		if err := capB.WaitFor(equal(marker), 1, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("addresses and names", func(t *testing.T) {
		if a.MAC().String() != MAC(1).String() || a.Addr() != netip.MustParseAddr("10.201.0.1") || a.Vif() != "vif1.0" {
			t.Errorf("guest a: MAC %s addr %s vif %s", a.MAC(), a.Addr(), a.Vif())
		}
		if !strings.HasPrefix(a.Name(), h.Name()+"-") || a.NSPath() != filepath.Join("/run/netns", a.Name()) || !exists(a.NSPath()) {
			t.Errorf("guest netns %s at %s, host %s", a.Name(), a.NSPath(), h.Name())
		}
		// The vifs carry no address, not even an IPv6 link-local one.
		err := h.Do(func() error {
			for _, vif := range []string{a.Vif(), b.Vif(), "br0"} {
				l, err := netlink.LinkByName(vif)
				if err != nil {
					return err
				}
				if l.Attrs().OperState != netlink.OperUp {
					return fmt.Errorf("%s is %s, want up", vif, l.Attrs().OperState)
				}
				addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
				if err != nil {
					return err
				}
				if len(addrs) != 0 {
					return fmt.Errorf("%s has addresses %v", vif, addrs)
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})

	t.Run("inject and capture", func(t *testing.T) {
		f := UDPFrame(a.MAC(), b.MAC(), a.Addr(), b.Addr(), 1000, 2000, token(t))
		sendAB(t, f)
		if n := capB.Count(equal(f)); n != 1 {
			t.Errorf("b received the frame %d times, want once intact; b has %d frames", n, capB.Count(nil))
		}
		// a's socket queued any copy of f before b got it, so the copy
		// would be read before a frame that b sends back now.
		back := UDPFrame(b.MAC(), a.MAC(), b.Addr(), a.Addr(), 2000, 1000, token(t))
		if err := b.Inject(back); err != nil {
			t.Fatal(err)
		}
		if err := capA.WaitFor(equal(back), 1, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if n := capA.Count(equal(f)); n != 0 {
			t.Errorf("a's capture recorded its own outgoing frame %d times", n)
		}
		frames := capB.Frames()
		i := slices.IndexFunc(frames, equal(f))
		if i < 0 {
			t.Fatal("Frames lacks the frame that Count found")
		}
		frames[i][0] ^= 0xff
		if capB.Count(equal(f)) != 1 {
			t.Error("changing a frame returned by Frames changed the capture")
		}
	})

	t.Run("vlan tags are put back", func(t *testing.T) {
		for _, tpid := range []uint16{0x8100, 0x88a8} {
			f := Tag(UDPFrame(a.MAC(), b.MAC(), a.Addr(), b.Addr(), 1000, 2000, token(t)), tpid, 0x2000|100)
			sendAB(t, f)
			if n := capB.Count(equal(f)); n != 1 {
				t.Errorf("tpid %#04x: b received the tagged frame intact %d times, want once", tpid, n)
			}
		}
	})

	t.Run("udp frame reaches a socket", func(t *testing.T) {
		// The guest's kernel verifies checksums of frames from a packet
		// socket: a datagram delivered proves UDPFrame's are right.
		pc, err := b.ListenPacket("udp4", b.Addr().String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
		payload := token(t)
		if err := a.Inject(UDPFrame(a.MAC(), b.MAC(), a.Addr(), b.Addr(), 4321, port, payload)); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2048)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], payload) || from.String() != a.Addr().String()+":4321" {
			t.Errorf("got %q from %s, want %q from %s:4321", buf[:n], from, payload, a.Addr())
		}
	})

	t.Run("link stats", func(t *testing.T) {
		stats := func() (sa, sb, sva, svb LinkStats) {
			t.Helper()
			var err error
			if sa, err = a.LinkStats(); err != nil {
				t.Fatal(err)
			}
			if sb, err = b.LinkStats(); err != nil {
				t.Fatal(err)
			}
			if sva, err = h.LinkStats(a.Vif()); err != nil {
				t.Fatal(err)
			}
			if svb, err = h.LinkStats(b.Vif()); err != nil {
				t.Fatal(err)
			}
			return
		}
		const n = 8
		f := UDPFrame(a.MAC(), b.MAC(), a.Addr(), b.Addr(), 1000, 2000, token(t))
		frames := slices.Repeat([][]byte{f}, n)
		// The host's bridge sends frames of its own accord now and then
		// (IGMP reports, when it joins the all-snoopers group): a round in
		// which b's counters saw anything else is measured again. (The
		// capture cannot tell: it may read such a frame only after the
		// round.) A fault of topo's counts shows in every round.
		var a0, b0, va0, vb0, a1, b1, va1, vb1 LinkStats
		var copies int // copies of f b had before the last round
		for round := 1; ; round++ {
			copies = capB.Count(equal(f))
			a0, b0, va0, vb0 = stats()
			sendAB(t, frames...)
			a1, b1, va1, vb1 = stats()
			if d := b1.Sub(b0); d.RxPackets == n+1 && vb1.Sub(vb0).TxPackets == n+1 || round == 3 {
				break
			}
		}
		size := uint64(len(f))
		marker := uint64(len(UDPFrame(a.MAC(), b.MAC(), a.Addr(), b.Addr(), 9, 9, token(t))))
		for _, c := range []struct {
			what           string
			got            uint64
			wantN, wantLen uint64
		}{
			{"a eth0 tx packets", a1.Sub(a0).TxPackets, n + 1, 0},
			{"a eth0 tx bytes", a1.Sub(a0).TxBytes, 0, n*size + marker},
			{"host vif1.0 rx packets", va1.Sub(va0).RxPackets, n + 1, 0},
			{"host vif2.0 tx packets", vb1.Sub(vb0).TxPackets, n + 1, 0},
			{"b eth0 rx packets", b1.Sub(b0).RxPackets, n + 1, 0},
			{"b eth0 rx bytes", b1.Sub(b0).RxBytes, 0, n*size + marker},
		} {
			if want := c.wantN + c.wantLen; c.got != want {
				t.Errorf("%s grew by %d, want %d", c.what, c.got, want)
			}
		}
		if d := b1.Sub(b0); d.RxDropped != 0 || d.RxErrors != 0 {
			t.Errorf("b eth0 counted %d drops, %d errors", d.RxDropped, d.RxErrors)
		}
		if n := capB.Count(equal(f)) - copies; n != 8 {
			t.Errorf("b captured %d copies, want 8", n)
		}
	})

	t.Run("tcp between guests", func(t *testing.T) {
		l, err := b.Listen("tcp", b.Addr().String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			sum := sha256.New()
			io.Copy(sum, c)
			c.Write(sum.Sum(nil))
		}()
		c, err := a.Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		data := make([]byte, 8<<20)
		rand.Read(data)
		if _, err := c.Write(data); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(data); !bytes.Equal(got, want[:]) {
			t.Errorf("b hashed %x, a sent %x", got, want)
		}
	})

	t.Run("do enters the namespace", func(t *testing.T) {
		want := nsInode(t, a.NSPath())
		var got uint64
		if err := a.Do(func() error {
			fi, err := os.Stat("/proc/thread-self/ns/net")
			if err != nil {
				return err
			}
			got = fi.Sys().(*syscall.Stat_t).Ino
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Do ran in netns inode %d, want %d", got, want)
		}
		if own := nsInode(t, "/proc/self/ns/net"); own == want {
			t.Error("the process's main thread is in the guest netns")
		}
		sentinel := errors.New("sentinel")
		if err := a.Do(func() error { return sentinel }); err != sentinel {
			t.Errorf("Do returned %v, want fn's error", err)
		}
		if err := a.Do(func() error { runtime.Goexit(); return nil }); err == nil {
			t.Error("Do returned nil for a function that never returned")
		}
	})

	t.Run("command", func(t *testing.T) {
		requireTool(t, "nsenter")
		out, err := a.Command(ctx, "cat", "/proc/net/dev").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := netdevs(t, out), []string{"eth0", "lo"}; !slices.Equal(got, want) {
			t.Errorf("guest has links %v, want %v", got, want)
		}
		out, err = h.Command(ctx, "cat", "/proc/net/dev").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := netdevs(t, out), []string{"br0", "lo", "vif1.0", "vif2.0"}; !slices.Equal(got, want) {
			t.Errorf("host has links %v, want %v", got, want)
		}
	})

	t.Run("http client dials in the host", func(t *testing.T) {
		l, err := h.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		body := string(token(t))
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		})}
		go srv.Serve(l)
		defer srv.Close()
		url := "http://" + l.Addr().String() + "/metrics"
		resp, err := h.HTTPClient().Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != body {
			t.Errorf("GET %s = %q, %v; want %q", url, got, err, body)
		}
		// The same address in this process's namespace is another host's.
		if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s answers outside the host namespace too", l.Addr())
		}
	})

	t.Run("hot add and remove", func(t *testing.T) {
		c := addGuest(t, h, "vif3.0", 3, "10.201.0.3/24")
		capC, err := c.Capture()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.LinkStats("vif3.0"); err != nil {
			t.Fatalf("hot-added vif: %v", err)
		}
		if err := c.Remove(); err != nil {
			t.Fatal(err)
		}
		_, err = h.LinkStats("vif3.0")
		if !errors.As(err, new(netlink.LinkNotFoundError)) {
			t.Errorf("after Remove, vif3.0 in the host: %v; want link not found", err)
		}
		if exists(c.NSPath()) {
			t.Errorf("after Remove, %s still exists", c.NSPath())
		}
		if err := c.Remove(); err != nil {
			t.Errorf("second Remove: %v", err)
		}
		if err := c.Inject(smallFrame()); !errors.Is(err, ErrRemoved) {
			t.Errorf("Inject after Remove: %v, want ErrRemoved", err)
		}
		if err := c.Do(func() error { return nil }); !errors.Is(err, ErrRemoved) {
			t.Errorf("Do after Remove: %v, want ErrRemoved", err)
		}
		if err := capC.WaitFor(nil, 1, 10*time.Second); err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("WaitFor on a capture closed by Remove: %v, want stopped", err)
		}
		// The others are unaffected.
		sendAB(t)
	})
}

// smallFrame is a minimal frame of a local experimental ethertype.
func smallFrame() []byte { return EtherFrame(MAC(2), MAC(1), 0x88b5, nil) }

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI is set", name)
	}
	t.Skipf("%s is not installed", name)
}

// TestWireIPv6 checks AddWire and IPv6 guests, which must be usable at once.
func TestWireIPv6(t *testing.T) {
	h := newHost(t)
	a, b, err := h.AddWire(MAC(11), netip.MustParsePrefix("fd00:201::1/64"), MAC(12), netip.MustParsePrefix("fd00:201::2/64"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Vif() != "" || b.Vif() != "" || a.MAC().String() != MAC(11).String() || b.MAC().String() != MAC(12).String() {
		t.Errorf("wire ends: vif %q %q, MAC %s %s", a.Vif(), b.Vif(), a.MAC(), b.MAC())
	}
	l, err := b.Listen("tcp", "["+b.Addr().String()+"]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := token(t)
	c.Write(msg)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("echo over the wire: %q, %v", got, err)
	}

	if err := a.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LinkStats(); !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Errorf("after removing one end, the other's eth0: %v; want link not found", err)
	}
}

func TestAddGuestFailureLeavesNothing(t *testing.T) {
	h := newHost(t)
	addGuest(t, h, "vif1.0", 1, "10.202.0.1/24")
	ours := func() []string {
		entries, err := os.ReadDir(netns.Dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), h.Name()) {
				names = append(names, e.Name())
			}
		}
		return names
	}
	before := ours()
	if len(before) != 2 {
		t.Fatalf("host and one guest make %v", before)
	}
	for _, vif := range []string{"vif1.0", "a-name-far-too-long-for-linux"} {
		_, err := h.AddGuest(vif, MAC(2), netip.MustParsePrefix("10.202.0.2/24"))
		if err == nil {
			t.Fatalf("AddGuest(%q) succeeded", vif)
		}
		if !strings.Contains(err.Error(), vif) {
			t.Errorf("AddGuest(%q) error does not name the vif: %v", vif, err)
		}
		if after := ours(); !slices.Equal(after, before) {
			t.Errorf("failed AddGuest(%q) left namespaces: %v, before %v", vif, after, before)
		}
	}
}

func TestClose(t *testing.T) {
	nstest.RequireRoot(t)
	h, err := NewHost("close")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	g := addGuest(t, h, "vif1.0", 1, "10.203.0.1/24")
	removed := addGuest(t, h, "vif2.0", 2, "10.203.0.2/24")
	if err := removed.Remove(); err != nil {
		t.Fatal(err)
	}
	u, err := h.AddUplink("peth0", MAC(3), netip.MustParsePrefix("10.203.0.3/24"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkStats("peth0"); err != nil || u.Vif() != "peth0" {
		t.Errorf("uplink %q in the host: %v", u.Vif(), err)
	}
	wa, wb, err := h.AddWire(MAC(4), netip.Prefix{}, MAC(5), netip.Prefix{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Capture(); err != nil {
		t.Fatal(err)
	}
	if err := g.Inject(smallFrame()); err != nil {
		t.Fatal(err)
	}
	paths := []string{h.NSPath(), g.NSPath(), u.NSPath(), wa.NSPath(), wb.NSPath()}
	for _, p := range paths {
		if !exists(p) {
			t.Fatalf("%s missing before Close", p)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if exists(p) {
			t.Errorf("%s still exists after Close", p)
		}
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := h.AddGuest("vif9.0", MAC(9), netip.Prefix{}); !errors.Is(err, ErrRemoved) {
		t.Errorf("AddGuest after Close: %v, want ErrRemoved", err)
	}
	if err := h.Do(func() error { return nil }); !errors.Is(err, ErrRemoved) {
		t.Errorf("Do after Close: %v, want ErrRemoved", err)
	}
}

func TestRemoveStale(t *testing.T) {
	nstest.RequireRoot(t)
	max, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(max)))
	if err != nil {
		t.Fatal(err)
	}
	// No process can have a pid above pid_max; the parent (go test) lives
	// on until this test ends, and dies before a later run cleans up.
	dead := fmt.Sprintf("%s%d-stale-%d", marker, n+1, seq.Add(1))
	alive := fmt.Sprintf("%s%d-stale-%d", marker, os.Getppid(), seq.Add(1))
	for _, name := range []string{dead, alive} {
		ns, err := createNetns(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.close() })
	}
	if err := removeStale(); err != nil {
		t.Fatal(err)
	}
	if exists(netns.Path(dead)) {
		t.Errorf("namespace %s of a dead pid survived", dead)
	}
	if !exists(netns.Path(alive)) {
		t.Errorf("namespace %s of a live pid was removed", alive)
	}
}

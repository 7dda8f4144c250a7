package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKillUnderTraffic kills xswitchd with SIGKILL in the middle of a
// learned unicast flow, as a crash would: the fast path carries the flow
// while no daemon runs, the next xswitchd adopts the pinned fast path and
// the ports without an error and takes the dead one's lock over, and
// floods, which need the daemon, come back within a second of it being
// ready.
func TestKillUnderTraffic(t *testing.T) { fastModes(t, testKillUnderTraffic) }

func testKillUnderTraffic(t *testing.T, mode string) {
	d := newDom0(t, mode)
	notify := listenNotify(t)
	a := d.guest("vif1.0", 1, "10.24.0.1/24")
	b := d.guest("vif2.0", 2, "10.24.0.2/24")
	d.start("")
	notify.expect("READY=1")
	d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0")
	atA, atB := capture(t, a), capture(t, b)
	d.learnBoth(a, b, atA, atB)
	pins := d.resources().pins
	programs := d.fastPathPrograms("vif1.0", "vif2.0")
	first := d.cmd.Process.Pid
	lock := lockOf(t, first)

	// a sends to b 10 frames every 10 ms for 4 s; floods from a start when
	// the daemon dies, one every 10 ms, in turn a broadcast and a frame to
	// a MAC never seen.
	const seconds, rate, burst = 4, 1000, 10
	const n = seconds * rate
	sent := make([]time.Time, n)
	var (
		floodSent []time.Time
		floodMu   sync.Mutex
		killed    = make(chan struct{})
		done      = make(chan error, 2)
	)
	go func() {
		tick := time.NewTicker(time.Second * burst / rate)
		defer tick.Stop()
		for i := 0; i < n; i += burst {
			<-tick.C
			frames := make([][]byte, burst)
			for j := range frames {
				frames[j] = marker(b.MAC(), a.MAC(), fmt.Sprint("kl-", i+j))
			}
			now := time.Now()
			if _, err := send(a, frames...); err != nil {
				done <- err
				return
			}
			for j := range burst {
				sent[i+j] = now
			}
		}
		done <- nil
	}()
	stop := make(chan struct{})
	go func() {
		<-killed
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
			}
			dst := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			if k%2 == 1 {
				dst = net.HardwareAddr{0x02, 0x59, 0, 0, byte(k >> 8), byte(k)}
			}
			floodMu.Lock()
			floodSent = append(floodSent, time.Now())
			floodMu.Unlock()
			if _, err := send(a, marker(dst, a.MAC(), fmt.Sprint("kf-", k))); err != nil {
				done <- err
				return
			}
		}
	}()

	time.Sleep(time.Second)
	killedAt := time.Now()
	d.kill()
	close(killed)
	// A second with no daemon at all.
	time.Sleep(time.Second)
	logFrom := len(d.log.String())
	d.start("")
	notify.expect("READY=1")
	readyAt := time.Now()
	d.waitPorts(0, "vif1.0=xenbr0", "vif2.0=xenbr0")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The flow: every frame once, also those sent while no daemon ran.
	if err := atB.WaitFor(taggedPrefix("kl-"), n, 10*time.Second); err != nil {
		t.Error(err)
	}
	time.Sleep(settle)
	lost, dup := seqLoss(atB, "kl-", n)
	whileDead := 0
	for _, s := range sent {
		if s.After(killedAt) && s.Before(readyAt) {
			whileDead++
		}
	}
	if lost != 0 || dup != 0 {
		t.Errorf("the learned flow lost %d and duplicated %d of %d frames across the kill", lost, dup, n)
	}

	// Floods: the first one through after the kill, measured from READY=1
	// of the new daemon (0 if it came through before).
	floodMu.Lock()
	fsent := slices.Clone(floodSent)
	floodMu.Unlock()
	got := seqSeen(atB, "kf-", len(fsent))
	firstFlood := -1
	for k, c := range got {
		if c > 0 {
			firstFlood = k
			break
		}
	}
	if firstFlood < 0 {
		t.Fatalf("none of %d floods sent after the kill arrived", len(fsent))
	}
	resumed := max(fsent[firstFlood].Sub(readyAt), 0)
	if resumed > time.Second {
		t.Errorf("floods resumed %v after the new daemon was ready, want within 1s", resumed)
	}
	// From then on, every flood arrives, once.
	for k := firstFlood; k < len(fsent); k++ {
		if got[k] != 1 && fsent[k].After(readyAt.Add(resumed)) {
			t.Errorf("flood kf-%d, sent %v after READY=1, arrived %d times, want once", k, fsent[k].Sub(readyAt).Round(time.Millisecond), got[k])
		}
	}

	// The new daemon adopted everything.
	log := d.log.String()[logFrom:]
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") && strings.Contains(l, "attach") {
			t.Errorf("the new daemon logged: %s", l)
		}
	}
	if !strings.Contains(log, "adopted") {
		t.Error("the new daemon did not say it adopted the pinned fast path")
	}
	if now := d.resources().pins; !slices.Equal(now, pins) {
		t.Errorf("pins after the kill and restart: %v, were %v", now, pins)
	}
	if got := d.fastPathPrograms("vif1.0", "vif2.0"); got != programs {
		t.Errorf("%d fast-path programs on the vifs, were %d", got, programs)
	}
	if pid := lockPid(t, lock); pid != d.cmd.Process.Pid {
		t.Errorf("lock %s names pid %d, want the new daemon's %d", lock, pid, d.cmd.Process.Pid)
	}
	fdb := d.fdb()
	if fdb["xenbr0 "+a.MAC().String()] != "vif1.0" || fdb["xenbr0 "+b.MAC().String()] != "vif2.0" {
		t.Errorf("the new daemon's fdb %v lacks a or b", fdb)
	}
	t.Logf("killed pid %d; %d of the %d frames sent while no daemon ran (%v until READY=1) arrived, all %d once; "+
		"floods resumed %v after READY=1 (first through: kf-%d of %d); pid %d took lock %s over",
		first, whileDead, whileDead, readyAt.Sub(killedAt).Round(time.Millisecond), n,
		resumed.Round(time.Millisecond), firstFlood, len(fsent), d.cmd.Process.Pid, filepath.Base(lock))
}

// lockOf returns the daemon lock file that names pid.
func lockOf(t *testing.T, pid int) string {
	t.Helper()
	files, _ := filepath.Glob("/run/xswitch/*.lock")
	for _, f := range files {
		if lockPid(t, f) == pid {
			return f
		}
	}
	t.Fatalf("no lock file in /run/xswitch names pid %d", pid)
	return ""
}

// lockPid returns the pid a lock file names, 0 if none.
func lockPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

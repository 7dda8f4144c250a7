//go:build soak

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo"
	"github.com/xswitch/xswitch/internal/topo/netns"
)

// TestSoak runs the switch for SOAK_DURATION (10m by default) in mode
// SOAK_MODE (tc by default; one with a fast path, which carries the marked
// flows across restarts) under mixed traffic, vif churn, xswitchctl calls,
// reloads and restarts, by SIGTERM and by SIGKILL in turn, and checks every
// second:
//   - exactly once: every frame of two numbered flows between guests that
//     stay (a→b and b→a) arrives once: none is missing when a frame sent a
//     second after it has arrived, or 30 s after it was sent;
//   - counters only grow: every counter series of /metrics is at least what
//     it was a second earlier, unless the daemon or the series' port was
//     started again in between;
//   - RSS and open files flat, sampled between two vif cycles: within 5 %
//     of the most the daemon had during its warm-up: its first 30 s (or
//     3/4 of the time between restarts when that is shorter), in which the
//     Go heap grows to its working size.
//
// It prints a summary and fails on any violation. `make soak` runs it.
func TestSoak(t *testing.T) {
	requireE2E(t)
	dur, err := time.ParseDuration(envOr("SOAK_DURATION", "10m"))
	if err != nil || dur < 30*time.Second {
		t.Fatalf("SOAK_DURATION=%q: want a duration of at least 30s", os.Getenv("SOAK_DURATION"))
	}
	mode := envOr("SOAK_MODE", "tc")
	if !slices.Contains(modes, mode) || fastPath(mode) == "off" {
		t.Fatalf("SOAK_MODE=%q: want one of the modes with a fast path", mode)
	}
	s := newSoak(t, mode, dur)
	defer s.summary()
	s.run()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// soak is one run: the dom0, its guests, the flows and what was seen.
type soak struct {
	t        *testing.T
	d        *dom0
	mode     string
	duration time.Duration
	// restartEvery is the time between restarts; warmup the first part
	// of a daemon's life whose RSS and open files are its baseline.
	restartEvery, warmup time.Duration
	a, b, c              *topo.Guest
	flows                []*seqFlow
	churn                *churner
	cycles               int
	start                time.Time

	// busy is held by run while a vif comes or goes, a reload or a
	// restart runs; the checker samples RSS and open files between them,
	// so that a vif on its way in or out does not count.
	busy sync.RWMutex

	mu sync.Mutex // guards what follows, shared with the checker
	// pid is the running daemon's; gen counts its starts, born is when
	// the current one started.
	pid, gen   int
	born       time.Time
	violations []string
	lives      []*life
	checks     int
	series     int // counter series compared, summed over the checks
	restarts   map[string]int
	// restartTook is, for each restart, the time from the signal to
	// the next daemon's ports all attached.
	restartTook []time.Duration

	// The checker's own: the counter series of the last scrape of
	// generation prevGen, how much of the daemon's log it has read, the
	// ports and bridges made again that the last two reads of the log
	// showed, and the decreases seen at the last check, reported at the
	// next one unless the log shows their port or bridge was made again.
	prev      map[string]float64
	prevGen   int
	logSeen   int
	again     [2]map[string]bool
	suspects  []string
	floodSent atomic.Int64
}

// life is what one daemon's RSS and open files did.
type life struct {
	pid              int
	how              string // how it started: first, after SIGTERM, after SIGKILL
	baseRSS, baseFDs int    // the most during warm-up
	maxRSS, maxFDs   int    // the most after warm-up
	samples          int
}

func newSoak(t *testing.T, mode string, dur time.Duration) *soak {
	s := &soak{t: t, mode: mode, duration: dur, restarts: map[string]int{}}
	s.restartEvery = min(max(dur/4, 40*time.Second), 150*time.Second)
	s.warmup = min(30*time.Second, s.restartEvery*3/4)
	s.d = newDom0(t, mode)
	s.d.args = append(s.d.args, "-log-level", "info")
	// A loaded machine takes seconds to verify the eBPF programs.
	s.d.startTimeout = time.Minute
	s.a = s.d.guest("vif1.0", 1, "10.25.0.1/24")
	s.b = s.d.guest("vif2.0", 2, "10.25.0.2/24")
	s.c = s.d.guest("vif3.0", 3, "10.25.0.3/24")
	s.d.start(churnConfig)
	s.d.waitPorts(2*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	atA, atB := capture(t, s.a), capture(t, s.b)
	s.d.learnBoth(s.a, s.b, atA, atB)
	// The flows are counted by receivers of their own, which keep no
	// frame; the vifs of the churn talk to c.
	atA.Close()
	atB.Close()
	s.churn = newChurner(s.d, s.c, capture(t, s.c))
	s.flows = []*seqFlow{newSeqFlow(t, s.a, s.b, "sk-ab-"), newSeqFlow(t, s.b, s.a, "sk-ba-")}
	s.began("first")
	return s
}

// began records that a daemon started.
func (s *soak) began(how string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pid = s.d.cmd.Process.Pid
	s.gen++
	s.born = time.Now()
	s.lives = append(s.lives, &life{pid: s.pid, how: how})
}

func (s *soak) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := fmt.Sprintf("%6.1fs ", time.Since(s.start).Seconds()) + fmt.Sprintf(format, args...)
	s.violations = append(s.violations, v)
	if len(s.violations) <= 50 {
		s.t.Log("violation: " + v)
	}
}

// run is the soak: the traffic and the checker in the background, churn,
// reloads and restarts in turn here.
func (s *soak) run() {
	s.start = time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range s.flows {
		wg.Add(1)
		go func() { defer wg.Done(); f.send(stop) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); s.background(stop) }()
	go func() { defer wg.Done(); s.checker(stop) }()
	defer func() {
		close(stop)
		wg.Wait()
		s.finalFlows()
	}()

	end := s.start.Add(s.duration)
	nextRestart := s.start.Add(s.restartEvery)
	kill := false
	// A cycle every churnEvery at most: a dom0 does not start hundreds
	// of domains a minute, and the kernel destroys the guests' namespaces
	// in the background, under the lock that attaching ports takes too.
	const churnEvery = 250 * time.Millisecond
	for i := 0; time.Now().Before(end); i++ {
		next := time.Now().Add(churnEvery)
		s.busy.Lock()
		s.churn.cycle(i)
		s.cycles++
		if i%10 == 9 {
			s.churn.reload(map[bool]string{false: churnReloaded, true: churnConfig}[s.churn.reloads%2 == 1])
		}
		if time.Now().After(nextRestart) && time.Until(end) > s.restartEvery/2 {
			s.restart(kill)
			kill = !kill
			nextRestart = time.Now().Add(s.restartEvery)
		}
		s.busy.Unlock()
		if s.t.Failed() {
			return
		}
		time.Sleep(time.Until(next))
	}
}

// restart stops the daemon, by SIGTERM or SIGKILL, and starts the next.
func (s *soak) restart(kill bool) {
	began := time.Now()
	how := "after SIGTERM"
	if kill {
		how = "after SIGKILL"
		s.d.kill()
	} else {
		s.d.stop()
	}
	cfg := churnConfig
	if s.churn.reloads%2 == 1 {
		cfg = churnReloaded
	}
	s.d.start(cfg)
	s.d.waitPorts(10*time.Second, "vif1.0=xenbr0", "vif2.0=xenbr0", "vif3.0=xenbr0")
	s.mu.Lock()
	s.restarts[how]++
	s.restartTook = append(s.restartTook, time.Since(began).Round(10*time.Millisecond))
	s.mu.Unlock()
	s.began(how)
}

// background is the rest of the traffic: b broadcasts and sends to MACs
// nobody has, 50 frames a second, which the daemon floods.
func (s *soak) background(stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		dst := bcast
		if k%2 == 1 {
			dst = net.HardwareAddr{0x02, 0x5a, 0, byte(k >> 16), byte(k >> 8), byte(k)}
		}
		if s.b.Inject(marker(dst, s.b.MAC(), fmt.Sprint("sk-bg-", k))) == nil {
			s.floodSent.Add(1)
		}
	}
}

// checker checks the invariants every second.
func (s *soak) checker(stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	cl := s.d.host.HTTPClient()
	cl.Transport.(*http.Transport).DisableKeepAlives = true
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for _, f := range s.flows {
			for _, v := range f.check(30 * time.Second) {
				s.violation("%s", v)
			}
		}
		s.busy.RLock()
		s.checkDaemon(cl)
		s.busy.RUnlock()
	}
}

// checkDaemon checks the daemon's process and counters, between two
// steps of run.
func (s *soak) checkDaemon(cl *http.Client) {
	s.mu.Lock()
	pid, gen, born, lf := s.pid, s.gen, s.born, s.lives[len(s.lives)-1]
	s.checks++
	s.mu.Unlock()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		s.violation("xswitchd pid %d is gone", pid)
		return
	}
	s.checkProcess(pid, born, lf)
	s.checkCounters(cl, gen)
}

// checkProcess samples the daemon's RSS and open files.
func (s *soak) checkProcess(pid int, born time.Time, lf *life) {
	rss, fds, err := procUsage(pid)
	if err != nil {
		return // it may have just ended for a restart
	}
	s.mu.Lock()
	if time.Since(born) < s.warmup {
		lf.baseRSS, lf.baseFDs = max(lf.baseRSS, rss), max(lf.baseFDs, fds)
		s.mu.Unlock()
		return
	}
	lf.samples++
	lf.maxRSS, lf.maxFDs = max(lf.maxRSS, rss), max(lf.maxFDs, fds)
	baseRSS, baseFDs := lf.baseRSS, lf.baseFDs
	s.mu.Unlock()
	if float64(rss) > 1.05*float64(baseRSS) {
		s.violation("xswitchd pid %d: RSS %d KiB, over 5%% more than the %d KiB of its warm-up", pid, rss, baseRSS)
	}
	if float64(fds) > 1.05*float64(baseFDs) {
		s.violation("xswitchd pid %d: %d open files, over 5%% more than the %d of its warm-up", pid, fds, baseFDs)
	}
}

// procUsage returns a process's resident memory in KiB and its number of
// open files.
func procUsage(pid int) (rss, fds int, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			rss, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, err
	}
	return rss, len(ents), nil
}

// madeAgain matches the log lines of a port or bridge that starts its
// counters from 0 again.
var madeAgain = regexp.MustCompile(`msg="(?:port attached|port detached|bridge created|bridge removed)" bridge=(\S+)(?: port=(\S+))?`)

// checkCounters scrapes /metrics and compares every counter series with
// the last scrape of the same daemon. A series of a port attached again,
// or of a bridge made again, in between starts from 0 again, as a new one
// would: the daemon's log says which; a decrease is reported at the next
// check unless the log, which comes through a pipe, says so by then.
func (s *soak) checkCounters(cl *http.Client, gen int) {
	resp, err := cl.Get("http://127.0.0.1:9417/metrics")
	if err != nil {
		s.violation("/metrics: %v", err)
		return
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		s.violation("/metrics does not parse: %v", err)
		return
	}
	log := s.d.log.String()
	s.again[0], s.again[1] = s.again[1], map[string]bool{}
	for _, m := range madeAgain.FindAllStringSubmatch(log[min(s.logSeen, len(log)):], -1) {
		if m[2] != "" {
			s.again[1]["port="+strconv.Quote(m[2])] = true
		} else {
			s.again[1]["bridge="+strconv.Quote(m[1])] = true
		}
	}
	s.logSeen = len(log)
	restarted := func(key string) bool {
		for _, a := range s.again {
			for l := range a {
				if strings.Contains(key, l) {
					return true
				}
			}
		}
		return false
	}
	for _, v := range s.suspects {
		if !restarted(v) {
			s.violation("counter %s", v)
		}
	}
	s.suspects = s.suspects[:0]

	now := map[string]float64{}
	for name, f := range mf {
		if f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range f.Metric {
			now[seriesKey(name, m)] = m.GetCounter().GetValue()
		}
	}
	compared := 0
	if gen == s.prevGen {
		for k, v := range now {
			old, ok := s.prev[k]
			if !ok {
				continue
			}
			compared++
			if v < old && !restarted(k) {
				s.suspects = append(s.suspects, fmt.Sprintf("%s went from %v to %v", k, old, v))
			}
		}
	}
	s.prev, s.prevGen = now, gen
	s.mu.Lock()
	s.series += compared
	s.mu.Unlock()
}

func seriesKey(name string, m *dto.Metric) string {
	var ls []string
	for _, l := range m.Label {
		ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	sort.Strings(ls)
	return name + "{" + strings.Join(ls, ",") + "}"
}

// seqFlow is a numbered flow between two guests: from sends 10 frames
// every 20 ms, a receiver of its own in to counts each frame.
type seqFlow struct {
	t        *testing.T
	from, to *topo.Guest
	prefix   string
	fd       *os.File

	mu      sync.Mutex
	sent    []time.Time // when frame i was sent
	seen    []uint8     // how many times frame i arrived (capped)
	checked int         // frames before it are confirmed or counted lost
	latest  int         // the latest frame that arrived, -1 before the first
	lost    int
	dups    int // since the last check
	dupAll  int
	late    int // frames that arrived after they were counted lost
	retries int // sends the guest's link refused (ENOBUFS) and were made again
}

func newSeqFlow(t *testing.T, from, to *topo.Guest, prefix string) *seqFlow {
	t.Helper()
	var fd int
	if err := to.Do(func() (err error) {
		fd, err = netns.OpenPacket("eth0", true)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f := &seqFlow{t: t, from: from, to: to, prefix: prefix, latest: -1, fd: os.NewFile(uintptr(fd), to.Name()+"/eth0")}
	t.Cleanup(func() { f.fd.Close() })
	go f.receive()
	return f
}

func (f *seqFlow) send(stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for range 10 {
			// Counted as sent first: it may arrive before Inject returns.
			f.mu.Lock()
			n := len(f.sent)
			f.sent = append(f.sent, time.Now())
			f.seen = append(f.seen, 0)
			f.mu.Unlock()
			if err := f.inject(marker(f.to.MAC(), f.from.MAC(), fmt.Sprint(f.prefix, n))); err != nil {
				f.t.Errorf("flow %s: %v", f.prefix, err)
				return
			}
		}
	}
}

// inject sends frame (see send).
func (f *seqFlow) inject(frame []byte) error {
	again, err := send(f.from, frame)
	f.mu.Lock()
	f.retries += again
	f.mu.Unlock()
	return err
}

// receive counts the flow's frames until the socket is closed.
func (f *seqFlow) receive() {
	rc, err := f.fd.SyscallConn()
	if err != nil {
		f.t.Error(err)
		return
	}
	buf := make([]byte, 2048)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil || (rerr != nil && errors.Is(rerr, unix.EBADF)) {
			return
		}
		if rerr != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		k, ok := seqOf(buf[:n], f.prefix)
		if !ok {
			continue
		}
		f.mu.Lock()
		if k < len(f.seen) {
			if f.seen[k] < 255 {
				f.seen[k]++
			}
			if f.seen[k] == 2 {
				f.dups++
				f.dupAll++
			}
			f.latest = max(f.latest, k)
			if k < f.checked && f.seen[k] == 1 {
				f.late++
			}
		}
		f.mu.Unlock()
	}
}

// check confirms the frames up to the latest one that arrived, and
// returns what went wrong since the last check. A frame is lost when one
// sent a second after it arrived and it did not, or when it has not
// arrived within giveUp: how late a frame may come depends on how busy the
// machine is, its order in the flow does not.
func (f *seqFlow) check(giveUp time.Duration) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	dups := f.dups
	f.dups = 0
	if dups > 0 {
		out = append(out, fmt.Sprintf("flow %s→%s: %d frames arrived twice", f.from.Vif(), f.to.Vif(), dups))
	}
	lost, first := 0, -1
	for ; f.checked < len(f.sent); f.checked++ {
		sent := f.sent[f.checked]
		if f.seen[f.checked] == 0 && time.Since(sent) < giveUp &&
			(f.latest < 0 || f.sent[f.latest].Sub(sent) < time.Second) {
			break
		}
		if f.seen[f.checked] == 0 {
			lost++
			if first < 0 {
				first = f.checked
			}
		}
	}
	if lost > 0 {
		f.lost += lost
		out = append(out, fmt.Sprintf("flow %s→%s: %d frames lost (the first %s%d)", f.from.Vif(), f.to.Vif(), lost, f.prefix, first))
	}
	return out
}

// finalFlows checks the last frames once the flows stopped, giving them
// 10 s to arrive.
func (s *soak) finalFlows() {
	for _, f := range s.flows {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			f.mu.Lock()
			all := !slices.Contains(f.seen[f.checked:], 0)
			f.mu.Unlock()
			if all {
				break
			}
		}
		for _, v := range f.check(0) {
			s.violation("%s", v)
		}
	}
}

func (s *soak) summary() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "soak summary: mode %s, %v (asked %v)\n", s.mode, time.Since(s.start).Round(time.Second), s.duration)
	fmt.Fprintf(&b, "  churn: %d vif cycles, %d reloads, %d xswitchctl calls; restarts: %d after SIGTERM, %d after SIGKILL (every %v), each to all ports attached in %v\n",
		s.cycles, s.churn.reloads, s.churn.ctlCalls, s.restarts["after SIGTERM"], s.restarts["after SIGKILL"], s.restartEvery, s.restartTook)
	for _, f := range s.flows {
		f.mu.Lock()
		got := 0
		for _, k := range f.seen {
			if k > 0 {
				got++
			}
		}
		fmt.Fprintf(&b, "  flow %s→%s: %d frames sent, %d arrived, %d lost (%d of them late), %d duplicated; %d sends made again after ENOBUFS in the guest\n",
			f.from.Vif(), f.to.Vif(), len(f.sent), got, f.lost, f.late, f.dupAll, f.retries)
		f.mu.Unlock()
	}
	fmt.Fprintf(&b, "  floods from b (broadcast, unknown unicast): %d sent\n", s.floodSent.Load())
	fmt.Fprintf(&b, "  checks: %d (every second), %d counter series compared\n", s.checks, s.series)
	for _, l := range s.lives {
		fmt.Fprintf(&b, "  xswitchd pid %d (%s): warm-up max RSS %d KiB, %d fds; after warm-up max RSS %d KiB (%+.1f%%), %d fds (%+.1f%%) over %d samples\n",
			l.pid, l.how, l.baseRSS, l.baseFDs, l.maxRSS, pct(l.maxRSS, l.baseRSS), l.maxFDs, pct(l.maxFDs, l.baseFDs), l.samples)
	}
	fmt.Fprintf(&b, "  violations: %d\n", len(s.violations))
	for i, v := range s.violations {
		if i == 20 {
			fmt.Fprintf(&b, "    ... and %d more\n", len(s.violations)-20)
			break
		}
		fmt.Fprintf(&b, "    %s\n", v)
	}
	s.t.Log(b.String())
	if len(s.violations) > 0 {
		s.t.Errorf("%d violations", len(s.violations))
	}
}

func pct(v, base int) float64 {
	if base == 0 {
		return 0
	}
	return 100 * (float64(v) - float64(base)) / float64(base)
}

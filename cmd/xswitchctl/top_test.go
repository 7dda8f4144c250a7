package main

import (
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xswitch/xswitch/internal/control"
)

func TestRates(t *testing.T) {
	dom := 3
	prev := []control.Port{
		{Bridge: "xenbr0", Name: "peth0", Uplink: true, FastPath: "xdp", RxPackets: 100, RxBytes: 10000, TxPackets: 50, TxBytes: 5000,
			FastPathPackets: 1000, FastPathBytes: 100000},
		{Bridge: "xenbr0", Name: "vif3.0", DomID: &dom, FastPath: "off", RxPackets: 10, TxPackets: 10,
			Drops: map[string]uint64{"spoofed": 4, "vlan": 1}},
		{Bridge: "xenbr0", Name: "vif4.0", FastPath: "tc", RxPackets: 500},
	}
	cur := []control.Port{
		// 2 s later: 100 frames and 400 fast-path frames received.
		{Bridge: "xenbr0", Name: "peth0", Uplink: true, FastPath: "xdp", RxPackets: 200, RxBytes: 20000, TxPackets: 150, TxBytes: 15000,
			FastPathPackets: 1400, FastPathBytes: 140000},
		{Bridge: "xenbr0", Name: "vif3.0", DomID: &dom, FastPath: "off", RxPackets: 30, TxPackets: 10,
			Drops: map[string]uint64{"spoofed": 10, "vlan": 1, "mtu": 2}},
		// Attached again: its counters started again.
		{Bridge: "xenbr0", Name: "vif4.0", FastPath: "tc", RxPackets: 40},
		{Bridge: "xenbr1", Name: "vif5.0", FastPath: "tc", RxPackets: 7},
	}
	got := rates(prev, cur, 2*time.Second)
	want := []portRate{
		{Bridge: "xenbr0", Port: "peth0", Uplink: true, FastPath: "xdp", RxFrames: 250, RxBits: 8 * 25000, TxFrames: 50, TxBits: 8 * 5000, FastShare: 0.8},
		{Bridge: "xenbr0", Port: "vif4.0", FastPath: "tc", RxFrames: 20},
		{Bridge: "xenbr0", Port: "vif3.0", DomID: &dom, FastPath: "off", RxFrames: 10, Drops: 4,
			DropsBy: map[string]float64{"spoofed": 3, "mtu": 1}},
		{Bridge: "xenbr1", Port: "vif5.0", FastPath: "tc", New: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rates:\n got %+v\nwant %+v", got, want)
	}
}

func TestSI(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.5: "0.50", 7: "7.00", 12.34: "12.3", 950: "950", 999.6: "1.00k",
		12345: "12.3k", 1.2e6: "1.20M", 9.41e9: "9.41G"} {
		if got := si(v); got != want {
			t.Errorf("si(%v) = %q, want %q", v, got, want)
		}
	}
}

// countingXswitchd answers GET /v1/ports with counters that grow by the
// same amount at each call.
type countingXswitchd struct {
	mu    sync.Mutex
	calls uint64
}

func (c *countingXswitchd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.calls++
	n := c.calls
	c.mu.Unlock()
	ports := []control.Port{
		{Bridge: "xenbr0", Name: "vif1.0", FastPath: "tc", RxPackets: 10 * n, TxPackets: 10 * n, Drops: map[string]uint64{"vlan": n}},
		{Bridge: "xenbr0", Name: "vif2.0", FastPath: "tc", RxPackets: 1000 * n, RxBytes: 100000 * n, FastPathPackets: 3000 * n},
	}
	if b := r.URL.Query().Get("bridge"); b != "" && b != "xenbr0" {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(control.Error{Error: "bridge " + b + ": no such bridge"})
		return
	}
	json.NewEncoder(w).Encode(ports)
}

// TestTop: off a terminal, top prints -n plain tables, the busiest port
// first, and no escape sequences.
func TestTop(t *testing.T) {
	t.Parallel()
	sock := serve(t, &countingXswitchd{})
	out, errOut, code := xswitchctl(t, sock, "top", "-n", "2", "-d", "50ms", "xenbr0")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("escape sequences off a terminal:\n%q", out)
	}
	screens := strings.Split(strings.TrimSuffix(out, "\n"), "\n\n")
	if len(screens) != 2 {
		t.Fatalf("%d screens, want 2:\n%s", len(screens), out)
	}
	for _, s := range screens {
		lines := strings.Split(s, "\n")
		if len(lines) != 4 || !strings.Contains(lines[0], "2 ports") || !strings.HasPrefix(lines[1], "BRIDGE") {
			t.Fatalf("screen:\n%s", s)
		}
		if f := strings.Fields(lines[2]); f[1] != "vif2.0" || f[7] != "75%" {
			t.Errorf("first row %q: want vif2.0 with a fast-path share of 75%%", lines[2])
		}
		if f := strings.Fields(lines[3]); f[1] != "vif1.0" || f[len(f)-2] != "vlan" {
			t.Errorf("second row %q: want vif1.0 dropping for vlan", lines[3])
		}
	}
}

func TestTopJSON(t *testing.T) {
	t.Parallel()
	sock := serve(t, &countingXswitchd{})
	out, errOut, code := xswitchctl(t, sock, "-json", "top", "-n", "1", "-d", "100ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v topJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(v.Ports) != 2 || v.Ports[0].Port != "vif2.0" || math.Abs(v.Ports[0].FastShare-0.75) > 1e-9 || v.Interval < 0.05 {
		t.Errorf("%+v", v)
	}
	// 4000 frames per 100 ms or so.
	if r := v.Ports[0].RxFrames; r < 4000 || r > 4000/v.Interval*1.01 {
		t.Errorf("rx %v frames/s over %v s", r, v.Interval)
	}
}

func TestTopErrors(t *testing.T) {
	t.Parallel()
	sock := serve(t, &countingXswitchd{})
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"top", "xenbr9", "-n", "1"}, 1, "xswitchctl: xswitchd: GET /v1/ports: bridge xenbr9: no such bridge\n"},
		{[]string{"top", "-d", "0s"}, 2, "-d: want an interval above 0"},
		{[]string{"top", "-n", "-1"}, 2, "-n: want 0 or more screens"},
		{[]string{"top", "a", "b"}, 2, "too many arguments"},
	} {
		out, errOut, code := xswitchctl(t, sock, c.args...)
		if code != c.code || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, %q %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.want)
		}
	}
}

// TestTopFitsTheTerminal: on a terminal of N rows a screen keeps the
// busiest ports that fit and says how many it left out.
func TestTopFitsTheTerminal(t *testing.T) {
	var list []portRate
	for i := range 5 {
		list = append(list, portRate{Bridge: "xenbr0", Port: "vif" + string(rune('5'-i)) + ".0", FastPath: "off", RxFrames: float64(50 - i)})
	}
	var b strings.Builder
	writeTop(&b, time.Unix(0, 0), time.Second, list, 6)
	lines := strings.Split(b.String(), "\n")
	if len(lines) != 6 || !strings.Contains(lines[2], "vif5.0") || !strings.Contains(lines[3], "vif4.0") || lines[4] != "(3 quieter ports not shown)" {
		t.Errorf("screen of 6 rows:\n%s", b.String())
	}
	b.Reset()
	writeTop(&b, time.Unix(0, 0), time.Second, list, 0)
	if n := strings.Count(b.String(), "\n"); n != 7 || strings.Contains(b.String(), "not shown") {
		t.Errorf("screen without a height:\n%s", b.String())
	}
}

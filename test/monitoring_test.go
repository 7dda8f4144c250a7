package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// The monitoring files the repository ships (make install puts them in
// DOCDIR).
const (
	alertRules = "../dist/prometheus/xswitch-alerts.yml"
	alertTests = "../dist/prometheus/xswitch-alerts.test.yml"
	dashboard  = "../dist/grafana/xswitch.json"
)

// promtool returns the path of Debian's promtool (package prometheus). A
// test without it skips, but fails in CI, which must run it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("promtool not found, and CI is set: apt-get install prometheus (scripts/deps.sh test does)")
	}
	t.Skip("promtool not found: apt-get install prometheus")
	return ""
}

// runPromtool runs promtool with args and stdin, and fails with what it
// said when it exits non-zero.
func runPromtool(t *testing.T, stdin []byte, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules checks the alerting rules (syntax, and which alerts fire
// on made-up series), and that every query of the dashboard parses.
func TestAlertRules(t *testing.T) {
	runPromtool(t, nil, "check", "rules", alertRules)
	runPromtool(t, nil, "test", "rules", alertTests)

	// promtool parses PromQL in rule files: the dashboard's queries, with
	// Grafana's variables given values, become recording rules.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range dashboardQueries(t) {
		q = strings.ReplaceAll(q, "$__rate_interval", "5m")
		q = regexp.MustCompile(`\$\w+`).ReplaceAllString(q, ".*")
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		quoted, _ := json.Marshal(q)
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, quoted)
	}
	f := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, nil, "check", "rules", f)
}

// TestMonitoring runs xswitchd with fast-path ports and checks what a
// monitoring server sees of it: /healthz and /readyz say it is alive and
// ready, promtool finds nothing wrong with a scrape, and every series the
// dashboard and the alerting rules ask for is in it.
func TestMonitoring(t *testing.T) {
	promtool(t)
	d := newDom0(t, "tc")
	a := d.guest("vif4.0", 1, "10.14.0.1/24")
	d.guest("vif5.0", 2, "10.14.0.2/24")
	d.start("")
	d.waitPorts(2*time.Second, "vif4.0=xenbr0", "vif5.0=xenbr0")
	if err := ping(t, a, netip.MustParseAddr("10.14.0.2"), 2); err != nil {
		t.Fatal(err)
	}
	d.eventually(5*time.Second, "/readyz says ready", func() error {
		return d.expectHTTP("/readyz", http.StatusOK, "ready\n")
	})
	if err := d.expectHTTP("/healthz", http.StatusOK, "ok\n"); err != nil {
		t.Error(err)
	}

	// top reads the same counters: both guests, the fast path's share.
	out, err := exec.Command(filepath.Join(binDir, "xswitchctl"), "-socket", filepath.Join(d.dir, "ctl.sock"),
		"top", "-n", "1", "-d", "200ms", "xenbr0").CombinedOutput()
	if lines := strings.Split(string(out), "\n"); err != nil || len(lines) != 5 || !strings.Contains(lines[0], "2 ports") ||
		!strings.HasPrefix(lines[2], "xenbr0  vif") || !strings.HasPrefix(lines[3], "xenbr0  vif") {
		t.Errorf("xswitchctl top: %v\n%s", err, out)
	}

	scrape := d.get("/metrics")
	runPromtool(t, scrape, "check", "metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}
	var used []string
	for _, q := range dashboardQueries(t) {
		used = append(used, metricNames(q)...)
	}
	for _, q := range ruleExprs(t) {
		used = append(used, metricNames(q)...)
	}
	slices.Sort(used)
	used = slices.Compact(used)
	if len(used) < 10 {
		t.Fatalf("only %d series found in the dashboard and the rules: %q", len(used), used)
	}
	for _, name := range used {
		// up is Prometheus's own, one per target.
		if _, ok := families[name]; !ok && name != "up" {
			t.Errorf("%s: asked for by the dashboard or the alerting rules, but xswitchd exposes no such series", name)
		}
	}
}

// TestNotReady: eBPF programs that cannot load make /readyz answer 503
// and say why, while /healthz says the process is alive. In auto mode the
// ports still attach, in userspace; ports set to tc cannot, and /readyz
// names each.
func TestNotReady(t *testing.T) {
	requireE2E(t)
	for _, mode := range []string{"auto", "tc"} {
		t.Run(mode, func(t *testing.T) {
			d := newDom0(t, mode)
			d.pinDir = filepath.Join(t.TempDir(), "pins") // no bpffs: the programs do not load
			a := d.guest("vif4.0", 1, "10.15.0.1/24")
			d.guest("vif5.0", 2, "10.15.0.2/24")
			d.start("")
			cause := "fast path: pin directory " + d.pinDir + ": " + filepath.Dir(d.pinDir) + " is not a bpf filesystem"
			want := "not ready: fast path not loaded: " + cause + "\n"
			if mode == "auto" {
				d.waitPorts(2*time.Second, "vif4.0=xenbr0", "vif5.0=xenbr0")
				if err := ping(t, a, netip.MustParseAddr("10.15.0.2"), 1); err != nil {
					t.Fatal(err)
				}
			} else {
				for _, p := range []string{"vif4.0", "vif5.0"} {
					want += "port " + p + " of xenbr0 not attached: " + p + ": fast path mode tc: " + cause + "\n"
				}
			}
			d.eventually(5*time.Second, "/readyz says why", func() error {
				return d.expectHTTP("/readyz", http.StatusServiceUnavailable, want)
			})
			if err := d.expectHTTP("/healthz", http.StatusOK, "ok\n"); err != nil {
				t.Error(err)
			}
		})
	}
}

// get fetches a path of the metrics listener.
func (d *dom0) get(path string) []byte {
	d.t.Helper()
	resp, err := d.host.HTTPClient().Get("http://127.0.0.1:9417" + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		d.t.Fatalf("%s: %s %v", path, resp.Status, err)
	}
	return b
}

// expectHTTP fetches a path of the metrics listener and says how its
// answer differs from the status and body wanted.
func (d *dom0) expectHTTP(path string, status int, body string) error {
	resp, err := d.host.HTTPClient().Get("http://127.0.0.1:9417" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != status || string(b) != body {
		return fmt.Errorf("%s: %s %q, want %d %q", path, resp.Status, b, status, body)
	}
	return nil
}

// dashboardQueries returns the PromQL of the dashboard: its panels'
// targets and its variables' queries (label_values(...) included).
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	var out []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("%s: panel %q has a target without a query", dashboard, p.Title)
			}
			out = append(out, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type == "query" {
			out = append(out, v.Definition)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no queries", dashboard)
	}
	return out
}

// ruleExprs returns the expressions of the alerting rules.
func ruleExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", alertRules, err)
	}
	var out []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

// labelValues is a Grafana variable query: label_values(SELECTOR, LABEL).
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*\w+\s*\)\s*$`)

// labelValuesOnly is a Grafana variable query over every series:
// label_values(LABEL).
var labelValuesOnly = regexp.MustCompile(`^\s*label_values\(\s*\w+\s*\)\s*$`)

// promqlWords are the words of PromQL that are no series although they
// stand without a "(" after them: aggregations followed by their by or
// without, operators, modifiers.
var promqlWords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "inf": true, "nan": true,
}

// metricNames returns the series a PromQL expression (or a Grafana
// label_values query) reads: the names that stand as selectors, not the
// functions, keywords, label names, strings, durations, numbers and
// Grafana variables.
func metricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	} else if labelValuesOnly.MatchString(expr) {
		return nil
	}
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
	}
	// skip returns the index after the close that ends what starts at i,
	// past the strings in it.
	skip := func(i int, close byte) int {
		for i++; i < len(expr) && expr[i] != close; i++ {
			if q := expr[i]; q == '"' || q == '\'' || q == '`' {
				for i++; i < len(expr) && expr[i] != q; i++ {
					if expr[i] == '\\' {
						i++
					}
				}
			}
		}
		return i + 1
	}
	var names []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skip(i, c)
		case c == '{':
			i = skip(i, '}')
		case c == '[':
			i = skip(i, ']')
		case c == '$' || '0' <= c && c <= '9' || c == '.':
			for i++; i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.'); i++ {
			}
		case isIdent(c, true):
			j := i + 1
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			word := expr[i:j]
			for j < len(expr) && (expr[j] == ' ' || expr[j] == '\n' || expr[j] == '\t') {
				j++
			}
			next := byte(0)
			if j < len(expr) {
				next = expr[j]
			}
			switch {
			case next == '(' && (word == "by" || word == "without" || word == "on" || word == "ignoring" ||
				word == "group_left" || word == "group_right"):
				j = skip(j, ')') // label names
			case next == '(' || promqlWords[word]:
				// a function, an aggregation or a keyword
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want []string
	}{
		{`up{job="xswitchd"} == 0`, []string{"up"}},
		{`sum by (instance, bridge) (rate(xswitch_a_total{reason=~"x|y}", port=~"$port"}[$__rate_interval])) > 1`, []string{"xswitch_a_total"}},
		{`max by (instance, bridge) (xswitch_fdb_entries / xswitch_fdb_max_entries) > 0.9`, []string{"xswitch_fdb_entries", "xswitch_fdb_max_entries"}},
		{"8 * (sum by (instance) (rate(a[5m])) + (sum by (instance) (rate(b[5m])) or sum(rate(a[5m])) without (port) * 0))", []string{"a", "b", "a"}},
		{`a + on (x) group_left (y) b offset 5m and bool c unless d`, []string{"a", "b", "c", "d"}},
		{`label_values(xswitch_port_info{bridge=~"$bridge"}, port)`, []string{"xswitch_port_info"}},
		{`label_values(port)`, nil},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket[1m]))) > 1e3`, []string{"h_bucket"}},
	} {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

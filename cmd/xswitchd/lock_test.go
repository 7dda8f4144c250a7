package main

import "testing"

func TestLockPath(t *testing.T) {
	for _, c := range []struct{ pinDir, want string }{
		{"/sys/fs/bpf/xswitch", "/run/xswitch/sys-fs-bpf-xswitch.lock"},
		{"/sys/fs/bpf/xswitch/", "/run/xswitch/sys-fs-bpf-xswitch.lock"},
		{"/sys/fs/bpf/xs-e2e-1", `/run/xswitch/sys-fs-bpf-xs\x2de2e\x2d1.lock`},
		{"/sys/fs/bpf/xs/e2e/1", "/run/xswitch/sys-fs-bpf-xs-e2e-1.lock"},
		{"/sys/fs/bpf/.x y", `/run/xswitch/sys-fs-bpf-.x\x20y.lock`},
		{"/", "/run/xswitch/-.lock"},
	} {
		if got := lockPath(c.pinDir); got != c.want {
			t.Errorf("lockPath(%q) = %q, want %q", c.pinDir, got, c.want)
		}
	}
}

func TestEscapePathLeadingDot(t *testing.T) {
	if got := escapePath(".x/y"); got != `\x2ex-y` {
		t.Errorf("escapePath(.x/y) = %q", got)
	}
}

# xswitch — the verbs people expect. Targets that touch the network need root.
# Each target first installs the Debian packages it needs (scripts/deps.sh).
GO      ?= go
BIN     := bin
PREFIX  ?= /usr/local
DEPS    := GO='$(GO)' ./scripts/deps.sh
export CGO_ENABLED ?= 0

.PHONY: all build install test unit e2e fuzz soak bench bench-smoke demo generate check-generate lint clean

all: build

build:
	$(GO) build -trimpath -o $(BIN)/ ./cmd/...

# The daemon in sbin, the CLI in bin, the systemd unit where systemd looks
# under $(PREFIX) (/usr/local/lib/systemd/system, or /usr/lib/... with
# PREFIX=/usr), and the configuration in /etc, where an existing file is
# kept; all under $(DESTDIR). Xen's hotplug script and its settings go in
# Xen's script directory, the xl.conf lines that select it in DOCDIR, and
# so do the Grafana dashboard and the Prometheus alerting rules, which the
# monitoring server takes (docs/metrics.md#dashboards-and-alerts).
SBINDIR      ?= $(PREFIX)/sbin
BINDIR       ?= $(PREFIX)/bin
UNITDIR      ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR   ?= /etc
XENSCRIPTDIR ?= $(SYSCONFDIR)/xen/scripts
DOCDIR       ?= $(PREFIX)/share/doc/xswitch

install: build
	install -D -m 0755 $(BIN)/xswitchd $(DESTDIR)$(SBINDIR)/xswitchd
	install -D -m 0755 $(BIN)/xswitchctl $(DESTDIR)$(BINDIR)/xswitchctl
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/systemd/xswitchd.service.in >$(DESTDIR)$(UNITDIR)/xswitchd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/xswitchd.service
	@for f in dist/xswitch.yaml:xswitch/xswitch.yaml dist/xswitchd.default:default/xswitchd; do \
		dst='$(DESTDIR)$(SYSCONFDIR)'/$${f#*:}; \
		if [ -e "$$dst" ]; then echo "keeping $$dst"; else echo "install $${f%%:*} $$dst"; install -D -m 0644 "$${f%%:*}" "$$dst" || exit 1; fi; \
	done
	install -D -m 0755 dist/xen/vif-xswitch $(DESTDIR)$(XENSCRIPTDIR)/vif-xswitch
	@dst='$(DESTDIR)$(XENSCRIPTDIR)/vif-xswitch.conf'; \
	if [ -e "$$dst" ]; then echo "keeping $$dst"; else echo "install dist/xen/vif-xswitch.conf $$dst"; install -D -m 0644 dist/xen/vif-xswitch.conf "$$dst"; fi
	install -D -m 0644 dist/xen/xl.conf.xswitch $(DESTDIR)$(DOCDIR)/examples/xl.conf.xswitch
	install -D -m 0644 dist/grafana/xswitch.json $(DESTDIR)$(DOCDIR)/grafana/xswitch.json
	install -D -m 0644 dist/prometheus/xswitch-alerts.yml $(DESTDIR)$(DOCDIR)/prometheus/xswitch-alerts.yml

# The whole suite: format and vet, unit tests with the race detector, then the
# end-to-end tests in network namespaces (root; they skip with a message
# otherwise, and fail instead when CI is set), and each fuzz target for 5s.
test:
	@$(DEPS) test
	@$(MAKE) --no-print-directory lint
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...
	GO='$(GO)' ./scripts/fuzz.sh 5s

unit:
	@$(DEPS) unit
	CGO_ENABLED=1 $(GO) test -race -count=1 -short ./...

e2e:
	@$(DEPS) e2e
	$(GO) test -count=1 -v -timeout 20m ./test/...

# Each fuzz target in turn for FUZZTIME (the configuration parser, the control
# API, the decoding of received frames, forwarding and Trace); a failing
# input is left in the package's testdata/fuzz/.
FUZZTIME ?= 1m
fuzz:
	@$(DEPS) unit
	GO='$(GO)' ./scripts/fuzz.sh '$(FUZZTIME)'

# The switch for SOAK_DURATION in fast-path mode SOAK_MODE (tc, xdp or
# afxdp-xdp) under traffic, vif churn, reloads and restarts, with its
# invariants checked every second; prints a summary and fails on any
# violation (root; docs/soak.md).
SOAK_DURATION ?= 10m
SOAK_MODE     ?= tc
soak:
	@$(DEPS) e2e
	SOAK_DURATION='$(SOAK_DURATION)' SOAK_MODE='$(SOAK_MODE)' $(GO) test -tags soak -count=1 -v -timeout 0 -run '^TestSoak$$' ./test/

# Microbenchmarks, then every forwarding mode against the kernel bridge, with
# the sweeps: frame size, MAC table size, and ports up to 1024 with the idle
# switch's CPU and memory and a multicast burst (root; about 40 minutes).
# Results and charts go to bench-results/.
bench: build
	@$(DEPS) bench
	$(GO) test -run '^$$' -bench . -benchmem ./fdb ./dataplane
	$(GO) run ./bench $(BENCHFLAGS)

# Checks that the bench works: one short run of one xswitch mode and the
# kernel bridge, and of their ports sweep at 2 and 64 ports with a small
# multicast burst, which must leave a result file (root; CI runs it).
bench-smoke: build
	@$(DEPS) bench
	rm -rf $(BIN)/bench-smoke
	$(GO) run ./bench -smoke -out $(BIN)/bench-smoke
	test -s $(BIN)/bench-smoke/results.json

# Builds xswitchd, makes a dom0 with guests in network namespaces, runs the
# switch in auto mode and shows it working (root).
demo:
	@$(DEPS) demo
	@$(MAKE) --no-print-directory build
	./scripts/demo.sh $(BIN)

# Regenerates the eBPF objects and their Go bindings (bpf/xswitch_bpfel.*)
# from bpf/xswitch.c; needs clang, llvm, libbpf-dev and linux-libc-dev, which
# it installs when they are missing (root). A plain build needs none of them.
generate:
	@$(DEPS) generate
	$(GO) generate ./...

# Fails when the committed eBPF objects are not what bpf/xswitch.c compiles to.
check-generate: generate
	@$(DEPS) check-generate
	@git diff --exit-code --stat -- bpf/ || { echo "bpf/: the committed output differs from what 'make generate' produces; run it and commit"; exit 1; }

lint:
	@$(DEPS) lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	shellcheck .ci/run dist/xen/vif-xswitch $$(git ls-files '*.sh')
	./scripts/check-install.sh

clean:
	rm -rf $(BIN)

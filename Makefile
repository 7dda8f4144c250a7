# xswitch — the verbs people expect. Targets that touch the network need root.
GO      ?= go
BIN     := bin
export CGO_ENABLED ?= 0

.PHONY: all build test unit e2e bench bench-smoke demo generate check-generate lint clean

all: build

build:
	$(GO) build -trimpath -o $(BIN)/ ./cmd/...

# The whole suite: format and vet, unit tests with the race detector, then the
# end-to-end tests in network namespaces (root; they skip with a message
# otherwise, and fail instead when CI is set).
test: lint
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 -short ./...

e2e:
	$(GO) test -count=1 -v -timeout 20m ./test/...

# Microbenchmarks, then every forwarding mode against the kernel bridge, with
# the sweeps (root; about 15 minutes). Results and charts go to bench-results/.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./fdb ./dataplane
	$(GO) run ./bench $(BENCHFLAGS)

# Checks that the bench works: one short run of one xswitch mode and the
# kernel bridge, which must leave a result file (root; CI runs it).
bench-smoke: build
	rm -rf $(BIN)/bench-smoke
	$(GO) run ./bench -smoke -out $(BIN)/bench-smoke
	test -s $(BIN)/bench-smoke/results.json

# Builds xswitchd, makes a dom0 with guests in network namespaces, runs the
# switch in auto mode and shows it working (root).
demo: build
	./scripts/demo.sh $(BIN)

# Regenerates the eBPF objects and their Go bindings (bpf/xswitch_bpfel.*)
# from bpf/xswitch.c; installs clang, llvm and libbpf-dev from Debian first
# when they are missing (root). A plain build needs none of them.
generate:
	@command -v clang >/dev/null && command -v llvm-strip >/dev/null && [ -f /usr/include/bpf/bpf_helpers.h ] || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang llvm libbpf-dev linux-libc-dev; }
	$(GO) generate ./...

# Fails when the committed eBPF objects are not what bpf/xswitch.c compiles to.
check-generate: generate
	@git diff --exit-code --stat -- bpf/ || { echo "bpf/: the committed output differs from what 'make generate' produces; run it and commit"; exit 1; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

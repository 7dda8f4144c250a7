#!/usr/bin/env bash
# Demo: a dom0 in a network namespace with an uplink (peth0) and three guests,
# two on xenbr0 and one on xenbr1; xswitchd runs in auto mode and switches
# between them. Everything lives in namespaces named xsdemo-* and is removed
# on exit. Needs root, iproute2, nsenter (util-linux), ping (iputils-ping)
# and awk; `make demo` installs them and builds BIN/xswitchd first.
#
# Usage: scripts/demo.sh [BIN]
set -euo pipefail
bin=${1:-bin}

fatal() {
	echo "demo: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || fatal "needs root (network namespaces)"
for c in ip nsenter ping awk grep mktemp seq; do
	command -v "$c" >/dev/null || fatal "$c not found: 'make demo' installs what the demo needs (scripts/deps.sh demo)"
done
for b in xswitchd xswitchctl; do
	[ -x "$bin/$b" ] || fatal "$bin/$b not found: 'make demo' builds it"
done

p=xsdemo
dom0=$p-dom0
run=$(mktemp -d /tmp/xsdemo.XXXXXX)
pins=/sys/fs/bpf/$p
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	"$bin/xswitchd" -cleanup -bpf-pin-dir "$pins" >/dev/null 2>&1 || true
	for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns del "$ns"; done
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Namespaces left by a demo that was killed.
for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns del "$ns"; done

in0() { ip netns exec $dom0 "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

ip netns add $dom0
in0 ip link set lo up

# guest NAME VIF ADDR: a domU whose eth0 is the far end of VIF in dom0.
guest() {
	local ns=$p-$1
	ip netns add "$ns"
	ip link add "$2" netns $dom0 type veth peer name eth0 netns "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$3" dev eth0
	ip -n "$ns" link set eth0 up
	in0 ip link set "$2" up
}
say "dom0 ($dom0): peth0 to the LAN, guests dom1 and dom2 on xenbr0, dom3 on xenbr1"
guest lan peth0 10.99.0.254/24
guest dom1 vif1.0 10.99.0.1/24
guest dom2 vif2.0 10.99.0.2/24
guest dom3 vif3.1 10.99.0.3/24
in0 ip -br link

say "starting xswitchd in auto mode"
nsenter --net=/run/netns/$dom0 "$bin/xswitchd" -control "$run/ctl.sock" -metrics 127.0.0.1:9417 -bpf-pin-dir "$pins" >"$run/log" 2>&1 &
pid=$!
ctl() { "$bin/xswitchctl" -socket "$run/ctl.sock" "$@"; }
for _ in $(seq 50); do ctl ports >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5
cat "$run/log"

say "ping dom1 -> dom2 (same bridge)"
ip netns exec $p-dom1 ping -c 3 -i 0.2 10.99.0.2
say "ping dom2 -> LAN host behind peth0"
ip netns exec $p-dom2 ping -c 3 -i 0.2 10.99.0.254
say "ping dom1 -> dom3 (dom3 is on xenbr1: must fail)"
if ip netns exec $p-dom1 ping -c 2 -i 0.2 -W 1 10.99.0.3; then echo "unexpected: bridges leak"; exit 1; else echo "no reply, as it should be"; fi

say "xswitchctl bridges"
ctl bridges
say "xswitchctl fdb (learned MACs)"
ctl fdb
say "xswitchctl ports (counters; once both MACs are learned, the fast path forwards a flow in the kernel)"
ctl ports
say "a few lines of /metrics"
# bash's /dev/tcp, so the demo needs no HTTP client; the address is dom0's loopback.
scrape=$(nsenter --net=/run/netns/$dom0 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9417; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3')
grep -E '^xswitch_port_(receive_packets|fastpath_packets)_total' <<<"$scrape" || fatal "no port series in /metrics"
say "stopping xswitchd (SIGTERM releases the sockets; the fast path stays for the next xswitchd)"
kill -TERM "$pid"; wait "$pid" || true; pid=""
tail -2 "$run/log"
say "xswitchd -cleanup (detaches the fast path)"
"$bin/xswitchd" -cleanup -bpf-pin-dir "$pins"

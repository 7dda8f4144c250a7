#!/usr/bin/env bash
# Installs the Debian packages the make targets named on the command line
# need, saying which, so each target works on a fresh machine. As root it
# installs what is missing with apt-get; as another user it names the
# packages and fails. Tools only the tests and tools that need root use are
# checked only as root: without root those tests skip, and the demo and the
# bench refuse to start.
#
# Usage: scripts/deps.sh TARGET...
#   targets: demo test unit e2e lint bench generate check-generate make
# GO names the go command (default go).
set -euo pipefail

fatal() {
	echo "deps: $*" >&2
	exit 1
}

root=false
[ "$(id -u)" = 0 ] && root=true

# Each need is "package:what", what being a command or, from a /, a file.
needs=()
need() { needs+=("$1:$2"); }
root_need() { if $root; then need "$1" "$2"; fi; }
needs_go=false

for target in "$@"; do
	case $target in
	demo)
		needs_go=true
		root_need iproute2 ip
		root_need util-linux nsenter
		root_need iputils-ping ping
		root_need mawk awk
		;;
	test | unit | e2e | lint)
		needs_go=true
		case $target in test | lint)
			need git git
			need shellcheck shellcheck
			need systemd systemd-analyze # checks the unit make install installs
			;;
		esac
		case $target in test | unit)
			# The race detector is built with cgo.
			need gcc gcc
			need libc6-dev /usr/include/stdlib.h
			;;
		esac
		root_need iproute2 ip
		root_need util-linux nsenter
		case $target in test | e2e)
			root_need iputils-ping ping
			root_need ethtool ethtool
			# The VLAN-aware LAN switch of the VLAN test where the
			# kernel bridge has no VLAN filtering (run in the test's
			# own namespace, from its own directory).
			root_need openvswitch-switch ovs-vswitchd
			# promtool, which checks the alerting rules, the
			# dashboard's queries and a scrape of xswitchd.
			root_need prometheus promtool
			# The capture test reads xswitchctl's pcapng with it.
			root_need tcpdump tcpdump
			# The EVPN test's other host: FRR's zebra and bgpd drive a
			# kernel bridge and VXLAN device (run in the test's own
			# namespace, with their own sockets and configuration).
			root_need frr /usr/lib/frr/bgpd
			;;
		esac
		;;
	bench)
		needs_go=true
		root_need iproute2 ip
		root_need util-linux nsenter
		root_need ethtool ethtool
		root_need git git # the commit in the results
		;;
	generate | check-generate)
		needs_go=true
		need clang clang
		need llvm llvm-strip
		need libbpf-dev /usr/include/bpf/bpf_helpers.h
		need linux-libc-dev /usr/include/linux/bpf.h
		[ "$target" = generate ] || need git git
		;;
	make)
		need make make
		;;
	*)
		fatal "unknown target '$target' (want demo, test, unit, e2e, lint, bench, generate, check-generate or make)"
		;;
	esac
done

if $needs_go && ! command -v "${GO:-go}" >/dev/null; then
	hint=""
	$root && [ -n "${SUDO_USER:-}" ] && hint=" (sudo resets PATH: try 'sudo env PATH=\"\$PATH\" make ...')"
	fatal "${GO:-go} not found: Go 1.26 is a prerequisite, see https://go.dev/doc/install$hint"
fi

have() {
	case $1 in
	/*) [ -e "$1" ] ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

# missing prints the packages of the needs that are not met, once each.
missing() {
	local n seen=" "
	for n in ${needs[@]+"${needs[@]}"}; do
		if ! have "${n#*:}" && [[ $seen != *" ${n%%:*} "* ]]; then
			seen+="${n%%:*} "
			printf '%s\n' "${n%%:*}"
		fi
	done
}

mapfile -t pkgs < <(missing)
[ ${#pkgs[@]} -gt 0 ] || exit 0

if ! $root; then
	fatal "missing: ${pkgs[*]}. Install them as root (apt-get install ${pkgs[*]}), or run the make target as root, which installs them."
fi
command -v apt-get >/dev/null ||
	fatal "missing: ${pkgs[*]}, and this machine has no apt-get: install them with its package manager"

echo "installing: ${pkgs[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
# Packages that ship a service (openvswitch-switch, prometheus) must not
# start it on this machine: the tests run their own copies in namespaces,
# or use only a tool of the package. A policy-rc.d that refuses every
# start does that, unless one is there.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" </dev/null >/dev/null

mapfile -t pkgs < <(missing)
[ ${#pkgs[@]} -eq 0 ] || fatal "still missing after apt-get install: ${pkgs[*]}"

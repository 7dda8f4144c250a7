#!/usr/bin/env bash
# Checks what 'make install' installs, without root and without touching the
# machine: into an empty DESTDIR, for the default PREFIX and for /usr, it must
# install exactly the expected files; a second install keeps the operator's
# configuration; the unit must pass 'systemd-analyze verify' without a word,
# and its 'systemd-analyze security' exposure must stay at most 3.0 and be
# the one the docs give; the example configuration must be valid.
#
# Usage: scripts/check-install.sh (make lint runs it). MAKE names make.
set -euo pipefail
cd "$(dirname "$0")/.."

# The exposure the unit may reach, in tenths (systemd-analyze's threshold).
max_exposure=30

fatal() {
	printf 'check-install: %b\n' "$*" >&2
	exit 1
}

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

install_into() {
	"${MAKE:-make}" -s --no-print-directory install DESTDIR="$1" PREFIX="$2" >/dev/null
}

for prefix in /usr/local /usr; do
	root=$dest/root${prefix//\//-}
	install_into "$root" "$prefix"
	got=$(cd "$root" && find . -type f | sed 's|^\.||' | sort)
	want=$(printf '%s\n' \
		"$prefix/sbin/xswitchd" \
		"$prefix/bin/xswitchctl" \
		"$prefix/lib/systemd/system/xswitchd.service" \
		/etc/xswitch/xswitch.yaml \
		/etc/default/xswitchd \
		/etc/xen/scripts/vif-xswitch \
		/etc/xen/scripts/vif-xswitch.conf \
		"$prefix/share/doc/xswitch/examples/xl.conf.xswitch" \
		"$prefix/share/doc/xswitch/grafana/xswitch.json" \
		"$prefix/share/doc/xswitch/prometheus/xswitch-alerts.yml" | sort)
	[ "$got" = "$want" ] || fatal "make install PREFIX=$prefix installed\n$got\nwant\n$want"

	[ -x "$root/etc/xen/scripts/vif-xswitch" ] || fatal "/etc/xen/scripts/vif-xswitch is not executable"

	for f in /etc/xswitch/xswitch.yaml /etc/xen/scripts/vif-xswitch.conf; do
		echo "# the operator's" >>"$root$f"
	done
	install_into "$root" "$prefix"
	for f in /etc/xswitch/xswitch.yaml /etc/xen/scripts/vif-xswitch.conf; do
		grep -q "^# the operator's" "$root$f" || fatal "a second make install overwrote $f"
	done

	unit=$root$prefix/lib/systemd/system/xswitchd.service
	grep -qx "ExecStart=$prefix/sbin/xswitchd \$XSWITCHD_OPTS" "$unit" ||
		fatal "$unit: ExecStart is not $prefix/sbin/xswitchd"
	# verify wants ExecStart's binary to exist: point it into DESTDIR.
	mkdir -p "$dest/verify"
	sed "s|^ExecStart=$prefix/sbin/|ExecStart=$root$prefix/sbin/|" "$unit" >"$dest/verify/xswitchd.service"
	out=$(systemd-analyze verify "$dest/verify/xswitchd.service" 2>&1) ||
		fatal "systemd-analyze verify failed:\n$out"
	[ -z "$out" ] || fatal "systemd-analyze verify complains:\n$out"
	out=$(systemd-analyze security --offline=true --threshold="$max_exposure" "$unit" 2>&1) ||
		fatal "systemd-analyze security: exposure over ${max_exposure:0:1}.${max_exposure:1}:\n$out"

	"$root$prefix/sbin/xswitchd" -check -config "$root/etc/xswitch/xswitch.yaml" >/dev/null
done
score=$(sed -n 's/^→ Overall exposure level for xswitchd.service: \([0-9.]*\) .*/\1/p' <<<"$out")
for doc in docs/service.md README.md; do
	grep -q "security.*$score OK\|$score OK.*security\|rates the unit \*\*$score OK" "$doc" ||
		fatal "$doc does not give the unit's systemd-analyze security score, $score"
done
echo "make install: files, unit and example configuration ok; exposure $score"

#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a while each, one after the
# other: 'go test -fuzz' takes one target per run. The seed corpora
# (testdata/fuzz/FuzzX/ of each package) run with the unit tests anyway;
# this searches for new inputs. A failing input is written to the
# package's testdata/fuzz/FuzzX/, where it stays as a seed once committed,
# and ends the run.
#
# Usage: scripts/fuzz.sh [TIME]
#   TIME per target, as 'go test -fuzztime' takes it: 30s, 2m, or 1000x;
#   default $FUZZTIME, or 1m. GO names the go command (default go).
#   FUZZMINIMIZE bounds the minimization of each new interesting input
#   (default 200x): go's own default, 60s, spends whole runs minimizing,
#   as every execution snapshots the coverage of these large binaries, and
#   those executions are not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-${FUZZTIME:-1m}}
go=${GO:-go}
minimize=${FUZZMINIMIZE:-200x}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

summary=()
while IFS=: read -r file _ decl; do
	pkg=./$(dirname "$file")
	target=${decl#func }
	target=${target%%(*}
	echo "== $target ($pkg), $time"
	note=
	if ! "$go" test -run '^$' -fuzz "^$target\$" -fuzztime "$time" -fuzzminimizetime "$minimize" "$pkg" 2>&1 | tee "$out"; then
		# Go 1.26's coordinator can end a run that reached -fuzztime
		# with "context deadline exceeded" and no failing input (a race
		# of its own deadline, golang/go#75804, fixed in Go 1.27): that
		# is the end of the run, not a finding. Anything else fails.
		if grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
			note=" (ended by go's deadline race, golang/go#75804; no failing input)"
			echo "fuzz: $target$note" >&2
		else
			echo "fuzz: $target failed; its input is under $pkg/testdata/fuzz/$target/" >&2
			exit 1
		fi
	fi
	execs=$(sed -n 's/.*execs: \([0-9]*\) .*/\1/p' "$out" | tail -n 1)
	summary+=("$(printf '%-12s %-26s %10s execs%s' "$target" "$pkg" "${execs:-?}" "$note")")
done < <(git grep -n '^func Fuzz' -- '*_test.go' | sort)

printf '%s\n' "fuzzed for $time each:" "${summary[@]}"

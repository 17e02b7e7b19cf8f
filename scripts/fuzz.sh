#!/usr/bin/env bash
# Runs every fuzz target of the module in turn, each for FUZZTIME (default 60s).
#
#   scripts/fuzz.sh [FUZZTIME]
#
# The targets are discovered with `go test -list '^Fuzz'`, so a new Fuzz function runs here
# without being listed. FUZZTIME is a go test -fuzztime value: a duration (10s, 5m) or an
# execution count (1000x). A target that finds a failing input stops the script with go
# test's status; the input is written to the package's testdata/fuzz/<Target>/ and from then
# on runs as a regression case in every go test. GO names the go command (default go);
# GOFLAGS and the other go environment settings apply.
set -euo pipefail

fuzztime="${1:-60s}"
go="${GO:-go}"
cd "$(dirname "$0")/.."

# `go test -list` prints each matching test of a package on a line of its own, then the
# package's "ok" line: keep the Fuzz lines, tagged with their package.
targets=$("$go" test -run '^$' -list '^Fuzz' ./... | awk '
	/^Fuzz/ { pending[++n] = $1; next }
	/^ok / { for (i = 1; i <= n; i++) print $2, pending[i]; n = 0 }')
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

while read -r pkg target; do
	echo "== $target ($pkg, $fuzztime)"
	"$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
done <<<"$targets"

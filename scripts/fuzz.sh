#!/usr/bin/env bash
# Runs every fuzz target of the module in turn, each for FUZZTIME (default 60s).
#
#   scripts/fuzz.sh [FUZZTIME]
#
# FUZZTIME is a go test -fuzztime value: a duration (10s, 5m) or an execution count (1000x).
# A target that finds a failing input stops the script with go test's status; the input
# is written to the package's testdata/fuzz/<Target>/ and from then on runs as a
# regression case in every go test. GO names the go command (default go); GOFLAGS and the
# other go environment settings apply.
set -euo pipefail

fuzztime="${1:-60s}"
go="${GO:-go}"
cd "$(dirname "$0")/.."

# Each target as "package target".
targets=(
	"./events FuzzDecode"
	"./events FuzzPlainReaderMatchesTree"
	"./otslocal FuzzDecodePlainBuffer"
	"./otslocal FuzzRequest"
	"./transform FuzzPlan"
)

for entry in "${targets[@]}"; do
	read -r pkg target <<<"$entry"
	echo "== $target ($pkg, $fuzztime)"
	"$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
done

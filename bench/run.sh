#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# bench/run.sh: run every bench/*.sh except this one, one after the other
# (they measure the same machine), and print the single JSON line each one
# prints on stdout. Progress goes to stderr. Usage: bench/run.sh [PATTERN]
# (only benchmarks whose file name contains PATTERN). Exit status 1 when a
# benchmark failed or did not print exactly one JSON line. BUILD selects the
# binaries (default build), as for tests/run.sh.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export BUILD
pattern=${1:-}
failed=0
out=$(mktemp "${TMPDIR:-/tmp}/greetbot-bench-out.XXXXXX")
trap 'rm -f "$out"' EXIT

for b in "$TOP"/bench/*.sh; do
	name=$(basename "$b" .sh)
	[ "$name" != run ] || continue
	[ -z "$pattern" ] || case $name in *"$pattern"*) ;; *) continue ;; esac
	echo "== $name" >&2
	start=$SECONDS
	if ! "$b" >"$out"; then
		echo "!! $name failed" >&2
		failed=$((failed + 1))
		continue
	fi
	if [ "$(wc -l <"$out")" -ne 1 ] || ! jq -e 'type == "object"' "$out" >/dev/null 2>&1; then
		echo "!! $name did not print exactly one JSON line:" >&2
		cat "$out" >&2
		failed=$((failed + 1))
		continue
	fi
	cat "$out"
	echo "== $name: $((SECONDS - start)) s" >&2
done
[ "$failed" -eq 0 ]

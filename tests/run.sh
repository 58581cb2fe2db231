#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# tests/run.sh: run the C unit tests and the end-to-end shell tests, count
# their TAP lines, end with "N passed, M failed, K skipped" (a line
# "ok N # SKIP why" is a check that could not run here: skipped, not
# passed). Usage: tests/run.sh [PATTERN]
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export BUILD
pattern=${1:-}
passed=0
failed=0
skipped=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# report NAME OUTPUT RC SECONDS: print a finished program's output and
# count it: every "ok"/"not ok" line counts, "ok ... # SKIP" as skipped,
# and a program that exits non-zero without reporting a failure counts as
# one failure.
report() {
	local name=$1 o=$2 rc=$3 p f s
	echo "== $name"
	cat "$o"
	s=$(grep -ciE '^ok [0-9]+ *# *skip' "$o")
	p=$(($(grep -c '^ok ' "$o") - s))
	f=$(grep -c '^not ok ' "$o")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited $rc"
		f=1
	fi
	echo "# $name took $4 s"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

# Run one test program now.
run_one() {
	local name=$1 rc t0=$SECONDS
	shift
	"$@" >"$out" 2>&1
	rc=$?
	report "$name" "$out" "$rc" $((SECONDS - t0))
}

cd "$TOP" || exit 1
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case $t in *.o | *.d) continue ;; esac
	[ -z "$pattern" ] || case $t in *"$pattern"*) ;; *) continue ;; esac
	run_one "$(basename "$t")" "$t"
done
# End-to-end tests run TEST_JOBS at a time (default 2: most of a test's
# time is waiting on renders, timeouts and drains, not CPU), each in its
# own temp dir with its own ports, Redis and render uids (tests/lib.sh).
# A test whose header has the line "# run: alone" (fork bombs, which take
# every CPU) runs with no other beside it. Each test's output is printed
# whole when it ends.
#
# A test whose header has "# run: long" (faults that last minutes) is left
# to the long run, make test-long (TEST_TIER=long: those alone), which CI
# runs too; TEST_TIER=all runs everything, and a PATTERN that names a
# test runs it whatever its tier.
jobs=${TEST_JOBS:-2}
tier=${TEST_TIER:-}
outdir=$(mktemp -d)
trap 'rm -f "$out"; rm -rf "$outdir"' EXIT
declare -A running=() began=()

# Report a finished background test.
reap() {
	local pid=$1 name
	name=$(basename "${running[$pid]}")
	report "$name" "$outdir/$name" "$(cat "$outdir/$name.rc" 2>/dev/null || echo 1)" \
	    $((SECONDS - ${began[$pid]}))
	unset "running[$pid]" "began[$pid]"
}

# Wait for one running test to end, or for all of them with "all".
wait_some() {
	local pid
	while [ "${#running[@]}" -gt 0 ]; do
		wait -n -p pid "${!running[@]}" || true
		[ -n "${running[$pid]:-}" ] && reap "$pid"
		[ "${1:-}" = all ] || return 0
	done
}

start_test() {
	local t=$1 name
	name=$(basename "$t")
	(bash "$t" >"$outdir/$name" 2>&1; echo $? >"$outdir/$name.rc") &
	running[$!]=$t
	began[$!]=$SECONDS
}

for t in tests/t/[0-9]*.sh; do
	[ -f "$t" ] || continue
	[ -z "$pattern" ] || case $t in *"$pattern"*) ;; *) continue ;; esac
	long=0
	grep -q '^# run: long$' "$t" && long=1
	if [ -z "$pattern" ] && [ "$tier" != all ] && [ "$long" != "$([ "$tier" = long ] && echo 1 || echo 0)" ]; then
		[ "$long" = 1 ] && echo "# $(basename "$t") is in the long run: make test-long"
		continue
	fi
	if grep -q '^# run: alone$' "$t"; then
		wait_some all
		start_test "$t"
		wait_some all
		continue
	fi
	while [ "${#running[@]}" -ge "$jobs" ]; do
		wait_some
	done
	start_test "$t"
done
wait_some all
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

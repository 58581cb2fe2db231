#!/usr/bin/env bash
# tests/run.sh: run the C unit tests and the end-to-end shell tests, count
# their TAP lines, end with "N passed, M failed". Usage: tests/run.sh [PATTERN]
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export BUILD
pattern=${1:-}
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Run one test program; every "ok"/"not ok" line counts, and a program that
# exits non-zero without reporting a failure counts as one failure.
run_one() {
	local name=$1 rc p f t0=$SECONDS
	shift
	echo "== $name"
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	echo "# $name took $((SECONDS - t0)) s"
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

cd "$TOP" || exit 1
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case $t in *.o | *.d) continue ;; esac
	[ -z "$pattern" ] || case $t in *"$pattern"*) ;; *) continue ;; esac
	run_one "$(basename "$t")" "$t"
done
for t in tests/t/[0-9]*.sh; do
	[ -f "$t" ] || continue
	[ -z "$pattern" ] || case $t in *"$pattern"*) ;; *) continue ;; esac
	run_one "$(basename "$t")" bash "$t"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

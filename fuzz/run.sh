#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# fuzz/run.sh: run each fuzz target for a while, one after the other, and
# fail when any of them found something. fuzz/fuzz.mk's `run` calls it.
# Usage: fuzz/run.sh BUILD SECONDS TARGET...; FUZZ_FLAGS adds libFuzzer
# options. New inputs go to BUILD/corpus/TARGET (fuzz/corpus/TARGET holds
# the seeds and is only read), findings to BUILD/findings/TARGET/, each
# fuzzer's output to BUILD/log/TARGET.log.
set -eu

build=$1
seconds=$2
shift 2
read -r -a extra <<<"${FUZZ_FLAGS:-}"
# fuzz_template writes its template.conf for every input: in memory, if
# there is room.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi
failed=()

for t in "$@"; do
	mkdir -p "$build/corpus/$t" "$build/findings/$t" "$build/log"
	opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
		-print_final_stats=1 -artifact_prefix="$build/findings/$t/")
	[ ! -f "fuzz/$t.dict" ] || opts+=(-dict="fuzz/$t.dict")
	log=$build/log/$t.log
	echo "fuzz $t: ${seconds} s"
	if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    "$build/bin/fuzz_$t" "${opts[@]}" ${extra[@]+"${extra[@]}"} \
	    "$build/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "fuzz $t: ok, ${runs:-?} runs, $(find "$build/corpus/$t" -type f | wc -l) inputs in $build/corpus/$t"
	else
		failed+=("$t")
		tail -n 40 "$log"
		echo "fuzz $t: FOUND SOMETHING (log $log, input in $build/findings/$t/)"
	fi
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz: findings in: ${failed[*]}; see fuzz/README.md to keep one as a regression"
	exit 1
fi
echo "fuzz: no findings in $*"

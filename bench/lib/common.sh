# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# bench/lib/common.sh: sourced by every bench/*.sh. Gives a benchmark its
# own temp dir ($B), the simulator helpers of scripts/sim.sh on it, and a
# trap that stops every process it started. Lives in a subdirectory so that
# bench/run.sh does not take it for a benchmark.
set -eu

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) BIN=$BUILD/bin ;; *) BIN=$TOP/$BUILD/bin ;; esac
export TOP BIN
B=$(mktemp -d "${TMPDIR:-/tmp}/greetbot-bench.XXXXXX")
b_pids=()

# shellcheck source=scripts/sim.sh
. "$TOP/scripts/sim.sh"
# shellcheck disable=SC2034 # read by scripts/sim.sh
SIM_DIR=$B
# Renderers run unprivileged when the benchmark runs as root.
chmod 711 "$B"

# Stop what the benchmark started (tgsim, greetbotd, greetbot-tg, and any
# pid given to b_track), then remove the temp dir unless BENCH_KEEP is set.
b_cleanup() {
	local p
	sim_stop
	for p in "${b_pids[@]+"${b_pids[@]}"}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${b_pids[@]+"${b_pids[@]}"}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "bench: kept $B" >&2
	else
		rm -rf "$B"
	fi
}
trap b_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# b_fail MSG...: report a failure, keep the temp dir (logs), exit 1.
b_fail() {
	printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2
	BENCH_KEEP=1
	exit 1
}

# b_sleep SECONDS: sleep without starting a process (read on a FIFO that
# nobody writes), for tight polling loops.
mkfifo "$B/.sleep"
exec {b_sleep_fd}<>"$B/.sleep"
b_sleep() { read -r -t "$1" -u "$b_sleep_fd" _ || true; }

# b_cpu PID: user+sys seconds PID has used so far (/proc/PID/stat).
b_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' \
		"/proc/$1/stat"
}

# b_track PID: stop PID at the end.
b_track() { b_pids+=("$1"); }

# b_log MSG...: progress for humans, on stderr.
b_log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# b_now: wall-clock seconds with microseconds.
b_now() { printf '%s' "$EPOCHREALTIME"; }

# b_calc EXPR: evaluate an awk arithmetic expression, print it with three
# decimals.
b_calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

# b_median V...: the median of the values (the lower middle one for an
# even count).
b_median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# b_stats: tgsim's /control/stats reply.
b_stats() { curl -fsS "http://$SIM_ADDR/control/stats"; }

# b_curl_batch FILE: run the curl config in FILE (one request per block,
# each block ended by "next"), in order, on one connection.
b_curl_batch() { sed '${/^next$/d}' "$1" | curl -fsS -K -; }

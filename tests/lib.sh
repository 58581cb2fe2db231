# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# tests/lib.sh: sourced by every tests/t/NNNN-topic.sh. Gives each test its
# own temp dir ($T) and TAP-style result lines that tests/run.sh counts.
set -eu

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) BIN=$BUILD/bin ;; *) BIN=$TOP/$BUILD/bin ;; esac
export TOP BIN
# greetbotd's templates: small-frame copies of the shipped ones (same keys
# and timing, 320x180: tests/small-template.sh), so that the tests of the
# order path spend little CPU per render. The tests of the picture itself
# (0020, 0030, 0100, 0500) use the shipped templates.
: "${GB_TEMPLATES_DIR:=${BIN%/bin}/test-templates}"
export GB_TEMPLATES_DIR
T=$(mktemp -d "${TMPDIR:-/tmp}/greetbot-test.XXXXXX")
t_n=0
t_failed=0
t_pids=()

# Stop every process the test started (SIGTERM to each tracked pid, then
# wait for it; greetbotd and tgsim stop their own children) and remove the
# temp dir unless GREETBOT_KEEP is set.
t_cleanup() {
	local p
	sim_stop
	for p in "${t_pids[@]+"${t_pids[@]}"}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${t_pids[@]+"${t_pids[@]}"}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -n "${GREETBOT_KEEP:-}" ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}
trap t_cleanup EXIT

# Remember a background pid so t_cleanup stops it.
t_track() { t_pids+=("$1"); }

# Wait for every tracked background pid to finish.
t_wait_tracked() {
	local p
	for p in "${t_pids[@]+"${t_pids[@]}"}"; do
		wait "$p" 2>/dev/null || true
	done
}

t_ok() { t_n=$((t_n + 1)); echo "ok $t_n - $*"; }
# A check that cannot run here, and why: tests/run.sh counts it as skipped,
# never as passed (TAP's "# SKIP").
t_skip() { t_n=$((t_n + 1)); echo "ok $t_n # SKIP $*"; }
t_fail() { t_n=$((t_n + 1)); t_failed=$((t_failed + 1)); echo "not ok $t_n - $*"; }

# t_check DESC CMD...: one check that passes when CMD succeeds (its
# standard output is not shown: it would look like a result line).
t_check() {
	local desc=$1
	shift
	if "$@" >/dev/null; then t_ok "$desc"; else t_fail "$desc"; fi
}

# t_jq JQ-ARGS...: jq -e on standard input that fails on empty input
# (plain jq -e passes when there is nothing to read).
t_jq() {
	local in
	in=$(cat)
	[ -n "$in" ] || return 1
	jq -e "$@" <<<"$in" >/dev/null
}

# t_wait_log FILE PATTERN [SECONDS] [N]: wait until N (default 1) lines
# matching the extended regex are in FILE (tail -F follows it: no
# sleeping). Returns as soon as the Nth line is there: tail is stopped
# then, not left to notice at its next write (in a pipeline the caller
# would wait for the log's next line, which may come only seconds later).
t_wait_log() {
	local fd pid c
	exec {fd}< <(exec tail -n +1 -F "$1" 2>/dev/null)
	pid=$!
	c=$(timeout "${3:-30}" grep -cE -m "${4:-1}" -- "$2" <&"$fd")
	kill "$pid" 2>/dev/null
	exec {fd}<&-
	[ "$c" = "${4:-1}" ]
}

# t_render_copy: copy scripts/render.sh and its parts into $T/scripts and
# print the copy's path, for a test's wrapper script to exec. greetbotd
# snapshots the render script it is given, but not what a wrapper execs,
# and a renderer (another uid) may not search the source tree (a clone
# under /root); $T it can.
t_render_copy() {
	mkdir -p "$T/scripts"
	cp -R "$TOP/scripts/render.sh" "$TOP/scripts/render.d" "$T/scripts/"
	chmod -R a+rX "$T/scripts"
	printf '%s\n' "$T/scripts/render.sh"
}

# t_flaky_render: print the path of a render script that fails once per
# name (exit 75), then renders (tests/scripts/flaky-render.sh), keeping
# its markers in $T/flaky, which every renderer may write.
t_flaky_render() {
	mkdir -p "$T/scripts" "$T/flaky"
	chmod 1777 "$T/flaky"
	cp "$TOP/tests/scripts/flaky-render.sh" "$T/scripts/"
	printf '#!/bin/sh\nFLAKY_DIR=%s exec %s\n' "$T/flaky" "$T/scripts/flaky-render.sh" \
		>"$T/scripts/flaky.sh"
	chmod -R a+rX "$T/scripts"
	chmod 755 "$T/scripts/flaky.sh"
	printf '%s\n' "$T/scripts/flaky.sh"
}

# t_free_port: a free loopback port for a server that needs a fixed one
# (the webhook), outside the ephemeral range that the port-0 listeners
# (tgsim, greetbotd) get theirs from.
t_free_port() {
	local p tries=50
	while [ "$tries" -gt 0 ]; do
		tries=$((tries - 1))
		p=$((20000 + RANDOM % 10000))
		if [ -z "$(ss -Htln "sport = :$p")" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Print a file's tail as TAP comments, for a failure's context.
# t_redis_service SOCKET: a Redis of the test's own (redis_url) reachable
# by greetbotd's jobs process, which connects as the service user (the
# unnamed uid below the render block, or GREETBOT_SERVICE_USER's number),
# as a sysadmin gives their Redis's socket to that user. As root only:
# otherwise nothing is dropped.
t_redis_service() {
	[ "$(id -u)" -eq 0 ] || return 0
	chown "${GREETBOT_SERVICE_USER:-$((GREETBOT_RENDER_UID_BASE - 1))}" "$1"
}
t_show() { sed 's/^/#   /' "$1" | tail -n "${2:-20}"; }

t_done() {
	# Under `make asan` a sanitizer report in any process's log is a failure.
	sim_stop
	if grep -lE 'Sanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
		t_fail "no sanitizer report in the processes' logs"
		grep -hE -A12 'Sanitizer|runtime error:' "$T"/*.log | t_show /dev/stdin 40
	fi
	echo "# $t_n checks, $t_failed failed"
	[ "$t_failed" -eq 0 ]
}

# The simulator helpers (tgsim, greetbotd, simulated parents) on $T.
# shellcheck source=scripts/sim.sh
. "$TOP/scripts/sim.sh"
# shellcheck disable=SC2034 # used by sim.sh
SIM_DIR=$T
# greetctl without -c reads the host's installed configuration
# (/etc/greetbot/greetbot.conf); the tests give it theirs (GREETBOT_*
# variables, -c), never the host's.
export GREETCTL_CONFIG=
# Renderers run unprivileged when tests run as root: let them reach $T.
chmod 711 "$T"
# Each test's renderers get uids of their own (tests run side by side, and
# RLIMIT_NPROC counts per uid): a block of 300 from 70000 by test number.
# Suites run side by side from several checkouts set GREETBOT_TEST_UID_OFFSET
# apart (1000000 each), so that one never kills the other's renderers.
# (Not left in the environment: greetbotd and greetctl warn of a GREETBOT_
# variable that is not a setting.)
t_uid_offset=${GREETBOT_TEST_UID_OFFSET:-0}
unset GREETBOT_TEST_UID_OFFSET
case ${0##*/} in
[0-9][0-9][0-9][0-9]-*)
	t_num=${0##*/}
	: "${GREETBOT_RENDER_UID_BASE:=$((70000 + t_uid_offset + 10#${t_num%%-*} * 300))}"
	export GREETBOT_RENDER_UID_BASE ;;
esac

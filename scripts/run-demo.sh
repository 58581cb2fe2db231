#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# What `make run` does. With a Telegram token configured (greetbot.conf in
# the working directory or GREETBOT_TELEGRAM_TOKEN[_FILE]), run the real bot
# in the foreground. Without one: start greetbotd against tgsim on the
# embedded defaults, play one parent through the conversation, print the
# path of the MP4 the simulated chat received, and stop everything.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN=$TOP/${BUILD:-build}/bin
conf=${GREETBOT_CONFIG:-$TOP/greetbot.conf}

has_token() {
	[ -n "${GREETBOT_TELEGRAM_TOKEN:-}${GREETBOT_TELEGRAM_TOKEN_FILE:-}" ] && return 0
	[ -f "$conf" ] && grep -Eq '^[[:space:]]*telegram_token(_file)?[[:space:]]*=[[:space:]]*[^[:space:]]' "$conf"
}

if has_token; then
	echo "make run: Telegram token configured; starting greetbotd (Ctrl-C stops it)" >&2
	args=()
	[ -f "$conf" ] && args=(-c "$conf")
	cd "$TOP"
	exec "$BIN/greetbotd" "${args[@]}"
fi

# shellcheck source=scripts/sim.sh
. "$TOP/scripts/sim.sh"
SIM_DIR=${GREETBOT_RUN_DIR:-${TMPDIR:-/tmp}/greetbot-run}
rm -rf "$SIM_DIR"
mkdir -p "$SIM_DIR"
# Renderers run unprivileged when we are root: they must reach the state dir.
chmod 711 "$SIM_DIR"
trap sim_stop EXIT

echo "make run: no Telegram token configured; using the simulator (tgsim)" >&2
sim_start
gb_start
echo "make run: greetbotd is up; a simulated parent orders a video for «Маша»" >&2
video=$(parent_order 1001 "маша")
sim_stop
trap - EXIT
echo "make run: logs in $SIM_DIR/*.log" >&2
echo "The simulated chat received: $video"

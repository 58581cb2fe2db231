#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A neighbour hangs: Redis stopped (SIGSTOP) for 30 s, then the Bot API
# answering 502 to every call for 60 s, each while parents order. /health
# is 503 with the right cause within 10 s of each fault and 200 again
# after it, and every video arrives, once, within 35 s of the fault's end.
# run: long
. "$(dirname "$0")/../lib.sh"

sim_start
GREETBOT_WORKERS=2 gb_start
t_check "a first order completes" test -s "$(parent_order 3500 Маша)"
redis=$(pgrep -P "$GB_PID" -x redis-server)

# health_within SECONDS JQ: /health answers (each in 1 s) as the filter
# wants within SECONDS (polled: nothing announces a fault).
health_within() {
	local deadline=$((SECONDS + $1)) body=""
	while [ "$SECONDS" -lt "$deadline" ]; do
		body=$(curl -s -m 1 "http://$GB_HTTP/health") || true
		jq -e "$2" <<<"$body" >/dev/null 2>&1 && return 0
		read -r -t 0.5 <> <(:) || true
	done
	echo "# /health: $body"
	return 1
}

# videos_once CHAT...: each chat has exactly one video.
videos_once() {
	local c
	for c in "$@"; do
		[ "$(sim_wait "$c" 0 1000 0 |
			jq '[.messages[] | select(.method == "sendVideo")] | length')" = 1 ] || return 1
	done
}

# --- Redis stopped for 30 s ---------------------------------------------------
kill -STOP "$redis"
t_stop=$SECONDS
for c in 3501:Даша 3502:Саша 3503:Маша; do
	(PARENT_WAIT=150 parent_order "${c%%:*}" "${c#*:}" >"$T/video.${c%%:*}" 2>&1) &
	t_track $!
done
t_check "/health is 503 within 10 s: redis does not answer" \
	health_within 10 '.status == "fail" and (.reason | test("redis does not answer"))'
t_check "the hang is logged" t_wait_log "$T/greetbotd.log" 'msg="redis does not answer"' 10
left=$((30 - (SECONDS - t_stop)))
[ "$left" -le 0 ] || read -r -t "$left" <> <(:) || true	# the fault's length
kill -CONT "$redis"
t_end=$SECONDS
t_check "/health is 200 again" health_within 10 '.status == "ok"'
t_wait_tracked
t_check "every video arrived within 35 s of Redis answering again" \
	test $((SECONDS - t_end)) -le 35
for c in 3501 3502 3503; do
	t_check "parent $c got the video" test -s "$(tail -1 "$T/video.$c")"
done
t_check "... each once" videos_once 3501 3502 3503

# --- the Bot API answers 502 for 60 s ----------------------------------------
sim_post fault all=1 kind=502 count=0 >/dev/null
t_down=$SECONDS
for c in 3511:Гриша 3512:Миша 3513:Маша; do
	# The parents' updates reach the bot only once it can poll again.
	(PARENT_WAIT=180 parent_order "${c%%:*}" "${c#*:}" >"$T/video.${c%%:*}" 2>&1) &
	t_track $!
done
t_check "/health is 503 within 10 s: the Bot API fails" \
	health_within 10 '.status == "fail" and (.reason | test("Bot API fails"))'
left=$((60 - (SECONDS - t_down)))
[ "$left" -le 0 ] || read -r -t "$left" <> <(:) || true	# the fault's length
sim_post fault all=1 kind=clear >/dev/null
t_end=$SECONDS
t_check "/health is 200 again after the Bot API answers" health_within 15 '.status == "ok"'
t_wait_tracked
t_check "every video arrived within 35 s of the Bot API answering again" \
	test $((SECONDS - t_end)) -le 35
for c in 3511 3512 3513; do
	t_check "parent $c got the video" test -s "$(tail -1 "$T/video.$c")"
done
t_check "... each once" videos_once 3511 3512 3513
t_check "no process of ours exited or died" \
	bash -c '! grep -E "msg=\"child (exited|died)\"" "$1"' _ "$T/greetbotd.log"
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# greetbotd's jobs process (jobs/proc.c: the database, Redis, /health)
# dies in the middle of a render: greetbotd stops the render it had asked
# for, starts the jobs process again (which publishes its HTTP address
# again), the job is taken again without using up an attempt, and the
# parent gets the video; the bot runs on meanwhile. A jobs process that
# cannot start at all (texts that do not load) stops greetbotd, saying why;
# run by hand, it refuses.
. "$(dirname "$0")/../lib.sh"

sim_start
GREETBOT_WORKERS=1 GB_RENDER_SCRIPT=$TOP/tests/scripts/slow-render.sh gb_start
db=$T/state/greetbot.db
bot=$(pgrep -P "$GB_PID" -x greetbot-tg)
jobs=$(pgrep -P "$GB_PID" -x greetbotd-jobs)
t_check "greetbotd runs its jobs process" test -n "$jobs"
(parent_order 1151 Лиза >"$T/video" 2>&1) &
t_track $!
t_wait_log "$T/greetbotd.log" 'msg="render started"' 60
render=$(pgrep -P "$GB_PID" -f '/[.]render( |$)' | head -1)
kill -KILL "$jobs"
t_check "greetbotd says its jobs process died" \
	t_wait_log "$T/greetbotd.log" 'msg="child died" child=greetbotd-jobs signal=9' 10
t_check "the render it had asked for is stopped" timeout 10 tail --pid="$render" -f /dev/null
t_check "a new jobs process starts" \
	t_wait_log "$T/greetbotd.log" 'msg="child started" child=greetbotd-jobs' 10 2
t_wait_tracked
t_check "the parent gets the video" test -s "$(tail -1 "$T/video")"
t_check "the request is COMPLETED" \
	test "$(sqlite3 "$db" "SELECT group_concat(state) FROM requests")" = COMPLETED
t_check "the stopped render is recorded as interrupted, not failed" \
	test "$(sqlite3 "$db" "SELECT group_concat(status) FROM attempts ORDER BY id")" = interrupted,ok
t_check "... and used up no attempt: the job counts one, the one that rendered" \
	test "$(sqlite3 "$db" "SELECT state || ':' || attempts FROM jobs")" = DONE:1
t_check "greetbot-tg ran on (not restarted)" \
	test "$(pgrep -P "$GB_PID" -x greetbot-tg)" = "$bot"
t_check "/health answers at the address greetbotd published again" \
	curl -fsS -o /dev/null "http://$(cat "$T/state/http.addr")/health"
sim_stop

# Texts that do not load: the jobs process exits at once, and greetbotd
# with it (restarting it would not help), not 0, saying why.
sim_start
rc=0
GREETBOT_MESSAGES_DIR=$T/no-messages GREETBOT_STATE_DIR=$T/state GREETBOT_HTTP_LISTEN=127.0.0.1:0 \
	GREETBOT_TELEGRAM_TOKEN=$SIM_TOKEN GREETBOT_TELEGRAM_API_URL="http://$SIM_ADDR" \
	GREETBOT_TEMPLATES_DIR="$GB_TEMPLATES_DIR" timeout 60 "$BIN/greetbotd" 2>"$T/bad.log" || rc=$?
t_check "bad texts: greetbotd exits, not 0 (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
t_check "... saying the jobs process could not start, and why" \
	sh -c 'grep -q "msg=\"the jobs process could not start\"" "$1" &&
		grep -q "proc=greetbotd-jobs msg=\"texts cannot be loaded\"" "$1"' _ "$T/bad.log"
t_check "... and leaves no child behind" sh -c '! pgrep -x greetbotd-jobs -P 1 >/dev/null'
rc=0
"$BIN/greetbotd" --jobs 3>&- 4>&- 2>"$T/by-hand.err" </dev/null || rc=$?
t_check "greetbotd --jobs run by hand refuses to start (exit $rc), saying it is greetbotd's" \
	sh -c '[ "$1" = 2 ] && grep -q "started by greetbotd, not by hand" "$2"' _ "$rc" "$T/by-hand.err"
t_done

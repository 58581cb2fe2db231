#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# SIGTERM drains: running renders get drain_grace (0 here) and are then
# stopped, interrupted jobs are not counted as failures, greetbotd exits 0;
# after a restart every request completes.
. "$(dirname "$0")/../lib.sh"

sim_start
GREETBOT_DRAIN_GRACE=0 GREETBOT_WORKERS=2 gb_start
db=$T/state/greetbot.db
for c in 1 2 3; do
	(parent_order $((3200 + c)) "$(echo Аня Боря Вера | cut -d' ' -f"$c")" >"$T/video.$c" 2>&1) &
	t_track $!
done
t_wait_log "$T/greetbotd.log" 'msg="render started"' 60
pid=$GB_PID
kill -TERM "$pid"
wait "$pid"
rc=$?
GB_PID=
t_check "greetbotd exits 0 after SIGTERM" test "$rc" = 0
t_check "its children are gone" sh -c "! pgrep -P $pid"
t_check "its published HTTP address is removed" test ! -e "$T/state/http.addr"
t_check "no job is left RUNNING" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE state = 'RUNNING'")" = 0
t_check "the stopped renders are recorded as interrupted" \
	test "$(sqlite3 "$db" "SELECT count(*) > 0 FROM attempts WHERE status = 'interrupted'")" = 1
t_check "no job failed or used up an attempt because of the drain" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE state = 'FAILED' OR attempts > 0")" = 0

gb_start
t_wait_tracked
for c in 1 2 3; do
	t_check "parent $c got the video after the restart" test -s "$(tail -1 "$T/video.$c")"
done
t_check "every request is COMPLETED" \
	test "$(sqlite3 "$db" "SELECT group_concat(DISTINCT state) FROM requests")" = COMPLETED
t_done

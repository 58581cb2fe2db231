#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A temporary failure (exit 75) is retried after a backoff: the job waits in
# the Redis retry set, a timer moves it back to the stream, the next
# attempt succeeds and the parent gets the video.
. "$(dirname "$0")/../lib.sh"

sim_start
GB_RENDER_SCRIPT=$(t_flaky_render) gb_start
db=$T/state/greetbot.db
(parent_order 3401 "Тимур" >"$T/video" 2>&1) &
order=$!
t_track $order
t_check "the first attempt fails with EX_TEMPFAIL" \
	t_wait_log "$T/greetbotd.log" 'msg="render finished" job=1 .*status=tempfail exit=75' 60
t_check "the job waits in the retry set" \
	t_wait_log "$T/greetbotd.log" 'msg="job state" job=1 from=RETRY_WAIT to=RETRY_WAIT cause=scheduled' 10
t_check "a timer moves it back to the stream when due" \
	t_wait_log "$T/greetbotd.log" 'msg="retry due, job back on the stream" job=1' 30
wait "$order" || true
t_check "the second attempt succeeds and the parent gets the video" test -s "$(tail -1 "$T/video")"
t_check "attempts: tempfail (with its stderr), then ok" \
	test "$(sqlite3 "$db" "SELECT group_concat(status || ':' || coalesce(stderr_tail, ''), ',') FROM
		(SELECT status, trim(stderr_tail, char(10)) AS stderr_tail FROM attempts ORDER BY id)")" = "tempfail:temporary trouble,ok:"
t_check "the retry waited the backoff (at least 5 s)" \
	test "$(sqlite3 "$db" "SELECT max(started_at) - min(finished_at) >= 4.5 FROM attempts")" = 1
t_check "the job is DONE after 2 attempts" \
	test "$(sqlite3 "$db" "SELECT state || ':' || attempts FROM jobs")" = DONE:2
t_done

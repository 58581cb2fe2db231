#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Redis is transport, SQLite the truth: when the private redis-server dies
# and comes back empty, greetbotd restarts it, reconnects, republishes every
# unfinished job from SQLite, and every order completes.
. "$(dirname "$0")/../lib.sh"

sim_start
# A render that takes seconds keeps the second job waiting in the stream.
GREETBOT_WORKERS=1 GB_RENDER_SCRIPT=$TOP/tests/scripts/slow-render.sh gb_start
db=$T/state/greetbot.db

# Two parents confirm; with one worker the second job waits in the stream.
order_async() {
	(parent_order "$1" "$2" >"$T/video.$1" 2>&1) &
	t_track $!
}
order_async 3101 "Пётр"
order_async 3102 "Ира"
t_check "both jobs were published to the stream" \
	t_wait_log "$T/greetbotd.log" 'msg="job state" job=[0-9]+ from=[A-Z_]+ to=[A-Z_]+ cause=published' 60 2

redis=$(pgrep -P "$GB_PID" -x redis-server)
kill -KILL "$redis"
t_check "greetbotd notices Redis is gone" \
	t_wait_log "$T/greetbotd.log" 'msg="redis unavailable, will reconnect"'
t_check "it restarts redis-server, finds the stream gone and republishes" \
	t_wait_log "$T/greetbotd.log" 'msg="redis connected".*created=1' 30 2
t_check "the unfinished jobs were republished from SQLite" \
	grep -q 'msg="redis has no job stream; republishing from SQLite"' "$T/greetbotd.log"
t_check "/health/redis answers 200 again" curl -fsS "http://$GB_HTTP/health/redis"
t_wait_tracked
t_check "the first parent got the video" test -s "$(cat "$T/video.3101")"
t_check "the second parent, whose job Redis lost, got it too" test -s "$(cat "$T/video.3102")"
t_check "every request is COMPLETED" \
	test "$(sqlite3 "$db" "SELECT group_concat(DISTINCT state) FROM requests")" = COMPLETED
t_check "each name was rendered once" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'")" = 2
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Two greetbotd render nodes (own state dirs, one database, one Redis)
# share the queue: every order completes and no job renders twice.
. "$(dirname "$0")/../lib.sh"

redis-server --port 0 --unixsocket "$T/redis.sock" --unixsocketperm 700 --save "" \
	--appendonly no --logfile "$T/redis.log" --daemonize no &
t_track $!
t_wait_log "$T/redis.log" 'eady to accept connections'
t_redis_service "$T/redis.sock"

# One service user for both (the bot reads the videos either keeps).
export GREETBOT_REDIS_URL="unix:$T/redis.sock" GREETBOT_DB_PATH="$T/shared.db" \
	GREETBOT_WORKERS=1 GREETBOT_SERVICE_USER=$((GREETBOT_RENDER_UID_BASE - 1))
sim_start
GREETBOT_NODE_NAME=node-a GB_STATE=$T/a gb_start
a=$GB_PID
GREETBOT_RENDER_UID_BASE=$((GREETBOT_RENDER_UID_BASE + 150)) \
	GREETBOT_NODE_NAME=node-b GREETBOT_BOT_ENABLED=0 GB_NAME=node-b GB_STATE=$T/b gb_start
b=$GB_PID
t_track "$b"
GB_PID=$a
t_check "a render-only node runs no bot process" sh -c "! pgrep -P $b -x greetbot-tg"

names=(Анна Борис Вика Глеб Даша Егор)
parents=()
for i in "${!names[@]}"; do
	(parent_order $((3300 + i)) "${names[$i]}" >"$T/video.$i" 2>&1) &
	parents+=($!)
done
for i in "${!names[@]}"; do
	wait "${parents[$i]}" 2>/dev/null || true
	t_check "parent of ${names[$i]} got the video" test -s "$(tail -1 "$T/video.$i")"
done
db=$T/shared.db
t_check "six renders for six names: none twice" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'")" = 6
t_check "both nodes rendered" \
	test "$(sqlite3 "$db" "SELECT count(DISTINCT node) FROM attempts WHERE status = 'ok'")" = 2
t_check "every request is COMPLETED" \
	test "$(sqlite3 "$db" "SELECT group_concat(DISTINCT state) FROM requests")" = COMPLETED
t_done

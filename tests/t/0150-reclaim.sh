#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A node dies (SIGKILL) in the middle of a render: its stream entry stays
# pending for it; once idle longer than any render, another node claims it
# (XAUTOCLAIM) and renders it. Also: a Redis that may evict keys is warned about.
# run: long
. "$(dirname "$0")/../lib.sh"

redis-server --port 0 --unixsocket "$T/redis.sock" --unixsocketperm 700 --save "" \
	--appendonly no --maxmemory-policy allkeys-lru --logfile "$T/redis.log" --daemonize no &
t_track $!
t_wait_log "$T/redis.log" 'eady to accept connections'
t_redis_service "$T/redis.sock"

# One service user for both nodes: it reaches the Redis.
export GREETBOT_REDIS_URL="unix:$T/redis.sock" GREETBOT_DB_PATH="$T/shared.db" \
	GREETBOT_SERVICE_USER=$((GREETBOT_RENDER_UID_BASE - 1)) GREETBOT_WORKERS=1 GREETBOT_BOT_ENABLED=0 GREETBOT_RENDER_TIMEOUT=10 GREETBOT_RENDER_GRACE=1 \
	GB_RENDER_SCRIPT=$TOP/tests/scripts/slow-render.sh
export SIM_ADDR=127.0.0.1:9	# render-only nodes never call Telegram
GREETBOT_NODE_NAME=node-a GB_NAME=node-a GB_STATE=$T/a gb_start
a=$GB_PID
t_check "greetbotd warns when Redis may evict queued jobs" \
	grep -q 'maxmemory-policy is not noeviction' "$T/node-a.log"
db=$T/shared.db
sqlite3 "$db" "INSERT INTO assets (bot_id, template_id, template_version, name_key,
	display_name, state, created_at, updated_at) VALUES ('main', 'ru-birthday', 'v', 'лена',
	'Лена', 'PENDING', 0, 0); INSERT INTO jobs (asset_id, state, created_at, updated_at)
	VALUES (1, 'QUEUED', 0, 0);"
t_check "node A takes the job" t_wait_log "$T/node-a.log" 'msg="render started" job=1' 30
kill -KILL "$a"
wait "$a" 2>/dev/null || true
GB_PID=

GREETBOT_RENDER_UID_BASE=$((GREETBOT_RENDER_UID_BASE + 150)) \
	GREETBOT_NODE_NAME=node-b GB_NAME=node-b GB_STATE=$T/b gb_start
t_check "node B reclaims the abandoned job after the idle time" \
	t_wait_log "$T/node-b.log" 'msg="reclaimed jobs abandoned by another consumer" jobs=1' 40
t_check "and renders it" t_wait_log "$T/node-b.log" 'msg="render finished" job=1 .*status=ok' 30
t_check "the job is DONE, rendered by node B" \
	test "$(sqlite3 "$db" "SELECT j.state || ':' || t.node FROM jobs j JOIN attempts t ON
		t.job_id = j.id WHERE t.status = 'ok'")" = DONE:node-b
t_check "the asset is AVAILABLE" test "$(sqlite3 "$db" "SELECT state FROM assets")" = AVAILABLE
t_done

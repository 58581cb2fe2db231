#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Render nodes on other machines: Redis (external, with a password) is the
# only link. Two render-only nodes without a database, each with its own
# state dir, its own copy of the templates and scripts, running as an
# unprivileged user that cannot read the main node's files; the main node
# has the database and the bot and renders nothing itself. 20 names: every
# video is delivered, every render recorded with the node that made it, and
# a render node SIGKILLed mid-render has its job done by the other. A third
# node with another version of the template refuses the jobs (log,
# /metrics) and leaves them to the others.
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip "render nodes run as another user only when root starts them"
	exit 0
fi
# Redis on loopback TCP with a password, as a shared Redis would be.
pass=node-secret-$$
port=
for _ in 1 2 3 4 5; do
	p=$((20000 + RANDOM % 30000))
	: >"$T/redis.log"
	redis-server --port "$p" --bind 127.0.0.1 --requirepass "$pass" --save "" \
		--appendonly no --logfile "$T/redis.log" --daemonize no &
	rpid=$!
	if t_wait_log "$T/redis.log" 'eady to accept connections|Address already in use' 10 &&
		grep -q 'eady to accept' "$T/redis.log"; then
		port=$p
		t_track "$rpid"
		break
	fi
	kill "$rpid" 2>/dev/null || true
	wait "$rpid" 2>/dev/null || true
done
[ -n "$port" ] || { t_fail "redis-server did not start"; t_done; exit 1; }
url="redis://:$pass@127.0.0.1:$port"
rcli() { redis-cli -h 127.0.0.1 -p "$port" -a "$pass" --no-auth-warning "$@"; }

sim_start
GREETBOT_REDIS_URL=$url GREETBOT_RENDER_ENABLED=0 GB_NAME=main GB_STATE=$T/main gb_start
main=$GB_PID

# node NAME [TEMPLATE-EDIT]: a render node as nobody, with its own copies.
node() {
	local d=$T/$1 ready=$T/$1.ready line
	mkdir -p "$d"
	cp -R "$TOP/scripts" "$TOP/messages" "$d/"
	cp -R "$GB_TEMPLATES_DIR" "$d/templates"
	[ -z "${2:-}" ] || printf '%s\n' "$2" >>"$d/templates/ru-birthday/template.conf"
	chown -R nobody:nogroup "$d"
	rm -f "$ready"
	mkfifo "$ready"
	chown nobody "$ready"
	env GREETBOT_BOT_ENABLED=0 GREETBOT_DB_PATH= GREETBOT_REDIS_URL="$url" \
		GREETBOT_NODE_NAME="$1" GREETBOT_STATE_DIR="$d/state" \
		GREETBOT_TEMPLATES_DIR="$d/templates" GREETBOT_RENDER_SCRIPT="$d/scripts/render.sh" \
		GREETBOT_MESSAGES_DIR="$d/messages" GREETBOT_HTTP_LISTEN=127.0.0.1:0 \
		GREETBOT_WORKERS=1 GREETBOT_RENDER_TIMEOUT=40 GREETBOT_RENDER_GRACE=1 \
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$BIN/greetbotd" --ready-fd 3 3>"$ready" 2>>"$T/$1.log" &
	NODE_PID=$!
	t_track "$NODE_PID"
	read -r line <"$ready" || true
	NODE_HTTP=${line#ready http=}
	[ "${line%% *}" = ready ]
}
t_check "render node ra starts without a database" node ra
ra=$NODE_PID
t_check "render node rb starts without a database" node rb
rb_http=$NODE_HTTP
t_check "render node rc (another template version) starts" node rc "# a local edit"
rc_http=$NODE_HTTP
t_check "a render node cannot read the main node's database" \
	sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$T/main/greetbot.db' >/dev/null 2>&1"
t_check "render nodes made no database of their own" \
	sh -c "! ls '$T'/r?/state/greetbot.db 2>/dev/null | grep -q ."

names=(Анна Борис Вика Глеб Даша Егор Жанна Зоя Иван Катя Лёва Маша Нина Олег Паша
	Рита Соня Тимур Уля Фёдор)
parents=()
for i in "${!names[@]}"; do
	(PARENT_WAIT=240 parent_order $((4500 + i)) "${names[$i]}" >"$T/video.$i" 2>&1) &
	parents+=($!)
	t_track $!
done
# SIGKILL ra in the middle of its second render (the first builds the
# template's cache). rb claims the entry once it has been idle longer than
# any render can take (render_timeout + grace + 5 s).
t_wait_log "$T/ra.log" 'msg="render started"' 120 2
{ kill -KILL "$ra" && wait "$ra"; } 2>/dev/null || true
killed=$(grep 'msg="render started"' "$T/ra.log" | tail -1 | sed 's/.* job=\([0-9]*\).*/\1/')
wait "${parents[@]}" || true
n=0
for i in "${!names[@]}"; do
	[ -s "$(tail -1 "$T/video.$i")" ] && n=$((n + 1))
done
t_check "every parent got the video ($n of ${#names[@]})" test "$n" = "${#names[@]}"
db=$T/main/greetbot.db
t_check "every request is COMPLETED" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM requests WHERE state != 'COMPLETED'")" = 0
t_check "every successful render is recorded with the render node that made it" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok' AND
		node IN ('ra', 'rb')") $(sqlite3 "$db" "SELECT count(DISTINCT asset_id) FROM
		attempts WHERE status = 'ok'")" = "${#names[@]} ${#names[@]}"
t_check "the main node rendered nothing (render_enabled = 0)" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE node = 'main'")" = 0
t_check "both render nodes rendered" \
	test "$(sqlite3 "$db" "SELECT count(DISTINCT node) FROM attempts WHERE status = 'ok'")" = 2
t_check "the job ra was killed in (job $killed) was rendered by rb" \
	test "$(sqlite3 "$db" "SELECT node || ':' || status FROM attempts WHERE job_id =
		${killed:-0} AND status = 'ok'")" = rb:ok
t_check "no parent got two videos" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM (SELECT request_id FROM outbox WHERE
		kind = 'video' AND state = 'SENT' GROUP BY request_id HAVING count(*) > 1)")" = 0
t_check "videos rendered on another machine are uploaded with their thumbnail" \
	t_jq '[.messages[] | select(.method == "sendVideo")][0].video.thumbnail.width > 0' \
	< <(sim_wait 4500 0 1 0)
t_check "each video was rendered once" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'")" = "${#names[@]}"
t_check "the other template version is refused and left to the others" \
	grep -q 'job refused: its template version is not here' "$T/rc.log"
t_check "... and /metrics counts it" \
	sh -c "curl -fsS 'http://$rc_http/metrics' | grep -Eq '^greetbot_jobs_refused_total\{reason=\"template_version\"\} [1-9]'"
t_check "a render node's /metrics counts its renders" \
	sh -c "curl -fsS 'http://$rb_http/metrics' | grep -q '^greetbot_node_renders_total{status=\"ok\"} [1-9]'"
t_check "committed results and their videos are gone from Redis" \
	test "$(rcli XLEN greetbot:results) $(rcli --scan --pattern 'greetbot:result:*' | wc -l)" = "0 0"
t_check "the password is in no log" sh -c "! grep -q '$pass' '$T'/*.log"

# A wrong password: said plainly, and the node does not become ready.
env GREETBOT_BOT_ENABLED=0 GREETBOT_DB_PATH= GREETBOT_REDIS_URL="redis://:wrong@127.0.0.1:$port" \
	GREETBOT_RENDER_UID_BASE=$((GREETBOT_RENDER_UID_BASE + 150)) GREETBOT_NODE_NAME=rx GREETBOT_STATE_DIR="$T/rx" GREETBOT_HTTP_LISTEN=127.0.0.1:0 \
	GREETBOT_TEMPLATES_DIR="$TOP/templates" GREETBOT_RENDER_SCRIPT="$TOP/scripts/render.sh" \
	GREETBOT_MESSAGES_DIR="$TOP/messages" "$BIN/greetbotd" 2>>"$T/rx.log" &
rx=$!
t_track "$rx"
t_check "a wrong Redis password is reported" \
	t_wait_log "$T/rx.log" 'redis refused the password' 20
kill "$rx" 2>/dev/null || true
GB_PID=$main
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# greetbotd's jobs process (the database, Redis, /health and /metrics),
# greetbot-tg and the private redis-server read the network as the service
# user (SPEC 1, Privileges; lib/privsep.h), and during an order no process
# of greetbotd's but the privileged parent is root: each is root only
# until it has read its configuration, then a uid that is not root (and
# only then opens the database, which no root process holds), in no group of the renderers',
# with no capability and no_new_privs, unable to get root back. What it
# writes and reads (the database, the previews, the videos) is the service
# user's; renderers cannot read any of it, and it cannot read a renderer's
# work dir. What an older greetbotd left as root becomes the service
# user's. A service user that is root or in the renderers' group is
# refused, and so is one of the renderers' uids. (As root: otherwise nothing is dropped.)
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip "the drop happens only as root"
	t_done
	exit 0
fi
svc=$((GREETBOT_RENDER_UID_BASE - 1))
slot=$((GREETBOT_RENDER_UID_BASE + 5))
# as UID CMD...: run CMD as that uid (its own gid, no other group).
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}
# field PID NAME: a line of /proc/PID/status, its values only.
field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }

# redis-server rewrites its environment's memory (its process title): a
# wrapper writes down the environment it was given, then becomes it.
mkdir -p "$T/env"
chmod 1777 "$T/env"
cat >"$T/redis-wrap" <<SH
#!/bin/sh
env >"$T/env/redis"
exec redis-server "\$@"
SH
chmod 755 "$T/redis-wrap"
sim_start
SOME_OTHER_SECRET=hunter2 GREETBOT_REDIS_SERVER=$T/redis-wrap gb_start
bot=$(pgrep -P "$GB_PID" -x greetbot-tg)
redis=$(pgrep -P "$GB_PID" redis-server)
jobs=$(pgrep -P "$GB_PID" -x greetbotd-jobs)
# Every process on the machine, ten times a second, while a parent orders
# (the preview and the video render meanwhile).
(while :; do ps -e -o pid=,ppid=,uid=,comm= >>"$T/ps.log"; echo -- >>"$T/ps.log"; sleep 0.1; done) &
sampler=$!
t_pids+=("$sampler")
t_check "a parent gets the video" test -s "$(parent_order 3451 Маша)"
kill "$sampler"
wait "$sampler" 2>/dev/null || true
# tree: greetbotd's descendants in each snapshot, "uid comm" (a fork of
# greetbotd about to become a renderer is still called greetbotd).
tree() {
	awk -v top="$GB_PID" '
		$1 == "--" { for (p in ppid) if (p != top) { q = p
				while (q in ppid && q != top) q = ppid[q]
				if (q == top) print uid[p], comm[p] }
			delete ppid; delete uid; delete comm; next }
		{ ppid[$1] = $2; uid[$1] = $3; comm[$1] = $4 }' "$T/ps.log" | sort -u
}
tree >"$T/tree"
t_check "during the order, renderers ran as their slots' uids (the samples saw them)" \
	test -n "$(awk -v b="$GREETBOT_RENDER_UID_BASE" '$1 >= b && $1 < b + 1000' "$T/tree")"
t_check "... and no process of greetbotd's but greetbotd itself ran as root" \
	test -z "$(awk '$1 == 0 && $2 != "greetbotd"' "$T/tree")"
t_check "the jobs process runs as the service user, with no capability and no_new_privs" \
	test "$(field "$jobs" Uid | tr -s '\t' ' ') $(field "$jobs" CapEff) $(field "$jobs" NoNewPrivs)" = \
	"$svc $svc $svc $svc 0000000000000000 1"
# Who holds the socket /health listens on.
port=$(printf '%04X' "${GB_HTTP##*:}")
inode=$(awk -v p=":$port" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' /proc/net/tcp)
t_check "/health and /metrics are served by the jobs process, not by root" \
	sh -c 'ls -l "/proc/$1/fd" | grep -qF "socket:[$2]" && ! ls -l "/proc/$3/fd" | grep -qF "socket:[$2]"' \
	_ "$jobs" "$inode" "$GB_PID"
t_check "... which answers" curl -fsS -o /dev/null "http://$GB_HTTP/health"
t_check "the jobs process gets greetbotd's settings but not the rest of its environment" \
	sh -c 'tr "\0" "\n" <"/proc/$1/environ" | grep -q "^GREETBOT_STATE_DIR=" &&
		! tr "\0" "\n" <"/proc/$1/environ" | grep -q "^SOME_OTHER_SECRET="' _ "$jobs"
t_check "greetbot-tg runs as the service user (uid $svc: real, effective, saved, fs)" \
	test "$(field "$bot" Uid | tr -s '\t' ' ')" = "$svc $svc $svc $svc"
t_check "... and its group alone (gid $svc, no supplementary group)" \
	test "$(field "$bot" Gid | tr -s '\t' ' ') / $(field "$bot" Groups)" = "$svc $svc $svc $svc / $svc"
t_check "... with no capability, effective, permitted or inheritable" \
	test "$(field "$bot" CapEff) $(field "$bot" CapPrm) $(field "$bot" CapInh)" = \
	"0000000000000000 0000000000000000 0000000000000000"
t_check "... and no_new_privs: no setuid program gives root back" \
	test "$(field "$bot" NoNewPrivs)" = 1
t_check "redis-server runs as the service user too, with no_new_privs" \
	test "$(field "$redis" Uid | tr -s '\t' ' ') $(field "$redis" NoNewPrivs)" = "$svc $svc $svc $svc 1"
t_check "... with PATH and LANG for its whole environment (no token)" \
	test "$(cut -d= -f1 "$T/env/redis" | grep -vx PWD | sort | paste -sd' ')" = "LANG PATH"
t_check "greetbot-tg gets its settings but not the rest of greetbotd's environment" \
	sh -c 'tr "\0" "\n" <"/proc/$1/environ" | grep -q "^GREETBOT_TELEGRAM_TOKEN=" &&
		! tr "\0" "\n" <"/proc/$1/environ" | grep -q "^SOME_OTHER_SECRET="' _ "$bot"
t_check "the log says so" t_wait_log "$T/greetbotd.log" \
	"proc=greetbot-tg msg=\"running unprivileged\" user=\"uid $svc\"" 5
st=$T/state
t_check "the database, the previews and the videos are the service user's" \
	test -z "$(find "$st/greetbot.db" "$st/previews" "$st/assets" ! -uid "$svc" -print)"
t_check "a renderer's uid cannot read the database" as "$slot" sh -c "! cat '$st/greetbot.db' >/dev/null 2>&1"
t_check "... nor list the previews or the videos" \
	as "$slot" sh -c "! ls '$st/previews' >/dev/null 2>&1 && ! ls '$st/assets' >/dev/null 2>&1"
# holders FILE: "uid:pid" of each process with FILE open.
holders() {
	local fd pid
	for fd in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "$1" ] || continue
		pid=${fd#/proc/}
		pid=${pid%%/*}
		echo "$(stat -c %u "/proc/$pid"):$pid"
	done | sort -u
}
db_holders=$(holders "$st/greetbot.db")
t_check "the jobs process and greetbot-tg hold the database open" \
	test "$(grep -c "^$svc:" <<<"$db_holders")" -ge 2
t_check "... and no root process does (greetbotd made its files the service user's)" \
	test -z "$(grep '^0:' <<<"$db_holders")"
mkdir -p "$st/render/work/s5"
t_check "the service user cannot read a renderer's work dir" \
	as "$svc" sh -c "! ls '$st/render/work/s5' >/dev/null 2>&1"

# What a greetbotd before this one left as root.
kill -TERM "$GB_PID"
wait "$GB_PID" || true
t_check "stopped, the database's WAL and index stay, the service user's, to be opened again without root" \
	test -z "$(find "$st/greetbot.db-wal" "$st/greetbot.db-shm" ! -uid "$svc" -print)"
chown -R 0:0 "$st/greetbot.db" "$st/greetbot.db-wal" "$st/greetbot.db-shm" "$st/previews" \
	"$st/assets"
gb_start
t_check "after a restart over root's files, a parent gets a new name's video" \
	test -s "$(parent_order 3452 Даша)"
t_check "... and everything is the service user's again" \
	test -z "$(find "$st"/greetbot.db* "$st/previews" "$st/assets" ! -uid "$svc" -print)"
kill -TERM "$GB_PID"
wait "$GB_PID" || true
GB_PID=

# Service users that would undo the separation are refused.
for u in root nobody "$slot"; do
	: >"$T/refused.log"
	rc=0
	GREETBOT_SERVICE_USER=$u GREETBOT_STATE_DIR=$st GREETBOT_TELEGRAM_TOKEN=$SIM_TOKEN \
		GREETBOT_TELEGRAM_API_URL="http://$SIM_ADDR" GREETBOT_HTTP_LISTEN=127.0.0.1:0 \
		GREETBOT_TEMPLATES_DIR="$TOP/templates" "$BIN/greetbotd" 2>"$T/refused.log" || rc=$?
	case $u in
	root) why="service_user root is root" ;;
	nobody) why="service_user nobody is in the renderers' group" ;;
	*) why="service_user is a uid renderers run as" ;;
	esac
	t_check "service_user = $u: greetbotd does not start (exit $rc), saying \"$why\"" \
		test "$rc" -ne 0 -a -n "$(grep -F "$why" "$T/refused.log")"
done
t_done

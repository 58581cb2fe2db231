#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Another process holds the database's write lock for 15 s (an operator's
# sqlite3 shell in a transaction) while parents order: no process exits,
# /health answers within 1 s throughout (and says the database is locked),
# and once the lock is released every order completes, once.
# run: long
. "$(dirname "$0")/../lib.sh"

sim_start
GREETBOT_WORKERS=2 gb_start
db=$T/state/greetbot.db
bot=$(pgrep -P "$GB_PID" -x greetbot-tg)
t_check "a first order completes" test -s "$(parent_order 3200 Маша)"

# The lock: sqlite3 in a transaction, held until we end it.
coproc LOCK { exec sqlite3 -batch "$db"; }
lock_pid=$LOCK_PID	# bash unsets LOCK_PID once the coprocess has exited
t_track "$lock_pid"
printf '%s\n' '.timeout 5000' 'BEGIN IMMEDIATE;' "SELECT 'locked';" >&"${LOCK[1]}"
read -r line <&"${LOCK[0]}"
t_check "another process holds the write lock" test "$line" = locked
t_lock=$SECONDS

for c in 3201:Даша 3202:Саша 3203:Маша; do
	(PARENT_WAIT=120 parent_order "${c%%:*}" "${c#*:}" >"$T/video.${c%%:*}" 2>&1) &
	t_track $!
done
# /health every half second while the lock is held: each answer in 1 s.
slow=0 answers=0 locked=0
while [ $((SECONDS - t_lock)) -lt 15 ]; do
	t0=$EPOCHREALTIME
	body=$(curl -s -m 1 "http://$GB_HTTP/health") || slow=$((slow + 1))
	t1=$EPOCHREALTIME
	answers=$((answers + 1))
	awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a > 1.0) }' && slow=$((slow + 1))
	jq -e '.reason // "" | test("locked")' <<<"$body" >/dev/null 2>&1 && locked=$((locked + 1))
	read -r -t 0.5 <> <(:) || true
done
t_check "/health answered within 1 s each of $answers times" test "$slow" = 0
t_check "/health said the database is locked" test "$locked" -gt 0
t_check "greetbotd still runs" kill -0 "$GB_PID"
t_check "greetbot-tg still runs, the same process" \
	test "$(pgrep -P "$GB_PID" -x greetbot-tg)" = "$bot"
printf '%s\n' 'ROLLBACK;' '.quit' >&"${LOCK[1]}"
wait "$lock_pid" 2>/dev/null || true
t_wait_tracked
for c in 3201 3202 3203; do
	t_check "parent $c got the video after the release" test -s "$(tail -1 "$T/video.$c")"
	t_check "... exactly once" test "$(sim_wait "$c" 0 1000 0 |
		jq '[.messages[] | select(.method == "sendVideo")] | length')" = 1
done
t_check "no process of ours exited or died" \
	bash -c '! grep -E "msg=\"child (exited|died)\"" "$1"' _ "$T/greetbotd.log"
t_check "the wait was logged with its cause" \
	grep -q 'msg="database unavailable, the work waits" cause="the database is locked' \
	"$T/greetbotd.log"
t_check "/health is ok again" curl -fsS -m 1 "http://$GB_HTTP/health"
t_done

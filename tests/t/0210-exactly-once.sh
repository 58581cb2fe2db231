#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Exactly-once updates: greetbot-tg is killed with SIGKILL in the middle of
# a batch; after a restart no update is lost and none is applied twice.
. "$(dirname "$0")/../lib.sh"

N=150
sim_start
for i in $(seq 1 "$N"); do
	sim_post message chat_id=$((5000 + i)) text=/help language_code=en >/dev/null
done
bot_start
# The first reply means the batch is being worked through: kill now.
sim_wait 5001 0 1 30 >/dev/null
kill -KILL "$BOT_PID"
wait "$BOT_PID" 2>/dev/null || true
db=$T/state/greetbot.db
done_before=$(sqlite3 "$db" "SELECT count(*) FROM updates")
t_check "killed part-way: some updates were applied ($done_before of $N)" \
	test "$done_before" -gt 0
bot_start
last=$(sim_wait $((5000 + N)) 0 1 60)
t_check "after the restart the last update is answered" \
	t_jq '.messages | length == 1' <<<"$last"
t_check "every update is recorded exactly once" \
	test "$(sqlite3 "$db" "SELECT count(*) || ':' || count(DISTINCT update_id) FROM updates")" = "$N:$N"
t_check "every reply was queued exactly once" \
	test "$(sqlite3 "$db" "SELECT count(*) || ':' || count(DISTINCT chat_id) FROM outbox")" = "$N:$N"
# Wait until every chat got its answer, then count them all.
for i in $(seq 1 "$N"); do
	sim_wait $((5000 + i)) 0 1 30 | jq '.messages | length'
done | sort | uniq -c >"$T/counts"
# A send that was in flight at the kill cannot be known to have arrived,
# so it is sent again: at most the 16 calls the sender keeps in flight.
t_check "every chat got its reply" sh -c "! grep -q ' 0\$' '$T/counts'"
twice=$(awk '$2 == 2 { print $1 }' "$T/counts")
t_check "only sends in flight at the kill went twice (${twice:-0} <= 16)" \
	test "${twice:-0}" -le 16
t_check "no chat got more than two" sh -c "! awk '\$2 > 2' '$T/counts' | grep -q ."
t_check "the persisted offset is past the last update" \
	test "$(sqlite3 "$db" "SELECT update_offset > (SELECT max(update_id) FROM updates) FROM bot_state")" = 1
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# greetbot-tg stopped with SIGTERM (greetbotd draining, or dead: SIGTERM is
# the bot's parent-death signal) while a send is in flight lets that call
# finish before it exits: Telegram carried it out, so the row is SENT and
# the chat does not get it again after the restart. (A SIGKILL leaves no
# such chance: sends are at-least-once, see 0210 and tests/fault.)
# Fails when the bot leaves at once: the row is still PENDING then.
. "$(dirname "$0")/../lib.sh"

sim_start
bot_start
db=$T/state/greetbot.db
# Telegram (tgsim's latency fault) holds the reply to this chat for 2 s.
sim_post fault chat_id=6101 kind=latency ms=2000 >/dev/null
sim_post message chat_id=6101 text=/help language_code=en >/dev/null
# Held: the bot's next long poll and the delayed sendMessage.
held() { curl -fsS "http://$SIM_ADDR/control/stats" | jq -e '.waiting >= 2'; }
deadline=$((SECONDS + 30))
until held >/dev/null || [ "$SECONDS" -ge "$deadline" ]; do
	sleep 0.05
done
t_check "the reply is in flight, held by Telegram" held
kill -TERM "$BOT_PID"
rc=0
wait "$BOT_PID" || rc=$?
BOT_PID=
t_check "greetbot-tg exits 0 after SIGTERM" test "$rc" = 0
t_check "only once the call in flight was answered: the row is SENT" \
	test "$(sqlite3 "$db" "SELECT state || ':' || attempts FROM outbox WHERE chat_id = 6101")" = SENT:1

bot_start
sim_post message chat_id=6102 text=/help language_code=en >/dev/null
t_check "a restarted bot answers" t_jq '.messages | length == 1' <<<"$(sim_wait 6102 0 1 30)"
t_check "and does not send the first chat its reply again" \
	t_jq '[.messages[] | select(.method == "sendMessage")] | length == 1' <<<"$(sim_wait 6101 0 1 0)"
t_done

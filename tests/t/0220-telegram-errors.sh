#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Telegram errors as SPEC 5 says: 5xx retried with backoff, 403 blocks the
# chat (not retried), 429 pauses sends and nothing is lost; plus
# my_chat_member "kicked" and the open-request limit.
. "$(dirname "$0")/../lib.sh"

sim_start --global-rate 3
GREETBOT_MAX_OPEN_REQUESTS=1 bot_start
db=$T/state/greetbot.db

# 500 twice, then success: the reply still arrives, once.
sim_post fault chat_id=6001 kind=500 count=2 >/dev/null
sim_post message chat_id=6001 text=/help language_code=en >/dev/null
t_check "after two 500s the reply arrives" \
	t_jq '.messages | length == 1' <<<"$(sim_wait 6001 0 1 30)"

# 403: the chat is marked blocked and the send is not tried again.
sim_post fault chat_id=6002 kind=403 count=0 >/dev/null
sim_post message chat_id=6002 text=/help language_code=en >/dev/null
sim_post message chat_id=6003 text=/help language_code=en >/dev/null
sim_wait 6003 0 1 30 >/dev/null
t_check "a 403 marks the user blocked" \
	test "$(sqlite3 "$db" "SELECT blocked FROM users WHERE user_id = 6002")" = 1
t_check "and that send failed for good after one try" \
	test "$(sqlite3 "$db" "SELECT state || ':' || attempts FROM outbox WHERE chat_id = 6002")" = "FAILED:1"
t_check "other chats are not affected by the blocked one" \
	test "$(sqlite3 "$db" "SELECT state FROM outbox WHERE chat_id = 6003")" = SENT
sim_post fault chat_id=6002 kind=clear >/dev/null

# 429: tgsim allows 3 sends a second, the bot is configured for 30: some
# sends are refused with retry_after, the bot pauses, none is lost.
for i in $(seq 1 12); do
	sim_post message chat_id=$((6100 + i)) text=/help language_code=en >/dev/null
done
for i in $(seq 1 12); do
	sim_wait $((6100 + i)) 0 1 60 | jq '.messages | length'
done | sort | uniq -c | tr -s ' ' >"$T/counts"
t_check "after 429s every one of 12 chats got exactly one reply" test "$(cat "$T/counts")" = " 12 1"
stats=$(curl -fsS "http://$SIM_ADDR/control/stats")
t_check "tgsim did answer 429 (the bot was made to exceed a limit)" \
	test "$(jq '.rate_limited' <<<"$stats")" -gt 0
t_check "the 429s are counted for /metrics" \
	test "$(sqlite3 "$db" "SELECT sum(count) > 0 FROM tg_calls WHERE result = '429'")" = 1
t_check "the bot logged the pause with retry_after" \
	grep -q 'msg="flood limit: pausing all sends" retry_after=' "$T/greetbot-tg.log"

# kicked CHAT TYPE FROM: a my_chat_member update, the bot "kicked" from
# chat CHAT (of TYPE) by user FROM.
kicked() {
	curl -fsS "http://$SIM_ADDR/control/update" -H 'Content-Type: application/json' -d '{"my_chat_member":
	{"chat":{"id":'"$1"',"type":"'"$2"'"},"from":{"id":'"$3"',"is_bot":false,"first_name":"P"},"date":1,
	 "old_chat_member":{"status":"member","user":{"id":1,"is_bot":true,"first_name":"B"}},
	 "new_chat_member":{"status":"kicked","user":{"id":1,"is_bot":true,"first_name":"B"},"until_date":0}}}' >/dev/null
}

# my_chat_member "kicked": the user blocked the bot.
kicked 6003 private 6003
sim_post message chat_id=6004 text=/help language_code=en >/dev/null
sim_wait 6004 0 1 30 >/dev/null
t_check "my_chat_member kicked marks the user blocked" \
	test "$(sqlite3 "$db" "SELECT blocked FROM users WHERE user_id = 6003")" = 1

# A parent who removes the bot from a group has not blocked it: their
# own chat with the bot goes on. (6006's answer: the update was read.)
sim_post message chat_id=6005 text=/help language_code=en >/dev/null
sim_wait 6005 0 1 30 >/dev/null
kicked -1006005 supergroup 6005
sim_post message chat_id=6006 text=/help language_code=en >/dev/null
sim_wait 6006 0 1 30 >/dev/null
t_check "removed from a group by a parent, the bot does not mark that parent blocked" \
	test "$(sqlite3 "$db" "SELECT blocked FROM users WHERE user_id = 6005")" = 0

# The open-request limit (1 here): a second order while one is open is refused.
C=6200
export SIM_SEQ=0
sim_post message chat_id=$C text=/start language_code=en >/dev/null
sim_post contact chat_id=$C phone_number=4470000 >/dev/null
order() {
	local msg
	sim_post message chat_id=$C text="$1" language_code=en >/dev/null
	msg=$(sim_expect $C '.method == "sendVoice"' 30)
	sim_post callback chat_id=$C message_id="$(jq -r .message_id <<<"$msg")" \
		data="$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$msg")" >/dev/null
}
order Mary
sim_expect $C '.text != null and (.text | contains("Order accepted"))' 30 >/dev/null
sim_post message chat_id=$C text=/new language_code=en >/dev/null
order Anna
t_check "a second open order is refused with the limit's reason" \
	sim_expect $C '.text != null and (.text | contains("several orders"))' 30
t_check "and only one request exists" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM requests WHERE user_id = $C")" = 1
t_done

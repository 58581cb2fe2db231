#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Webhook mode (telegram_mode = webhook): greetbotd's greetbot-tg serves
# the updates path, tgsim POSTs updates to it. A parent's order works; a
# POST without the right secret changes nothing; an update delivered twice
# is applied once; the answer comes after the commit; tgsim retries what
# the bot did not take; switching back to polling deletes the webhook.
. "$(dirname "$0")/../lib.sh"

db=$T/state/greetbot.db
hook_path=/telegram/t0240
secret=s0240_$RANDOM$RANDOM-$RANDOM
printf '%s\n' "$secret" >"$T/webhook.secret"
chmod 600 "$T/webhook.secret"

# api METHOD [curl args]: a Bot API call to tgsim.
api() {
	local m=$1
	shift
	curl -sS "http://$SIM_ADDR/bot$SIM_TOKEN/$m" "$@"
}
# post [curl args]: a POST to the bot's webhook; prints the HTTP status.
post() {
	curl -sS -o /dev/null -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' "$@"
}
# help_update ID CHAT: an Update with "/help" from CHAT.
help_update() {
	jq -cn --argjson id "$1" --argjson c "$2" '{update_id: $id, message: {message_id: 1,
		date: 1700000000, chat: {id: $c, type: "private", first_name: "P"},
		from: {id: $c, is_bot: false, first_name: "P", language_code: "en"},
		text: "/help", entities: [{type: "bot_command", offset: 0, length: 5}]}}'
}
count() { sqlite3 "$db" "$1"; }
# Stop greetbotd alone (tgsim stays).
gb_stop() {
	kill -TERM "$GB_PID"
	wait "$GB_PID" || true
	GB_PID=
}

sim_start
port=$(t_free_port)
hook=http://127.0.0.1:$port$hook_path
export GREETBOT_TELEGRAM_MODE=webhook GREETBOT_WEBHOOK_URL=$hook \
	GREETBOT_WEBHOOK_LISTEN=127.0.0.1:$port GREETBOT_WEBHOOK_PATH=$hook_path \
	GREETBOT_WEBHOOK_SECRET_FILE=$T/webhook.secret GREETBOT_WEBHOOK_MAX_CONNECTIONS=7
t0=$SECONDS
gb_start
t_check "greetbot-tg sets the webhook" t_wait_log "$T/greetbotd.log" 'msg="webhook call done" method=setWebhook' 30

info=$(api getWebhookInfo)
t_check "setWebhook carried the url, max_connections and the polling list of allowed_updates" \
	t_jq --arg u "$hook" '.result.url == $u and .result.max_connections == 7 and
		.result.allowed_updates == ["message","callback_query","my_chat_member","edited_message"]' \
	<<<"$info"
t_check "setWebhook carried a secret_token" \
	t_jq '.has_secret_token == true' <<<"$(curl -fsS "http://$SIM_ADDR/control/webhook")"
t_check "tgsim refuses getUpdates with 409 while the webhook is set" \
	t_jq '.ok == false and .error_code == 409 and (.description | contains("webhook is active"))' \
	<<<"$(api getUpdates)"
t_check "tgsim refuses a webhook that is not on loopback" \
	t_jq '.ok == false and .error_code == 400' \
	<<<"$(api setWebhook --data-urlencode url=https://example.com/hook)"

# A parent's whole conversation, every update delivered by webhook.
video=$(PARENT_WAIT=60 parent_order 7001 Маша en) || video=
t_check "a parent gets the video through the webhook ($video)" test -s "${video:-/nonexistent}"
t_check "tgsim delivered every update and none failed" \
	t_jq '.delivered >= 4 and .failed == 0 and .pending_update_count == 0' \
	<<<"$(curl -fsS "http://$SIM_ADDR/control/webhook")"
t_check "greetbot-tg never polled" \
	t_jq '(.calls.getUpdates // 0) == 1' <<<"$(curl -fsS "http://$SIM_ADDR/control/stats")"

# Requests that are not Telegram's change nothing.
before=$(count "SELECT (SELECT count(*) FROM updates) || ':' || (SELECT count(*) FROM outbox) || ':' || (SELECT count(*) FROM users)")
# update_id 0: below every id tgsim gives out (from 1), so it is no one
# else's and does not move the persisted polling offset past tgsim's.
body=$(help_update 0 7002)
t_check "a POST without the secret token gets 401" \
	test "$(post -d "$body" "http://127.0.0.1:$port$hook_path")" = 401
t_check "a POST with a wrong secret token gets 401" \
	test "$(post -H "X-Telegram-Bot-Api-Secret-Token: ${secret}x" -d "$body" \
		"http://127.0.0.1:$port$hook_path")" = 401
t_check "a POST with a secret token one character short gets 401" \
	test "$(post -H "X-Telegram-Bot-Api-Secret-Token: ${secret%?}" -d "$body" \
		"http://127.0.0.1:$port$hook_path")" = 401
t_check "another path gets 404" \
	test "$(post -H "X-Telegram-Bot-Api-Secret-Token: $secret" -d "$body" \
		"http://127.0.0.1:$port/telegram/other")" = 404
t_check "a GET gets 405" \
	test "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$hook_path")" = 405
t_check "a body that is not an Update gets 400" \
	test "$(post -H "X-Telegram-Bot-Api-Secret-Token: $secret" -d '{"message":{}}' \
		"http://127.0.0.1:$port$hook_path")" = 400
t_check "refused requests changed nothing in the database" \
	test "$(count "SELECT (SELECT count(*) FROM updates) || ':' || (SELECT count(*) FROM outbox) || ':' || (SELECT count(*) FROM users)")" = "$before"
t_check "refusals are logged" t_wait_log "$T/greetbotd.log" 'webhook request refused: no secret token' 5

# The right secret: 200 only once the update is committed.
code=$(post -H "X-Telegram-Bot-Api-Secret-Token: $secret" -d "$body" "http://127.0.0.1:$port$hook_path")
applied=$(count "SELECT (SELECT count(*) FROM updates WHERE update_id = 0) || ':' || (SELECT count(*) FROM outbox WHERE chat_id = 7002)")
t_check "the update is answered 200 ($code)" test "$code" = 200
t_check "when the 200 arrives its update and reply are committed ($applied)" test "$applied" = 1:1
t_check "the user gets the reply" t_jq '.messages | length == 1' <<<"$(sim_wait 7002 0 1 30)"
code=$(post -H "X-Telegram-Bot-Api-Secret-Token: $secret" -d "$body" "http://127.0.0.1:$port$hook_path")
t_check "the same update delivered again is answered 200 ($code)" test "$code" = 200
t_check "and applied once" test "$(count "SELECT (SELECT count(*) FROM updates WHERE update_id = 0) || ':' || (SELECT count(*) FROM outbox WHERE chat_id = 7002)")" = 1:1

# The bot is down: tgsim keeps the update and tries again.
gb_stop
id=$(sim_post message chat_id=7003 text=/help language_code=en | jq -r .update_id)
t_check "tgsim cannot deliver while the bot is down" \
	t_wait_log "$T/tgsim.log" "webhook delivery failed.*update_id=$id" 10
t_check "getWebhookInfo reports the pending update and the error" \
	t_jq '.result.pending_update_count == 1 and .result.last_error_date > 0 and
		(.result.last_error_message | length > 0)' <<<"$(api getWebhookInfo)"
gb_start
t_check "after the restart the update arrives and is answered" \
	t_jq '.messages | length == 1' <<<"$(sim_wait 7003 0 1 30)"
t_check "it was applied once" test "$(count "SELECT count(*) FROM updates WHERE update_id = $id")" = 1

# Back to polling: one more update waits in tgsim meanwhile.
gb_stop
id=$(sim_post message chat_id=7004 text=/help language_code=en | jq -r .update_id)
t_check "tgsim keeps it while the bot is down" \
	t_wait_log "$T/tgsim.log" "webhook delivery failed.*update_id=$id" 10
GREETBOT_TELEGRAM_MODE=polling gb_start
t_check "polling starts with deleteWebhook" t_wait_log "$T/greetbotd.log" 'msg="webhook call done" method=deleteWebhook' 30
t_check "the webhook is gone" t_jq '.result.url == ""' <<<"$(api getWebhookInfo)"
t_check "the update that waited is polled and answered" \
	t_jq '.messages | length == 1' <<<"$(sim_wait 7004 0 1 30)"
sim_post message chat_id=7005 text=/help language_code=en >/dev/null
t_check "a new update is polled and answered" \
	t_jq '.messages | length == 1' <<<"$(sim_wait 7005 0 1 30)"
# A webhook set behind the polling bot's back: its getUpdates gets 409, it
# deletes the webhook and polls on.
api setWebhook --data-urlencode url=http://127.0.0.1:1/elsewhere >/dev/null
t_check "a polling bot that meets a webhook deletes it" \
	t_wait_log "$T/greetbotd.log" 'a webhook is set: deleting it to poll' 30
sim_post message chat_id=7006 text=/help language_code=en >/dev/null
t_check "and goes on polling" t_jq '.messages | length == 1' <<<"$(sim_wait 7006 0 1 30)"
t_check "polling used getUpdates" \
	t_jq '.calls.deleteWebhook >= 2 and .calls.getUpdates >= 3' \
	<<<"$(curl -fsS "http://$SIM_ADDR/control/stats")"
t_check "every update is recorded once" \
	test "$(count "SELECT count(*) = count(DISTINCT update_id) FROM updates")" = 1
t_check "the secret token is in no log" sh -c "! grep -qF -- '$secret' '$T'/*.log"
echo "# took $((SECONDS - t0)) s"
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The conversation (SPEC 3) against tgsim, with greetbot-tg alone: every
# reply a parent would see, and what is (and is not) stored.
. "$(dirname "$0")/../lib.sh"

sim_start
bot_start
db=$T/state/greetbot.db
C=4001
export SIM_SEQ=0

say() { sim_post message chat_id="$C" text="$1" first_name=Ольга language_code=ru >/dev/null; }
# expect DESC JQ-FILTER: the next message matching the filter arrives.
expect() {
	if msg=$(sim_expect "$C" "$2" 30); then t_ok "$1"; else t_fail "$1"; fi
}

say /start
expect "/start greets and offers a request_contact button" \
	'.method == "sendMessage" and .reply_markup.keyboard[0][0].request_contact == true'

say "Маша"
expect "a name before the contact is answered with a request for the contact" \
	'.text != null and (.text | contains("Поделиться контактом"))'

sim_post contact chat_id="$C" phone_number="+7 900 111-22-33" contact_user_id=999 >/dev/null
expect "someone else's contact is refused" '.text != null and (.text | contains("чужой"))'

sim_post contact chat_id="$C" phone_number="79001112233" >/dev/null
expect "the own contact is accepted and the name is asked for" \
	'.text != null and (.text | contains("имя ребёнка"))'
t_check "the phone is stored in E.164" \
	test "$(sqlite3 "$db" "SELECT phone FROM users WHERE user_id = $C")" = "+79001112233"

say "Маша2"
expect "digits in a name are refused with a specific reason" '.text != null and (.text | contains("цифр"))'
say "<b>Маша</b>"
expect "markup is refused" '.text != null and (.text | contains("служебные"))'
say "https://example.com"
expect "a URL is refused" '.text != null and (.text | contains("ссылку"))'
say "Маша 🎉"
expect "emoji are refused" '.text != null and (.text | contains("эмодзи"))'

say "  анна-мария  "
expect "a valid name gets a voice preview with the display form" \
	'.method == "sendVoice" and (.caption | contains("Анна-Мария"))'
preview=$msg
ok=$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$preview")
chg=$(jq -r '.reply_markup.inline_keyboard[0][1].callback_data' <<<"$preview")
mid=$(jq -r '.message_id' <<<"$preview")

sim_post callback chat_id="$C" message_id="$mid" data="ok:9999" >/dev/null
expect "a stale (forged) button is answered" \
	'.method == "answerCallbackQuery" and (.params.text | contains("не действует"))'
t_check "and changes nothing" test "$(sqlite3 "$db" "SELECT count(*) FROM requests")" = 0

sim_post callback chat_id="$C" message_id="$mid" data="$chg" >/dev/null
expect "Change name asks for the name again" '.text != null and (.text | contains("имя ребёнка"))'

say "Маша"
expect "the new name gets its own preview" '.method == "sendVoice" and (.caption | contains("Маша"))'
ok=$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$msg")
mid=$(jq -r '.message_id' <<<"$msg")
t_check "the old preview's Confirm is now stale" test "$ok" != "$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$preview")"

sim_post callback chat_id="$C" message_id="$mid" data="$ok" >/dev/null
sim_post callback chat_id="$C" message_id="$mid" data="$ok" >/dev/null
expect "Confirm is answered" '.method == "answerCallbackQuery"'
expect "Confirm accepts the order" '.text != null and (.text | contains("Заказ принят"))'
expect "the second press of Confirm is answered too" '.method == "answerCallbackQuery"'
t_check "confirming twice creates one request" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM requests WHERE user_id = $C")" = 1
t_check "and one job for it" test "$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE asset_id =
	(SELECT asset_id FROM requests WHERE user_id = $C)")" = 1

say /status
expect "/status lists the order" '.text != null and (.text | contains("Маша: готовится"))'
say /help
expect "/help lists the commands" '.text != null and (.text | contains("/new"))'

curl -fsS "http://$SIM_ADDR/control/update" -H 'Content-Type: application/json' \
	-d "{\"message\":{\"chat\":{\"id\":$C,\"type\":\"private\"},\"from\":{\"id\":$C,\"is_bot\":false,\"first_name\":\"O\"},\"sticker\":{\"file_id\":\"x\",\"file_unique_id\":\"y\",\"type\":\"regular\",\"width\":1,\"height\":1,\"is_animated\":false,\"is_video\":false}}}" >/dev/null
expect "a sticker gets a short hint" '.text != null and (.text | contains("только текст"))'

curl -fsS "http://$SIM_ADDR/control/update" -H 'Content-Type: application/json' \
	-d "{\"edited_message\":{\"message_id\":1,\"date\":1,\"edit_date\":2,\"chat\":{\"id\":$C,\"type\":\"private\"},\"from\":{\"id\":$C,\"is_bot\":false,\"first_name\":\"O\"},\"text\":\"Маша\"}}" >/dev/null
expect "an edited message gets a hint to send a new one" '.text != null and (.text | contains("Исправленные"))'

G=-100777
sim_post message chat_id="$G" from_id=$C chat_type=group title=Class text="Маша" >/dev/null
if sim_expect "$G" '.text != null' 30 >/dev/null; then
	t_ok "a group chat is answered politely"
else
	t_fail "a group chat is answered politely"
fi
t_check "and nothing is stored for it" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM users WHERE chat_id = $G")" = 0

say /cancel
expect "/cancel leaves the conversation" '.text != null and (.text | contains("отменено"))'

stats=$(curl -fsS "http://$SIM_ADDR/control/stats")
t_check "every callback query was answered" \
	test "$(jq '.callbacks.unanswered' <<<"$stats")" = 0
t_check "tgsim rejected no call (every method and parameter is real)" \
	test "$(jq '.rejected' <<<"$stats")" = 0
t_check "each update was recorded once" \
	test "$(sqlite3 "$db" "SELECT count(*) = count(DISTINCT update_id) FROM updates")" = 1
t_done

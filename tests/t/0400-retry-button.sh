#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A broken template: every subscriber is told, with a retry button. The
# operator fixes the template (SIGHUP); one press re-enqueues the asset once
# and everyone subscribed gets the video. Foreign and repeated presses are
# answered and change nothing.
. "$(dirname "$0")/../lib.sh"

cp -R "$GB_TEMPLATES_DIR" "$T/templates"
bg=$T/templates/ru-birthday/media/background.mp4
mv "$bg" "$T/background.mp4"
sim_start
GREETBOT_MAX_ATTEMPTS=1 GREETBOT_ADMIN_CHAT_ID=4999 GB_TEMPLATES_DIR=$T/templates gb_start
db=$T/state/greetbot.db

parent_failed 4101 "Лиза" >"$T/notice.1" &
p1=$!
parent_failed 4102 "лиза" >"$T/notice.2" &
p2=$!
wait "$p1" || true
wait "$p2" || true
for i in 1 2; do
	t_check "subscriber $i is told it failed, with a retry button" \
		t_jq '.text | contains("Не получилось")' <"$T/notice.$i"
done
t_check "the attempt says the template is broken (exit 78), not retried" \
	test "$(sqlite3 "$db" "SELECT DISTINCT status || ':' || exit_code FROM attempts")" = template_broken:78
parent_failed 4104 "Оля" >/dev/null || true
export SIM_SEQ=0
t_check "the admin is alerted that the template is broken" \
	sim_expect 4999 '.text != null and (.text | contains("ru-birthday is broken"))' 30
t_check "one alert per cause per window: the other failures are counted, not sent" \
	test "$(sqlite3 "$db" "SELECT suppressed >= 1 FROM alerts"):$(jq '.messages | length' <<<"$(sim_wait 4999 0 1 0)")" = 1:1
data=$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' "$T/notice.1")
asset=${data#retry:}

# Someone who never ordered it presses a forged retry button.
export SIM_SEQ=0
sim_post message chat_id=4103 text=/start >/dev/null
sim_post callback chat_id=4103 message_id=1 data="$data" >/dev/null
t_check "a foreign press is answered and changes nothing" \
	sim_expect 4103 '.method == "answerCallbackQuery" and (.params.text | contains("не действует"))' 30
t_check "the asset is still FAILED" test "$(sqlite3 "$db" "SELECT state FROM assets WHERE id = $asset")" = FAILED

# The operator fixes the template and reloads.
mv "$T/background.mp4" "$bg"
kill -HUP "$GB_PID"
t_wait_log "$T/greetbotd.log" 'proc=greetbot-tg msg=reloaded'

export SIM_SEQ=0
mid=$(jq -r '.message_id' "$T/notice.1")
jobs=$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE asset_id = $asset")
sim_post callback chat_id=4101 message_id="$mid" data="$data" >/dev/null
sim_post callback chat_id=4101 message_id="$mid" data="$data" >/dev/null
t_check "the press is confirmed" sim_expect 4101 '.text != null and (.text | contains("Пробуем ещё раз"))' 30
t_check "the button message is removed" sim_expect 4101 ".method == \"deleteMessage\" and .message_id == $mid" 30
t_check "the first subscriber gets the video" sim_expect 4101 '.method == "sendVideo"' 120
export SIM_SEQ=0
t_check "the other subscriber gets it too, without pressing" sim_expect 4102 '.method == "sendVideo"' 60
t_check "two presses enqueued one job" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE asset_id = $asset")" = $((jobs + 1))
t_check "the video was rendered once and uploaded once" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'"):$(jq '.uploads' <<<"$(curl -fsS "http://$SIM_ADDR/control/stats")")" = 1:1
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# 0010-tgsim.sh: the Bot API simulator on its own: calls checked against
# the official method list, sends shown on /control/chat, injected updates
# with getUpdates offset semantics, a video upload stored and re-sent by
# file_id, and long polls that are answered when state changes.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

TOKEN=123456:TEST-token

mkfifo "$T/ready"
"$BIN/tgsim" --listen 127.0.0.1:0 --spec "$TOP/data/bot-api-10.1.min.json" \
	--media-dir "$T/media" --token "$TOKEN" --ready-fd 3 \
	3>"$T/ready" 2>"$T/tgsim.log" &
sim_pid=$!
t_track "$sim_pid"
read -r addr <"$T/ready" || true
if [ -z "$addr" ]; then
	t_fail "tgsim starts and reports its address"
	t_show "$T/tgsim.log"
	t_done || exit 1
fi
t_ok "tgsim starts on $addr"
api="http://$addr/bot$TOKEN"
ctl="http://$addr/control"

# call METHOD [CURL-ARGS...]: the Bot API's answer, whatever its status.
call() {
	local method=$1
	shift
	curl -sS "$@" "$api/$method"
}

# is JSON FILTER: FILTER (a jq expression) holds for JSON.
is() { printf '%s' "$1" | t_jq "$2" >/dev/null; }

# status URL [CURL-ARGS...]: the HTTP status code of a request.
status() {
	local url=$1
	shift
	curl -sS -o /dev/null -w '%{http_code}' "$@" "$url"
}

# held N: wait (by asking tgsim, never by sleeping) until N requests are
# held pending, e.g. a long poll that has reached the simulator.
held() {
	local i
	for i in $(seq 1 500); do
		is "$(curl -sS "$ctl/stats")" ".waiting == $1" && return 0
		: "$i"
	done
	return 1
}

## Method and parameter checks
r=$(call getMe)
t_check "getMe returns the bot" is "$r" \
	'.ok and .result.is_bot and .result.id == 123456 and (.result.username | length > 0)'
t_check "method names are case-insensitive" is "$(call GETME)" '.ok'
t_check "a wrong token gets 401" is "$(curl -sS "http://$addr/bot1:bad/getMe")" \
	'.ok == false and .error_code == 401 and .description == "Unauthorized"'
t_check "an unknown method gets HTTP 404" \
	[ "$(status "$api/sendGreeting")" = 404 ]
t_check "an unknown method gets Telegram's body" is "$(call sendGreeting)" \
	'. == {"ok":false,"error_code":404,"description":"Not Found"}'
r=$(call sendMessage -d chat_id=42 -d text=hi -d colour=red)
t_check "an unknown parameter gets 400" is "$r" \
	'.error_code == 400 and (.description | startswith("Bad Request: ")) and (.description | contains("colour"))'
t_check "a missing required parameter gets 400" \
	is "$(call sendMessage -d text=hi)" '.description == "Bad Request: chat_id is empty"'

## sendMessage, seen on /control/chat
r=$(call sendMessage -H 'Content-Type: application/json' \
	-d '{"chat_id":42,"text":"Привет","reply_markup":{"inline_keyboard":[[{"text":"OK","callback_data":"ok:1"}]]}}')
t_check "sendMessage (JSON body) returns a Message" is "$r" \
	'.ok and .result.message_id == 1 and .result.chat.id == 42 and .result.from.is_bot and .result.text == "Привет"'
r=$(curl -sS "$ctl/chat?chat_id=42&since=0")
t_check "/control/chat shows the message" is "$r" \
	'.ok and (.messages | length) == 1 and .messages[0].seq == 1 and .messages[0].method == "sendMessage" and .messages[0].text == "Привет"'
t_check "/control/chat shows the keyboard" is "$r" \
	'.messages[0].reply_markup.inline_keyboard[0][0].callback_data == "ok:1"'
r=$(call sendMessage -d chat_id=42 --data-urlencode 'text=second one' \
	--data-urlencode 'reply_markup={"keyboard":[[{"text":"Share","request_contact":true}]]}')
t_check "sendMessage (form body) with a reply keyboard" is "$r" \
	'.ok and .result.message_id == 2 and .result.text == "second one"'
t_check "since= skips entries already seen" \
	is "$(curl -sS "$ctl/chat?chat_id=42&since=1")" \
	'(.messages | length) == 1 and .messages[0].reply_markup.keyboard[0][0].request_contact'
t_check "over-long callback_data is refused" \
	is "$(call sendMessage -d chat_id=42 -d text=x --data-urlencode "reply_markup={\"inline_keyboard\":[[{\"text\":\"a\",\"callback_data\":\"$(printf '%065d' 0)\"}]]}")" \
	'.description == "Bad Request: BUTTON_DATA_INVALID"'

## Injected updates and getUpdates offsets
r=$(curl -sS "$ctl/message" -d chat_id=42 -d text=/start -d first_name=Anna -d language_code=ru)
t_check "/control/message injects an update" is "$r" '.ok and .update_id > 0 and .message_id == 3'
u1=$(printf '%s' "$r" | jq .update_id)
r=$(curl -sS "$ctl/contact" -d chat_id=42 --data-urlencode phone_number=+79001234567 -d first_name=Anna)
t_check "/control/contact injects an update" is "$r" ".update_id == $((u1 + 1)) and .message_id == 4"
r=$(call getUpdates)
t_check "getUpdates returns both updates" is "$r" \
	".ok and (.result | length) == 2 and .result[0].update_id == $u1"
t_check "the message is a /start command from Anna" is "$r" \
	'.result[0].message.text == "/start" and .result[0].message.entities[0].type == "bot_command" and .result[0].message.from.first_name == "Anna" and .result[0].message.from.language_code == "ru"'
t_check "the contact carries the user's id" is "$r" \
	'.result[1].message.contact.phone_number == "+79001234567" and .result[1].message.contact.user_id == 42'
t_check "unconfirmed updates come again" is "$(call getUpdates -d limit=1)" \
	"(.result | length) == 1 and .result[0].update_id == $u1"
t_check "offset confirms earlier updates" is "$(call getUpdates -d offset=$((u1 + 1)))" \
	"(.result | length) == 1 and .result[0].update_id == $((u1 + 1))"
t_check "confirmed updates are forgotten" is "$(call getUpdates -d offset=$((u1 + 2)))" \
	'.ok and .result == []'
t_check "confirmed updates stay forgotten" is "$(call getUpdates)" '.result == []'

## getUpdates long poll, answered when an update is injected
curl -sS "$api/getUpdates?offset=$((u1 + 2))&timeout=30" >"$T/poll.json" &
poll=$!
t_check "getUpdates with timeout is held" held 1
start=$SECONDS
curl -sS "$ctl/message" -d chat_id=42 -d text=Маша >/dev/null
wait "$poll"
t_check "the long poll returns the injected update" is "$(cat "$T/poll.json")" \
	'.ok and (.result | length) == 1 and .result[0].message.text == "Маша"'
t_check "... at once, not at its timeout" [ $((SECONDS - start)) -lt 10 ]
t_check "an empty long poll ends at its timeout" \
	is "$(call getUpdates -d offset=$((u1 + 3)) -d timeout=1)" '.ok and .result == []'

## Callback queries
r=$(curl -sS "$ctl/callback" -d chat_id=42 -d data=ok:1)
t_check "/control/callback presses the last inline keyboard" is "$r" '.ok and (.callback_query_id | length > 0)'
cq=$(printf '%s' "$r" | jq -r .callback_query_id)
r=$(call getUpdates -d offset=$((u1 + 3)))
t_check "the callback query carries its message" is "$r" \
	".result[0].callback_query.id == \"$cq\" and .result[0].callback_query.data == \"ok:1\" and .result[0].callback_query.message.message_id == 1"
t_check "answerCallbackQuery answers it" is "$(call answerCallbackQuery -d callback_query_id="$cq")" '.ok and .result'
t_check "a second answer is refused" is "$(call answerCallbackQuery -d callback_query_id="$cq")" \
	'.description == "Bad Request: query is too old and response timeout expired or query ID is invalid"'
t_check "an unknown query id is refused" is "$(call answerCallbackQuery -d callback_query_id=777)" '.error_code == 400'

## Raw updates and allowed_updates
edit='{"edited_message":{"chat":{"id":42,"type":"private","first_name":"Anna"},"from":{"id":42,"is_bot":false,"first_name":"Anna"},"text":"Маша!"}}'
r=$(curl -sS "$ctl/update" -H 'Content-Type: application/json' -d "$edit")
t_check "/control/update injects a raw update" is "$r" ".ok and .update_id == $((u1 + 4))"
t_check "... filled with a message_id and a date" \
	is "$(call getUpdates -d offset=$((u1 + 4)))" \
	'.result[0].edited_message.message_id > 4 and .result[0].edited_message.date > 0 and .result[0].edited_message.text == "Маша!"'
t_check "getUpdates takes allowed_updates" \
	is "$(call getUpdates -d offset=$((u1 + 5)) --data-urlencode 'allowed_updates=["message"]')" '.ok and .result == []'
t_check "an update the bot did not allow is dropped" \
	is "$(curl -sS "$ctl/update" -d "$edit")" '.ok and .dropped and .update_id == 0'
t_check "an empty allowed_updates restores the default" \
	is "$(call getUpdates -d offset=$((u1 + 5)) -d 'allowed_updates=[]')" '.ok and .result == []'
t_check "... so edits arrive again" \
	is "$(curl -sS "$ctl/update" -d "$edit")" ".update_id == $((u1 + 5))"

## Edits and deletes
t_check "editMessageText edits the bot's message" \
	is "$(call editMessageText -d chat_id=42 -d message_id=1 -d text=edited)" \
	'.ok and .result.text == "edited" and .result.edit_date > 0 and (.result | has("reply_markup") | not)'
t_check "an identical edit is 'not modified'" \
	is "$(call editMessageText -d chat_id=42 -d message_id=1 -d text=edited)" \
	'.description | startswith("Bad Request: message is not modified")'
t_check "the user's message cannot be edited" \
	is "$(call editMessageText -d chat_id=42 -d message_id=3 -d text=x)" \
	'.description == "Bad Request: message can'"'"'t be edited"'
t_check "deleteMessage deletes" is "$(call deleteMessage -d chat_id=42 -d message_id=1)" '.result == true'
t_check "a deleted message is gone" is "$(call deleteMessage -d chat_id=42 -d message_id=1)" \
	'.description == "Bad Request: message to delete not found"'

## sendVideo: a multipart upload stored as a file, then re-sent by file_id
ffmpeg -nostdin -v error -f lavfi -i testsrc=size=64x64:rate=10:duration=1 \
	-f lavfi -i sine=frequency=440:duration=1 -c:v libx264 -pix_fmt yuv420p \
	-c:a aac -shortest "$T/tiny.mp4"
r=$(call sendVideo -F chat_id=42 -F "video=@$T/tiny.mp4;type=video/mp4" \
	-F width=64 -F height=64 -F duration=1 -F caption=Готово)
t_check "sendVideo uploads" is "$r" \
	'.ok and (.result.video.file_id | length > 10) and .result.video.width == 64 and .result.video.file_size > 0 and .result.caption == "Готово"'
fid=$(printf '%s' "$r" | jq -r .result.video.file_id)
r=$(curl -sS "$ctl/chat?chat_id=42&since=0" | jq -c '[.messages[] | select(.method == "sendVideo")][0]')
path=$(printf '%s' "$r" | jq -r .video.path)
t_check "the chat log gives the stored file's absolute path" \
	is "$r" ".video.file_id == \"$fid\" and (.video.path | startswith(\"/\"))"
t_check "the stored file is the upload, byte for byte" cmp -s "$path" "$T/tiny.mp4"
t_check "the stored file is a video (ffprobe)" \
	[ "$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_type -of csv=p=0 "$path")" = video ]
r=$(call sendVideo -d chat_id=43 -d video="$fid")
t_check "sendVideo by file_id reuses the file" is "$r" ".ok and .result.video.file_id == \"$fid\""
t_check "... and shows the same path to the other chat" \
	is "$(curl -sS "$ctl/chat?chat_id=43")" ".messages[0].video.path == \"$path\""
t_check "... without a new upload" is "$(curl -sS "$ctl/stats")" '.uploads == 1 and .files == 1'
r=$(call sendVideo -F chat_id=44 -F "video=@$T/tiny.mp4")
t_check "without declared sizes the MP4's own are given" is "$r" \
	'.result.video.width == 64 and .result.video.height == 64 and .result.video.duration == 1'
t_check "an unknown file_id is refused" is "$(call sendVideo -d chat_id=43 -d video=BAACnope)" \
	'.description == "Bad Request: wrong file identifier/HTTP URL specified"'
t_check "an empty upload is refused" is "$(call sendVideo -F chat_id=43 -F "video=@/dev/null;filename=e.mp4")" \
	'.error_code == 400'
r=$(call getFile -d file_id="$fid")
t_check "getFile gives a file_path" is "$r" '.ok and (.result.file_path | length > 0)'
curl -sS -o "$T/download.mp4" "http://$addr/file/bot$TOKEN/$(printf '%s' "$r" | jq -r .result.file_path)"
t_check "the file downloads intact" cmp -s "$T/download.mp4" "$T/tiny.mp4"

## sendVoice
ffmpeg -nostdin -v error -f lavfi -i sine=frequency=300:duration=1 -c:a libopus "$T/tiny.ogg"
r=$(call sendVoice -F chat_id=42 -F "voice=@$T/tiny.ogg;type=audio/ogg")
t_check "sendVoice uploads a voice message" is "$r" \
	'.ok and (.result.voice.file_id | length > 10) and .result.voice.mime_type == "audio/ogg" and .result.voice.duration == 1'
t_check "a voice file_id is not a video" \
	is "$(call sendVideo -d chat_id=42 -d video="$(printf '%s' "$r" | jq -r .result.voice.file_id)")" '.error_code == 400'

## /control/chat long poll, answered when the bot sends
seen=$(curl -sS "$ctl/chat?chat_id=77" | jq '.messages | length')
curl -sS "$ctl/chat?chat_id=77&since=$seen&count=1&wait=30" >"$T/chat.json" &
poll=$!
t_check "/control/chat with wait is held" held 1
start=$SECONDS
call sendMessage -d chat_id=77 -d text=ready >/dev/null
wait "$poll"
t_check "the chat long poll returns the message" is "$(cat "$T/chat.json")" \
	'(.messages | length) == 1 and .messages[0].text == "ready" and .messages[0].message_id == 1'
t_check "... at once" [ $((SECONDS - start)) -lt 10 ]
t_check "a chat long poll that is satisfied returns at once" \
	is "$(curl -sS -m 5 "$ctl/chat?chat_id=77&count=1&wait=30")" '(.messages | length) == 1'

## Stats and a clean exit
r=$(curl -sS "$ctl/stats")
t_check "stats count calls, uploads and rejections" is "$r" \
	'.calls.sendMessage >= 4 and .calls.getMe == 2 and .uploads == 3 and .rejected >= 5 and .callbacks.unanswered == 0 and .waiting == 0'
kill -TERM "$sim_pid"
rc=0
wait "$sim_pid" || rc=$?
t_check "SIGTERM exits 0" [ "$rc" -eq 0 ]
if grep -q 'level=error' "$T/tgsim.log"; then
	t_fail "no errors logged"
	t_show "$T/tgsim.log"
else
	t_ok "no errors logged"
fi
t_done

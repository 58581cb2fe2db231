#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# One render, every parent: 50 parents order 10 distinct names (typed in
# different cases) at once: 10 renders, 50 videos, 10 uploads and 40 sends
# by file_id. A parent who blocked the bot does not stop the others and is
# not retried. A name already rendered reaches a new parent without a render.
. "$(dirname "$0")/../lib.sh"

sim_start
GREETBOT_WORKERS=2 gb_start
db=$T/state/greetbot.db
names=(Маша Даша Петя Ваня Катя Оля Коля Лиза Саша Женя)
pids=()
for i in $(seq 0 49); do
	n=${names[$((i % 10))]}
	[ $((i % 3)) = 1 ] && n=$(tr '[:lower:]' '[:upper:]' <<<"$n")
	[ $((i % 3)) = 2 ] && n=" $(tr '[:upper:]' '[:lower:]' <<<"$n") "
	(PARENT_WAIT=240 parent_order $((10000 + i)) "$n" >"$T/video.$i" 2>"$T/err.$i") &
	pids+=($!)
done
got=0
for i in $(seq 0 49); do
	wait "${pids[$i]}" 2>/dev/null || true
	[ -s "$(tail -1 "$T/video.$i")" ] && got=$((got + 1))
done
t_check "all 50 parents received a video ($got)" test "$got" = 50
t_check "exactly 10 renders for 10 distinct names" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'")" = 10
# What each chat received: a video upload shows its params.video as the
# uploaded file's description, a file_id as a string.
for i in $(seq 0 49); do
	sim_wait $((10000 + i)) 0 1 0
done | jq -r '.messages[] | select(.method == "sendVideo") | .params.video | type' |
	sort | uniq -c | tr -s ' ' >"$T/kinds"
t_check "10 uploads: each video uploaded once" grep -qx ' 10 object' "$T/kinds"
t_check "the other 40 were sent by file_id" grep -qx ' 40 string' "$T/kinds"
stats=$(curl -fsS "http://$SIM_ADDR/control/stats")
t_check "10 assets, each AVAILABLE with a file_id" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM assets WHERE state = 'AVAILABLE' AND file_id IS NOT NULL")" = 10
t_check "every request COMPLETED" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM requests WHERE state = 'COMPLETED'")" = 50
t_check "no flood limit was hit" test "$(jq '.rate_limited' <<<"$stats")" = 0

# Cache hit: a new parent, a rendered name: no render, no upload.
attempts=$(sqlite3 "$db" "SELECT count(*) FROM attempts")
video=$(parent_order 10100 "маша") || video=""
t_check "a cached name reaches a new parent" test -s "$video"
t_check "without a render" test "$(sqlite3 "$db" "SELECT count(*) FROM attempts")" = "$attempts"
t_check "with the same caption a fresh render gets" \
	t_jq '[.messages[] | select(.method == "sendVideo")][0].params.caption | contains("Маша")' <<<"$(sim_wait 10100 0 1 0)"
t_check "the cached video is the first thing after Confirm, with no 'order accepted'" \
	t_jq '[.messages[].method | select(. != "answerCallbackQuery")] as $m |
		$m[($m | index("sendVoice")) + 1] == "sendVideo" and
		([.messages[] | select((.text // "") | startswith("Заказ принят"))] | length) == 0' \
	<<<"$(sim_wait 10100 0 1 0)"
t_check "and without an upload (the video and its voice preview by file_id)" \
	test "$(jq '.uploads' <<<"$(curl -fsS "http://$SIM_ADDR/control/stats")")" = "$(jq '.uploads' <<<"$stats")"

# A parent who blocked the bot, among others waiting for the same name.
sim_post fault chat_id=10201 kind=403 count=0 >/dev/null
(parent_order 10200 "Богдан" >"$T/video.b1" 2>&1) &
p1=$!
sim_post message chat_id=10201 text=/start >/dev/null
wait "$p1" || true
t_check "the parent who did not block the bot gets the video" test -s "$(tail -1 "$T/video.b1")"
t_check "the one who blocked it is marked blocked" \
	test "$(sqlite3 "$db" "SELECT blocked FROM users WHERE user_id = 10201")" = 1
t_check "and was tried once, not again" \
	test "$(sqlite3 "$db" "SELECT group_concat(state || ':' || attempts) FROM outbox WHERE chat_id = 10201")" = FAILED:1
t_done

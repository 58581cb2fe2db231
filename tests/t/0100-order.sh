#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The whole path: a simulated parent orders a greeting video through tgsim;
# greetbotd (private redis-server, greetbot-tg, render.sh with espeak-ng and
# ffmpeg) renders it and the chat receives a playable MP4.
. "$(dirname "$0")/../lib.sh"

sim_start
# The shipped template, as a parent gets it.
GB_TEMPLATES_DIR=$TOP/templates gb_start
t_ok "tgsim and greetbotd start; greetbotd reports ready"

video=$(parent_order 2001 "  мАША ") || video=""
if [ -n "$video" ] && [ -s "$video" ]; then
	t_ok "the chat received a video file"
else
	t_fail "the chat received a video file"
	t_show "$T/greetbotd.log" 30
fi

# What a parent's phone would need: H.264 video, AAC audio, a sane duration.
probe=$(ffprobe -v error -print_format json -show_format -show_streams "$video" 2>/dev/null) ||
	probe='{}'
t_check "the video has an H.264 video stream" \
	test "$(jq -r '[.streams[] | select(.codec_type == "video")][0].codec_name' <<<"$probe")" = h264
t_check "the video has an AAC audio stream" \
	test "$(jq -r '[.streams[] | select(.codec_type == "audio")][0].codec_name' <<<"$probe")" = aac
dur=$(jq -r '.format.duration // 0' <<<"$probe")
read -r min max < <(awk -F' *= *' '$1 == "min_duration" { lo = $2 } $1 == "max_duration" { hi = $2 }
	END { print lo, hi }' "$TOP/templates/ru-birthday/template.conf")
t_check "the duration ($dur s) is what the template promises ($min..$max s)" \
	awk -v d="$dur" -v lo="$min" -v hi="$max" 'BEGIN { exit !(d >= lo && d <= hi && d > 0) }'

# The confirmation: a voice message saying the phrase, the normalised
# name in its caption, Confirm / Change buttons.
chat=$(sim_wait 2001 0 1 1)
voice=$(jq -c '[.messages[] | select(.method == "sendVoice")][0] // {}' <<<"$chat")
t_check "the parent was asked to confirm «Маша» (normalised) under a voice message" \
	t_jq '.params.caption | contains("Маша")' <<<"$voice"
t_check "the pronunciation preview is OGG/Opus speech" \
	test "$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 \
		"$(jq -r '.voice.path' <<<"$voice")" 2>/dev/null)" = opus
t_check "the preview has Confirm and Change buttons" \
	t_jq '.reply_markup.inline_keyboard[0] | length == 2' <<<"$voice"

t_check "the video's caption greets the child by name" \
	t_jq '[.messages[] | select(.method == "sendVideo")][0].params.caption | contains("Маша")' <<<"$chat"

# What Telegram shows before the video plays: the render's thumbnail, sent
# with the upload (a JPEG of at most 320x320), not a frame Telegram picks.
thumb=$(jq -c '[.messages[] | select(.method == "sendVideo")][0].video.thumbnail // {}' <<<"$chat")
t_check "the video was uploaded with its thumbnail (at most 320x320)" \
	t_jq '.width > 0 and .width <= 320 and .height > 0 and .height <= 320' <<<"$thumb"
t_check "the thumbnail is the one the render made" \
	cmp -s "$(jq -r '.path' <<<"$thumb")" "$T/state/assets/1.jpg"
t_check "tgsim ignored no thumbnail" \
	t_jq '.thumbnails_ignored == 0' < <(curl -fsS "http://$SIM_ADDR/control/stats")

db=$T/state/greetbot.db
t_check "the request is COMPLETED in SQLite" \
	test "$(sqlite3 "$db" "SELECT state FROM requests")" = COMPLETED
t_check "the asset is AVAILABLE with a file_id" \
	test "$(sqlite3 "$db" "SELECT state || ':' || (file_id IS NOT NULL) FROM assets")" = AVAILABLE:1
t_check "one attempt recorded as ok with CPU time and peak RSS" \
	test "$(sqlite3 "$db" "SELECT status || ':' || (cpu_seconds > 0) || ':' || (max_rss_kb > 0) FROM attempts")" = ok:1:1
t_check "the database file is private (0600)" test "$(stat -c %a "$db")" = 600

kids=$(pgrep -P "$GB_PID" | paste -sd, -)
t_check "greetbotd runs its jobs process, redis-server and greetbot-tg as children" \
	test "$(ps -o comm= -p "$kids" | sort | paste -sd' ' -)" = "greetbot-tg greetbotd-jobs redis-server"
sim_stop
t_check "SIGTERM stops greetbotd and all its children" \
	sh -c "for p in ${kids//,/ }; do ! kill -0 \$p 2>/dev/null || exit 1; done"
# Logs, the database, the WAL, caches, media: the token is in none of them.
t_check "the token is in no log line and no file" sh -c "! grep -rqF '$SIM_TOKEN' '$T'"
t_done

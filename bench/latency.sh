#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# bench/latency.sh: how long a parent waits from pressing Confirm to having
# the video, for new names and for names already rendered, at the shipped
# default template (HD), through the whole product: tgsim, greetbotd, its
# Redis, greetbot-tg, real espeak-ng and ffmpeg renders.
#
# Each of BENCH_NAMES (30) parents goes /start, own contact, a new name,
# waits for the voice preview, listens to it (BENCH_LISTEN seconds, 3 by
# default: a parent hears the phrase before pressing; a render that starts
# with the preview uses that time), then presses Confirm: the clock runs
# from the press to the sendVideo that tgsim logs for that chat. One parent
# at a time, so each measures its own render, not a queue. Then a second
# parent orders each name again: hit_* is the same press-to-video time for
# a cache hit (sent by file_id). greetbotd renders a name speculatively as
# soon as its preview is sent, so the listening time is render time the
# parent does not wait for: new_name_no_listen_* is the same for BENCH_NAMES
# more new names confirmed the moment the preview arrives (the worst case:
# the whole render after the press). preview_voice_s is the median length
# of the previews (what a parent hears before pressing), render_wall_s the
# median wall time of a render.
#
# Render CPU: cpu_per_name is the median attempts.cpu_seconds of the new
# names (render.sh: espeak-ng, ffmpeg for the personal frames, the join).
# cpu_personal_frames_floor is the CPU of x264 alone encoding the frames
# that show the name (name_start..name_end of one delivered video, decoded
# to raw once, untimed), with the template's encoder settings on one thread
# (bench/lib/cputime.c): no render of that window can cost less. ratio =
# cpu_per_name / cpu_personal_frames_floor.
# Targets (issue 13): new_name_p50_ms <= 1000, ratio <= 1.5.
. "$(dirname "$0")/lib/common.sh"

n=${BENCH_NAMES:-30}
listen=${BENCH_LISTEN:-3}
tdir=$TOP/templates/ru-birthday

sim_start
GB_TEMPLATES_DIR=$TOP/templates GREETBOT_WORKERS=2 gb_start
db=$B/state/greetbot.db

# A name per parent that no one ordered yet (Cyrillic, two letters apart).
letters=(а б в г д е ж з и к л м н о п р с т у ф х ц ч ш щ э ю я)
name_of() { printf 'Ба%s%sна' "${letters[$(($1 % 28))]}" "${letters[$(($1 / 28 % 28))]}"; }

# order CHAT NAME [LISTEN]: one parent up to the preview, a pause, Confirm;
# prints the milliseconds from the press to the video.
order() {
	local chat=$1 name=$2 pause=${3:-$listen} msg mid data t0 t1 voice
	# shellcheck disable=SC2034 # read by sim_expect
	SIM_SEQ=0
	sim_post message chat_id="$chat" text=/start first_name=Parent language_code=ru >/dev/null
	sim_expect "$chat" '.reply_markup.keyboard[0][0].request_contact == true' >/dev/null
	sim_post contact chat_id="$chat" phone_number="7900$chat" first_name=Parent \
		language_code=ru >/dev/null
	sim_expect "$chat" '.method == "sendMessage"' >/dev/null
	sim_post message chat_id="$chat" text="$name" language_code=ru >/dev/null
	msg=$(sim_expect "$chat" '.reply_markup.inline_keyboard != null') || return 1
	voice=$(jq -r '.voice.path // empty' <<<"$msg")
	[ -z "$voice" ] || ffprobe -v error -show_entries format=duration -of csv=p=0 \
		"$voice" >>"$B/voice.s"
	b_sleep "$pause"
	mid=$(jq -r '.message_id' <<<"$msg")
	data=$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$msg")
	t0=$(b_now)
	sim_post callback chat_id="$chat" message_id="$mid" data="$data" >/dev/null
	sim_expect "$chat" '.method == "sendVideo"' 300 >/dev/null || return 1
	t1=$(b_now)
	b_calc "($t1 - $t0) * 1000"
}

# Percentile P (0..100) of the numbers on stdin (nearest rank).
pct() { sort -g | awk -v p="$1" '{ v[NR] = $1 } END { i = int((p / 100) * NR + 0.999);
	if (i < 1) i = 1; print v[i] }'; }

: >"$B/new.ms"
: >"$B/new0.ms"
: >"$B/hit.ms"
: >"$B/voice.s"
for i in $(seq 1 "$n"); do
	ms=$(order $((8000 + i)) "$(name_of "$i")") || b_fail "parent $i got no video"
	echo "$ms" >>"$B/new.ms"
	b_log "new name $i/$n: $ms ms"
done
for i in $(seq 1 "$n"); do
	ms=$(order $((10000 + i)) "$(name_of $((n + i)))" 0) ||
		b_fail "parent $i (no listening) got no video"
	echo "$ms" >>"$B/new0.ms"
	b_log "new name, no listening $i/$n: $ms ms"
done
for i in $(seq 1 "$n"); do
	ms=$(order $((9000 + i)) "$(name_of "$i")") || b_fail "parent $i (hit) got no video"
	echo "$ms" >>"$B/hit.ms"
done
renders=$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'")
[ "$renders" -eq $((2 * n)) ] || b_fail "$renders renders for $((2 * n)) names"
cpu_name=$(sqlite3 "$db" "SELECT cpu_seconds FROM attempts WHERE status = 'ok'" | pct 50)
wall=$(sqlite3 "$db" "SELECT duration FROM attempts WHERE status = 'ok'" | pct 50)

# The floor: x264 alone on the frames that show the name.
read -r ns ne crf preset fps < <(awk -F' *= *' '
	$1 == "name_start" { s = $2 } $1 == "name_end" { e = $2 } $1 == "crf" { c = $2 }
	$1 == "preset" { p = $2 } $1 == "fps" { f = $2 }
	END { print s, e, (c == "" ? 26 : c), (p == "" ? "veryfast" : p), f }' "$tdir/template.conf")
video=$(sim_wait 8001 0 10 0 | jq -r '[.messages[] | select(.method == "sendVideo")][0].video.path')
ffmpeg -nostdin -hide_banner -loglevel error -ss "$ns" -to "$ne" -i "$video" -an \
	-f rawvideo -pix_fmt yuv420p "$B/window.yuv"
size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0:s=x "$video")
cputime=$B/cputime
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$cputime" "$TOP/bench/lib/cputime.c"
floors=()
for _ in 1 2 3; do
	"$cputime" "$B/floor.cpu" ffmpeg -nostdin -hide_banner -loglevel error -threads 1 \
		-f rawvideo -pix_fmt yuv420p -s "$size" -r "$fps" -i "$B/window.yuv" \
		-c:v libx264 -preset "$preset" -crf "$crf" -threads 1 -f mp4 -y "$B/floor.mp4"
	floors+=("$(cat "$B/floor.cpu")")
done
floor=$(printf '%s\n' "${floors[@]}" | pct 50)
sim_stop

printf '{"bench":"latency","names":%d,"listen_s":%s,"preview_voice_s":%s,"new_name_p50_ms":%s,"new_name_p99_ms":%s,"new_name_no_listen_p50_ms":%s,"new_name_no_listen_p99_ms":%s,"render_wall_s":%s,"hit_p50_ms":%s,"hit_p99_ms":%s,"cpu_per_name":%s,"cpu_personal_frames_floor":%s,"ratio":%s,"personal_s":%s,"frame":"%s"}\n' \
	"$n" "$listen" "$(pct 50 <"$B/voice.s")" "$(pct 50 <"$B/new.ms")" "$(pct 99 <"$B/new.ms")" \
	"$(pct 50 <"$B/new0.ms")" "$(pct 99 <"$B/new0.ms")" "$wall" \
	"$(pct 50 <"$B/hit.ms")" "$(pct 99 <"$B/hit.ms")" "$cpu_name" "$floor" \
	"$(b_calc "$cpu_name / $floor")" "$(b_calc "$ne - $ns")" "$size"

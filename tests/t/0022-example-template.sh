#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# templates/example/render.sh, the short render script a template of one's
# own starts from (templates/README.md), run as greetbotd runs it: an HD
# H.264 + AAC MP4 with its moov first, within the template's bounds, the name
# on screen for most of it and on a thumbnail of at most 320x320, progress
# lines; in preview mode the voice alone as OGG/Opus. At a small frame: the
# longest, widest name stays inside the frame and a hostile name is inert.
# The exit codes: 64 (caller), 65 (name), 78 (template, also when ffmpeg's
# log blames it: a background without video, music that is not sound), 75
# and 128+N (ffmpeg).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

script=$TOP/templates/example/render.sh
tpl=$TOP/templates/example
# The media come from `make media`; without it, generate them in a copy.
if [ ! -f "$tpl/media/background.mp4" ] || [ ! -f "$tpl/media/music.flac" ]; then
	cp -R "$tpl" "$T/example"
	tpl=$T/example
	"$TOP/scripts/gen-media.sh" "$tpl"
fi
conf() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$tpl/template.conf"; }

# render DIR NAME [VAR=VALUE...]: the script in the fresh work dir DIR with
# the contract's environment (VAR=VALUE adds to it or overrides it); its
# stdout and stderr in DIR, its exit code in rc.
render() {
	local w=$1 name=$2
	shift 2
	mkdir -p "$w"
	rc=0
	(cd "$w" && env -i PATH="$PATH" HOME="$w" LANG=C.UTF-8 GREETBOT_NAME="$name" \
		GREETBOT_TEMPLATE_DIR="$tpl" GREETBOT_CACHE_DIR="$T/cache" GREETBOT_MODE=video \
		GREETBOT_OUTPUT="$w/out.mp4" GREETBOT_THUMB="$w/thumb.jpg" "$@" \
		"$script" >"$w/stdout" 2>"$w/stderr") || rc=$?
}

# exits WANT DESC DIR: the last render exited WANT (else its stderr is shown).
exits() {
	if [ "$rc" -eq "$1" ]; then
		t_ok "$2 (exit $rc)"
	else
		t_fail "$2 (exit $rc, want $1)"
		t_show "$3/stderr" 5
	fi
}

# psnr VIDEO X Y W H: per frame, the PSNR (dB) of the VIDEO's area at X,Y
# (fractions of the frame) of size WxH against the same area of the
# template's background as the script prepares it.
psnr() {
	local bg size fps d area
	bg=$(conf background) size=$(conf width):$(conf height) fps=$(conf fps) d=$(conf duration)
	area="crop=iw*$4:ih*$5:iw*$2:ih*$3"
	case $bg in /*) ;; *) bg=$tpl/$bg ;; esac
	ffmpeg -nostdin -v error -i "$1" -stream_loop -1 -t "$d" -i "$bg" -filter_complex \
		"[0:v]${area}[o];[1:v]scale=$size:force_original_aspect_ratio=increase,crop=$size,fps=$fps,${area}[b];[o][b]psnr=stats_file=-" \
		-f null - | sed -n 's/.* psnr_avg:\([0-9.inf]*\).*/\1/p'
}

# --- the shipped example, HD ---------------------------------------------
w=$T/hd
render "$w" "Emma"
exits 0 "a video for Emma" "$w"
v=$w/out.mp4
t_check "stdout has only progress lines, rising, the last 1.00" \
	awk '!/^progress [01]\.[0-9][0-9]$/ || $2 < last { bad = 1 } { last = $2 }
		END { exit bad || last != "1.00" }' "$w/stdout"
t_check "some of them while ffmpeg encodes ($(paste -sd' ' "$w/stdout" | sed 's/progress //g'))" \
	awk '$2 > 0.2 && $2 < 1 { n++ } END { exit !n }' "$w/stdout"
t_check "H.264 (High, yuv420p, 1280x720) and AAC" \
	test "$(ffprobe -v error -show_entries stream=codec_name,profile,pix_fmt,width,height \
		-of csv=p=0 "$v" | sort | paste -sd' ' -)" = "aac,LC h264,High,1280,720,yuv420p"
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$v")
t_check "it lasts the template's $(conf duration) s ($dur s), within $(conf min_duration)..$(conf max_duration) s" \
	awk -v d="$dur" -v want="$(conf duration)" -v lo="$(conf min_duration)" -v hi="$(conf max_duration)" \
	'BEGIN { exit !(d - want < 0.05 && want - d < 0.05 && d >= lo && d <= hi) }'
t_check "moov comes before mdat (+faststart)" \
	test "$(ffprobe -v trace "$v" 2>&1 | grep -oE "type:'(moov|mdat)' parent:'root'" | head -n 1)" = \
	"type:'moov' parent:'root'"
t_check "it decodes without errors" test -z "$(ffmpeg -nostdin -v error -i "$v" -f null - 2>&1)"
t_check "the thumbnail is a JPEG of at most 320x320" \
	awk -F, '$1 == "mjpeg" && $2 <= 320 && $3 <= 320 && $2 > 0 { ok = 1 } END { exit !ok }' \
	< <(ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 "$w/thumb.jpg")
# The name: where the middle band of a frame differs from the background.
psnr "$v" 0 0.35 1 0.3 >"$T/middle"
named=$(awk '$1 != "inf" && $1 < 30' "$T/middle" | wc -l)
frames=$(wc -l <"$T/middle")
t_check "the name is on screen in most frames ($named of $frames)" test "$named" -gt $((frames / 2))
# The thumbnail: the frame from the middle of the name's window.
mid=$(awk -v a="$(conf name_start)" -v b="$(conf name_end)" -v f="$(conf fps)" \
	'BEGIN { printf "%d", (a + b) / 2 * f + 0.999 }')
like=$(ffmpeg -nostdin -v error -i "$w/thumb.jpg" -i "$v" -filter_complex \
	"[1:v]select=eq(n\\,$mid),scale=320:-2[f];[0:v][f]psnr=stats_file=-" -f null - |
	sed -n 's/.* psnr_avg:\([0-9.]*\).*/\1/p')
t_check "the thumbnail is frame $mid of the video (${like:-?} dB), the name on it ($(sed -n "$((mid + 1))p" "$T/middle") dB)" \
	awk -v l="${like:-0}" -v n="$(sed -n "$((mid + 1))p" "$T/middle")" 'BEGIN { exit !(l >= 30 && n < 30) }'
t_check "the work dir holds nothing but the outputs" \
	test "$(cd "$w" && find . -mindepth 1 -maxdepth 1 ! -name stdout ! -name stderr ! -name .config |
		sort | paste -sd' ' -)" = "./out.mp4 ./thumb.jpg"

w=$T/preview
render "$w" "Emma" GREETBOT_MODE=preview GREETBOT_OUTPUT="$w/voice.ogg" GREETBOT_THUMB=
exits 0 "preview mode" "$w"
t_check "writes the voice as OGG/Opus, mono, 48 kHz" \
	test "$(ffprobe -v error -show_entries stream=codec_name,sample_rate,channels:format=format_name \
		-of csv=p=0 "$w/voice.ogg" 2>/dev/null | paste -sd' ' -)" = "opus,48000,1 ogg"
t_check "of the spoken phrase (over half a second)" \
	awk '{ exit !($1 > 0.5) }' < <(ffprobe -v error -show_entries format=duration -of csv=p=0 "$w/voice.ogg")
t_check "and no thumbnail" test ! -e "$w/thumb.jpg"

# --- a small copy: the names parents may bring --------------------------------
# (Its background made small too: decoding the HD one would cost more than
# the render.)
small=$T/small
mkdir "$small"
ffmpeg -nostdin -v error -i "$tpl/$(conf background)" -vf scale=320:180 -c:v libx264 -preset ultrafast \
	-crf 18 -an "$small/background.mp4"
sed -e 's/^width = .*/width = 320/' -e 's/^height = .*/height = 180/' -e 's/^text_size = .*/text_size = 40/' \
	-e "s|^background = .*|background = background.mp4|" -e "s|^music = |music = $tpl/|" \
	"$tpl/template.conf" >"$small/template.conf"
big=$tpl
tpl=$small
# The validator's longest name (three words, 32 letters) of the widest letters.
w=$T/long
render "$w" "Wwwwwwwwwww Mmmmmmmmmm Wwwwwwwwwww"
exits 0 "the longest, widest name renders" "$w"
left=$(psnr "$w/out.mp4" 0 0.25 0.04 0.5 | sort -n | head -n 1)
right=$(psnr "$w/out.mp4" 0.96 0.25 0.04 0.5 | sort -n | head -n 1)
t_check "and stays inside the frame: its edges are the background's (${left:-?}, ${right:-?} dB)" \
	awk -v l="${left:-0}" -v r="${right:-0}" 'BEGIN { exit !(l >= 30 && r >= 30) }'
w=$T/hostile
render "$w" "O'Brien \$(touch pwned) \`touch pwned\` %{pts} {name} \\: ;, [x] & -i"
exits 0 "a name full of shell, filter and drawtext syntax renders" "$w"
t_check "and runs nothing" test -z "$(find "$T" -name pwned)"
t_check "its video is valid" test -z "$(ffmpeg -nostdin -v error -i "$w/out.mp4" -f null - 2>&1)"
# An NTSC rate, as an operator's own 29.97 fps footage has it.
mkdir "$T/ntsc"
sed 's/^fps = .*/fps = 29.97/' "$small/template.conf" >"$T/ntsc/template.conf"
ln -s "$small/background.mp4" "$T/ntsc/"
w=$T/ntsc-out
tpl=$T/ntsc render "$w" Emma
exits 0 "fps = 29.97 renders" "$w"
t_check "at exactly 30000/1001 fps, for the template's $(conf duration) s" \
	test "$(ffprobe -v error -select_streams v -show_entries stream=r_frame_rate:format=duration \
		-of csv=p=0 "$w/out.mp4" 2>/dev/null | paste -sd' ' -)" = "30000/1001 8.008000"

# --- exit codes -----------------------------------------------------------------
render "$T/x1" Emma GREETBOT_MODE=video2
exits 64 "an unknown GREETBOT_MODE" "$T/x1"
render "$T/x2" Emma GREETBOT_OUTPUT=
exits 64 "no GREETBOT_OUTPUT" "$T/x2"
render "$T/x3" Emma GREETBOT_THUMB=
exits 64 "no GREETBOT_THUMB for a video" "$T/x3"
for name in "" "   " $'Em\nma' "[[h'@l@U]]"; do
	render "$T/x4" "$name"
	exits 65 "a bad name $(printf '%q' "$name")" "$T/x4"
	rm -rf "$T/x4"
done
for edit in 's/^width = .*/width = wide/' 's/^name_end = .*/name_end = 9/' '/^voice = /d' \
	's/^text = .*/text = Hello/' 's|^background = .*|background = none.mp4|' \
	's|^font = .*|font = /no/such.ttf|' 's/^fps = .*/fps = 1;2/' \
	"s|^background = .*|background = $big/media/music.flac|" \
	"s|^music = .*|music = $small/template.conf|"; do
	mkdir -p "$T/broken"
	sed "$edit" "$small/template.conf" >"$T/broken/template.conf"
	ln -sf "$small/background.mp4" "$T/broken/"
	tpl=$T/broken render "$T/x5" Emma
	exits 78 "a broken template.conf ($edit): $(tail -n 1 "$T/x5/stderr")" "$T/x5"
	rm -rf "$T/x5"
done
tpl=$T/nowhere render "$T/x6" Emma
exits 78 "no template.conf" "$T/x6"
# ffmpeg failing (a stand-in first on PATH), and killed by a signal.
mkdir "$T/bin"
printf '#!/bin/sh\nexit 1\n' >"$T/bin/ffmpeg"
chmod 755 "$T/bin/ffmpeg"
render "$T/x7" Emma PATH="$T/bin:$PATH"
exits 75 "ffmpeg failing" "$T/x7"
printf '#!/bin/sh\nkill -KILL $$\n' >"$T/bin/ffmpeg"
render "$T/x8" Emma PATH="$T/bin:$PATH"
exits 137 "ffmpeg killed by SIGKILL: 128+9" "$T/x8"
tpl=$big
t_done

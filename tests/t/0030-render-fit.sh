#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# scripts/render.sh with what operators and parents bring: the longest
# names the validator accepts (32 letters, three words; Cyrillic and Latin,
# the widest letters) are drawn whole inside the frame on one or two lines,
# in every frame of the window; the name is on the thumbnail; an
# operator's own background (1920x1080 at 29.97 fps with sound, 720x1280
# portrait without, a three-minute clip) gives a video of the template's
# size, rate and length, and a file without a picture is refused with 78
# and a message that says so.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

tpl=$TOP/templates/ru-birthday
if [ ! -f "$tpl/media/background.mp4" ] || [ ! -f "$tpl/media/music.flac" ]; then
	cp -R "$tpl" "$T/ru-birthday"
	tpl=$T/ru-birthday
	"$TOP/scripts/gen-media.sh" "$tpl"
fi
conf_value() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$2/template.conf"; }
W=$(conf_value width "$tpl") H=$(conf_value height "$tpl") fps=$(conf_value fps "$tpl")
ns=$(awk -v s="$(conf_value name_start "$tpl")" -v f="$fps" 'BEGIN { printf "%d", s * f + 0.5 }')
ne=$(awk -v s="$(conf_value name_end "$tpl")" -v f="$fps" 'BEGIN { printf "%d", s * f + 0.5 }')
# The names are measured on a copy of the template over a plain background:
# what differs from it is the name alone (the shipped party background is
# busy enough that its encoding noise would hide where the name ends).
ffmpeg -nostdin -v error -y -f lavfi -i "color=c=0x40306A:s=${W}x$H:r=$fps:d=2" -c:v libx264 \
	-preset ultrafast "$T/plain.mp4"
cp -R "$tpl" "$T/plain-tpl"
sed -i "s|^background.*|background = $T/plain.mp4|" "$T/plain-tpl/template.conf"
ptpl=$T/plain-tpl

# render DIR NAME TEMPLATE_DIR CACHE: as greetbotd runs it; rc is set.
render() {
	mkdir -p "$1"
	rc=0
	(cd "$1" && env -i PATH="$PATH" HOME="$1" LANG=C.UTF-8 GREETBOT_NAME="$2" \
		GREETBOT_TEMPLATE_DIR="$3" GREETBOT_CACHE_DIR="$4" GREETBOT_OUTPUT="$1/out.mp4" \
		GREETBOT_THUMB="$1/thumb.jpg" "$TOP/scripts/render.sh" >"$1/stdout" 2>"$1/stderr") || rc=$?
}

# bbox VIDEO: "x1 x2 y1 y2", the box around everything that differs
# (by more than encoding noise) between the window's frames and the cached
# background the name is drawn on: the union over all of them, as
# cropdetect keeps it, entrance and its overshoot included; the last
# half second is left out, where the name only shrinks away and the confetti
# (noisier to encode) comes back.
bbox() {
	local wcat
	wcat=$(find "$T/cache" -path '*/static-*/w.ffconcat' | head -n 1)
	ffmpeg -nostdin -v info -i "$1" -f concat -safe 0 -i "$wcat" -filter_complex \
		"[0:v]trim=start_frame=$ns:end_frame=$((ne - fps / 2)),setpts=PTS-STARTPTS[a];[a][1:v]blend=all_mode=difference:shortest=1,format=gray,lut=y='if(gt(val,64),255,0)',cropdetect=limit=2:round=1:reset_count=0" \
		-f null - 2>&1 | sed -n 's/.*x1:\([0-9]*\) x2:\([0-9]*\) y1:\([0-9]*\) y2:\([0-9]*\).*/\1 \2 \3 \4/p' |
		tail -n 1
}

# The longest names: three words, 32 letters, of the widest letters of
# each script, and a single 32-letter word.
names=("Жжжжжжжжжжж Шшшшшшшшшш Щщщщщщщщщщщ" "Wwwwwwwwwww Mmmmmmmmmm Wwwwwwwwwww"
	"Ююююююююююююююююююююююююююююююю" "Маша")
i=0
for name in "${names[@]}"; do
	i=$((i + 1))
	render "$T/n$i" "$name" "$ptpl" "$T/cache"
	if [ "$rc" -ne 0 ]; then
		t_fail "the name $name renders (exit $rc)"
		t_show "$T/n$i/stderr"
		continue
	fi
	read -r x1 x2 y1 y2 < <(bbox "$T/n$i/out.mp4") || true
	t_check "$name: drawn inside the frame in every frame (box ${x1:-?}-${x2:-?} x ${y1:-?}-${y2:-?} of ${W}x$H)" \
		test "${x1:-0}" -gt 4 -a "${x2:-$W}" -lt $((W - 5)) -a "${y1:-0}" -gt 4 -a "${y2:-$H}" -lt $((H - 5))
	lines=$(sed -n 's/^render.sh: the name in \([0-9]\) line(s).*/\1/p' "$T/n$i/stderr")
	case $name in
	*' '*) want=2 ;;
	*) want=1 ;;
	esac
	[ "$name" != Маша ] || want=1
	t_check "$name: on $want line(s) (render.sh says ${lines:-?})" test "${lines:-0}" = "$want"
	# Drawn large enough to read: at least 40% of the width (a 32-letter
	# name) or, for a short name, a tall box.
	t_check "$name: drawn large (box $((${x2:-0} - ${x1:-0})) x $((${y2:-0} - ${y1:-0})) px)" \
		test $((${x2:-0} - ${x1:-0})) -gt $((W * 40 / 100)) -o $((${y2:-0} - ${y1:-0})) -gt $((H / 6))
done

# The thumbnail shows the name: it differs from the same frame of the
# background without it (scaled alike) far more than encoding noise.
wcat=$(find "$T/cache" -path '*/static-*/w.ffconcat' | head -n 1)
k=$(((ne - ns) * 2 / 3))
ffmpeg -nostdin -v error -y -f concat -safe 0 -i "$wcat" -vf "select=eq(n\,$k),scale=320:320:force_original_aspect_ratio=decrease" \
	-frames:v 1 "$T/bg-thumb.png"
psnr=$(ffmpeg -nostdin -v info -i "$T/n4/thumb.jpg" -i "$T/bg-thumb.png" -lavfi psnr -f null - 2>&1 |
	sed -n 's/.*average:\([0-9.inf]*\).*/\1/p')
t_check "the thumbnail shows the name (PSNR ${psnr:-?} dB against the background alone)" \
	awk -v p="${psnr:-99}" 'BEGIN { exit !(p < 25) }'

# The name is on screen for at least half of the video.
dur=$(conf_value duration "$tpl")
t_check "the name is on screen $(((ne - ns) * 100 / (${dur%.*} * fps)))% of the video" \
	test $(((ne - ns) * 2)) -ge $((${dur%.*} * fps))

# Operators' backgrounds, in a shorter copy of the template (the window
# inside it) so that each static build is quick.
bgt() {
	rm -rf "$T/bg-$1"
	cp -R "$tpl" "$T/bg-$1"
	sed -i -e "s|^background.*|background = $2|" -e 's/^duration.*/duration = 6/' \
		-e 's/^name_start.*/name_start = 1/' -e 's/^name_end.*/name_end = 4/' \
		-e 's/^outro_start.*/outro_start = 3/' -e 's/^voice_offset.*/voice_offset = 0.5/' \
		"$T/bg-$1/template.conf"
}
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=1920x1080:r=30000/1001:d=3" \
	-f lavfi -i "sine=f=440:d=3" -c:v libx264 -preset ultrafast -c:a aac -shortest "$T/hd.mp4"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=720x1280:r=24:d=2" \
	-c:v libx264 -preset ultrafast "$T/portrait.mp4"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc=s=320x240:r=10:d=180" \
	-c:v libx264 -preset ultrafast "$T/long.mp4"
ffmpeg -nostdin -v error -y -f lavfi -i "sine=f=440:d=3" -c:a aac "$T/sound.m4a"
for c in "hd:$T/hd.mp4:1920x1080 29.97 fps with sound" "portrait:$T/portrait.mp4:720x1280 portrait, no sound" \
	"long:$T/long.mp4:a three-minute clip"; do
	IFS=: read -r id file desc <<<"$c"
	bgt "$id" "$file"
	render "$T/r-$id" "Маша" "$T/bg-$id" "$T/cache-$id"
	if [ "$rc" -ne 0 ]; then
		t_fail "a background of $desc renders (exit $rc)"
		t_show "$T/r-$id/stderr"
		continue
	fi
	got=$(ffprobe -v error -select_streams v -show_entries stream=width,height,r_frame_rate:format=duration \
		-of csv=p=0 "$T/r-$id/out.mp4" | paste -sd' ' -)
	t_check "a background of $desc gives ${W}x$H at $fps fps, 6 s ($got)" \
		test "$got" = "$W,$H,$fps/1 6.000000"
	t_check "and that video decodes without errors" \
		test -z "$(ffmpeg -nostdin -v error -i "$T/r-$id/out.mp4" -f null - 2>&1)"
done
bgt sound "$T/sound.m4a"
render "$T/r-sound" "Маша" "$T/bg-sound" "$T/cache-sound"
t_check "a background without a picture exits 78 (exit $rc)" test "$rc" -eq 78
t_check "saying it has no video stream" grep -q 'background .*sound.m4a has no video stream' "$T/r-sound/stderr"
t_done

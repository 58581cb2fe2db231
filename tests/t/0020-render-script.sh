#!/usr/bin/env bash
# scripts/render.sh on its own, run as greetbotd runs it (clean environment,
# fresh work directory): a playable video within the template's bounds, the
# cache shared and reused, preview voice, hostile names kept inert, and the
# exit codes for a bad name and a broken template.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

tpl=$TOP/templates/ru-birthday
# The media come from `make media`; without it, generate them in a copy.
if [ ! -f "$tpl/media/background.mp4" ] || [ ! -f "$tpl/media/music.flac" ]; then
	cp -R "$tpl" "$T/ru-birthday"
	tpl=$T/ru-birthday
	"$TOP/scripts/gen-media.sh" "$tpl"
fi
cache=$T/cache

# render DIR NAME [VAR=VALUE...]: run render.sh in the fresh work dir DIR
# with exactly the contract's environment (VAR=VALUE overrides it); stdout
# and stderr go to DIR/stdout and DIR/stderr, and rc is set.
render() {
	local w=$1 name=$2
	shift 2
	mkdir -p "$w"
	rc=0
	(cd "$w" && env -i PATH="$PATH" HOME="$w" LANG=C.UTF-8 \
		GREETBOT_NAME="$name" GREETBOT_TEMPLATE_DIR="$tpl" \
		GREETBOT_CACHE_DIR="$cache" GREETBOT_OUTPUT="$w/out.mp4" \
		GREETBOT_THUMB="$w/thumb.jpg" GREETBOT_MODE=video "$@" \
		"$TOP/scripts/render.sh" >"$w/stdout" 2>"$w/stderr") || rc=$?
}

# check_rc DESC WANT DIR: one check on the last rc, showing stderr when off.
check_rc() {
	if [ "$rc" -eq "$2" ]; then
		t_ok "$1"
	else
		t_fail "$1 (exit $rc, want $2)"
		t_show "$3/stderr"
	fi
}

# The cache's files with their inode and change time, to see re-creation.
cache_state() { find "$cache" -type f -printf '%p %i %C@\n' | sort; }

conf_value() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$tpl/template.conf"; }

# Cold cache: two jobs at once, as two workers would run them.
render "$T/w1" "Маша" &
p1=$!
render "$T/w2" "Анна-Мария" &
p2=$!
rc=0
wait "$p1" || rc=$?
check_rc "first render on a cold cache exits 0" 0 "$T/w1"
rc=0
wait "$p2" || rc=$?
check_rc "a concurrent render on the same cold cache exits 0" 0 "$T/w2"
t_check "the concurrent jobs built one cache entry" \
	test "$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'static-*' | wc -l)" -eq 1
t_check "progress lines on stdout, the last one 1.00" \
	test "$(tail -n 1 "$T/w1/stdout")" = "progress 1.00"
t_check "nothing but progress lines on stdout" \
	sh -c "! grep -v '^progress [01]\.[0-9][0-9]$' '$T/w1/stdout'"

v=$T/w1/out.mp4
streams=$(ffprobe -v error -show_entries stream=codec_type,codec_name -of csv=p=0 "$v" | sort |
	paste -sd' ' -)
t_check "one H.264 video and one AAC audio stream ($streams)" \
	test "$streams" = "aac,audio h264,video"
t_check "video is yuv420p" \
	test "$(ffprobe -v error -select_streams v -show_entries stream=pix_fmt -of csv=p=0 "$v")" = yuv420p
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$v")
lo=$(conf_value min_duration)
hi=$(conf_value max_duration)
t_check "duration $dur s within the template's bounds ($lo..$hi s)" \
	awk -v d="$dur" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(d >= lo && d <= hi) }'
t_check "the joined video decodes without errors" \
	test -z "$(ffmpeg -nostdin -v error -i "$v" -f null - 2>&1)"
peak=$(ffmpeg -nostdin -i "$v" -map 0:a -af volumedetect -f null - 2>&1 |
	sed -n 's/.*max_volume: \(-*[0-9.]*\) dB.*/\1/p')
t_check "the audio is not silent (peak ${peak:-?} dB)" \
	awk -v p="${peak:--99}" 'BEGIN { exit !(p > -20) }'
t_check "moov atom before mdat (+faststart)" \
	sh -c "head -c 65536 '$v' | grep -qa moov"
thumb_w=$(ffprobe -v error -show_entries stream=width -of csv=p=0 "$T/w1/thumb.jpg" 2>/dev/null) ||
	thumb_w=0
t_check "a JPEG thumbnail at most 320 px wide (${thumb_w:-0})" \
	test "${thumb_w:-0}" -gt 0 -a "${thumb_w:-0}" -le 320
t_check "the work dir holds only what the job asked for" \
	test "$(cd "$T/w1" && find . -mindepth 1 -maxdepth 1 ! -name '.config' | sort | paste -sd' ' -)" = \
	"./out.mp4 ./stderr ./stdout ./thumb.jpg"

# Warm cache: a new name reuses the cached parts untouched.
before=$(cache_state)
render "$T/w3" "Саша"
check_rc "a new name on a warm cache exits 0" 0 "$T/w3"
t_check "the cache files were reused, not re-created" test "$before" = "$(cache_state)"
t_check "that video is whole too" test "$(ffprobe -v error -show_entries format=duration \
	-of csv=p=0 "$T/w3/out.mp4")" = "$dur"

# Preview: the phrase alone, as a voice message.
render "$T/p1" "Маша" GREETBOT_MODE=preview GREETBOT_OUTPUT="$T/p1/voice.ogg"
check_rc "preview exits 0" 0 "$T/p1"
t_check "preview is OGG with one Opus stream, mono 48 kHz" \
	test "$(ffprobe -v error -show_entries format=format_name:stream=codec_name,channels,sample_rate \
		-of csv=p=0 "$T/p1/voice.ogg" 2>/dev/null | paste -sd' ' -)" = "opus,48000,1 ogg"

# Hostile names: rendered as text, never executed or expanded.
i=0
for name in "O'Brien: 100% \\ a,b; c" "\$(touch $T/pwned)" "\`touch $T/pwned2\`" \
	"%{pts} %{eif:1:d} {name} [x];drawtext=text=y"; do
	i=$((i + 1))
	render "$T/h$i" "$name"
	check_rc "hostile name $i renders: $name" 0 "$T/h$i"
done
t_check "nothing in a name was executed" test ! -e "$T/pwned" -a ! -e "$T/pwned2"
t_check "a hostile name's video is whole" test "$(ffprobe -v error -show_entries \
	format=duration -of csv=p=0 "$T/h2/out.mp4")" = "$dur"

# Bad names: 65.
render "$T/e1" ""
check_rc "an empty name exits 65" 65 "$T/e1"
render "$T/e2" "   "
check_rc "a blank name exits 65" 65 "$T/e2"
render "$T/e3" "$(printf 'a\001b')"
check_rc "a name with a control character exits 65" 65 "$T/e3"
render "$T/e4" "$(printf 'a\377b')"
check_rc "a name that is not UTF-8 exits 65" 65 "$T/e4"

# Broken templates: 78.
broken=$T/broken
cp -R "$tpl" "$broken"
rm -f "$broken/media/background.mp4"
render "$T/b1" "Маша" GREETBOT_TEMPLATE_DIR="$broken"
check_rc "a template with a missing background exits 78" 78 "$T/b1"
cp "$tpl/media/background.mp4" "$broken/media/background.mp4"
sed -i 's/^voice.*/voice = zz-nope/' "$broken/template.conf"
render "$T/b2" "Маша" GREETBOT_TEMPLATE_DIR="$broken"
check_rc "a template without a usable voice exits 78" 78 "$T/b2"
cp "$tpl/template.conf" "$broken/template.conf"
echo "name_end = 99" >>"$broken/template.conf"
render "$T/b3" "Маша" GREETBOT_TEMPLATE_DIR="$broken"
check_rc "a template with a repeated key exits 78" 78 "$T/b3"
cp "$tpl/template.conf" "$broken/template.conf"
sed -i 's/^text_x.*/text_x = w,0/' "$broken/template.conf"
render "$T/b4" "Маша" GREETBOT_TEMPLATE_DIR="$broken"
check_rc "a template with an unsafe position expression exits 78" 78 "$T/b4"
cp "$tpl/template.conf" "$broken/template.conf"
printf 'fake\n' >"$broken/media/background.mp4"
render "$T/b5" "Маша" GREETBOT_TEMPLATE_DIR="$broken" GREETBOT_CACHE_DIR="$T/cache2"
check_rc "a template whose background is not a video exits 78" 78 "$T/b5"
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# scripts/render.sh on its own, run as greetbotd runs it (clean environment,
# fresh work directory): a playable video within the template's bounds, the
# cache shared and reused, seamless joins with the cached sound, windows at
# the very start and end, the concat join and its fallback, the outro,
# preview voice, hostile names kept inert and drawn literally, and the exit
# codes for a bad name and a broken template.
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
# Every frame: the window is read back from chunks of the cached raw copy,
# and none of them may lose a frame where it meets the next.
frames=$(ffprobe -v error -select_streams v -count_packets -show_entries stream=nb_read_packets \
	-of csv=p=0 "$v")
t_check "every frame is there: $frames, $(conf_value duration) s at $(conf_value fps) fps" \
	test "$frames" = $(($(conf_value duration) * $(conf_value fps)))
t_check "each its own time" test -z "$(ffprobe -v error -select_streams v -show_entries \
	packet=pts -of csv=p=0 "$v" | sort -n | uniq -d)"
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

# No click at the joins: outside the voice (with its ducking: from 150 ms
# before it to 250 ms after), the sound decodes as the cached bed does, so
# the AAC frames encoded per name meet the cached ones seamlessly; a
# misplaced join differs by -30 dB or more there. The voice's length comes
# from espeak-ng run here the same way.
bed=$(find "$cache" -path '*/static-*/bed.m4a' | head -n 1)
espeak-ng -b 1 -v "$(conf_value voice)" -s "$(conf_value voice_rate)" -p "$(conf_value voice_pitch)" \
	-w "$T/voice.wav" "$(conf_value phrase | sed 's/{name}/Маша/')" >/dev/null 2>&1 || true
read -r vrate _ _ vsize < <(od -An -tu4 -j28 -N16 "$T/voice.wav" 2>/dev/null) || true
ffmpeg -nostdin -v error -i "$T/w1/out.mp4" -map 0:a -f f32le -c:a pcm_f32le "$T/out.raw" || true
ffmpeg -nostdin -v error -i "$bed" -f f32le -c:a pcm_f32le "$T/bed.raw" || true
# seams RAW BED VS VE: the loudest 1024-sample block of the difference
# before VS and after VE (seconds), and inside, in dBFS.
seams() {
	perl -e '
		local $/; open(my $a, "<:raw", $ARGV[0]) or die; open(my $b, "<:raw", $ARGV[1]) or die;
		my @a = unpack "f<*", <$a>; my @b = unpack "f<*", <$b>;
		my ($vs, $ve) = ($ARGV[2] * 48000, $ARGV[3] * 48000);
		my ($out, $in) = (-200, -200);
		for (my $j = 0; ($j + 1) * 1024 <= @a && ($j + 1) * 1024 <= @b; $j++) {
			my $e = 0;
			$e += ($a[$_] - $b[$_]) ** 2 for $j * 1024 .. $j * 1024 + 1023;
			my $db = 10 * log($e / 1024 + 1e-20) / log(10);
			if (($j + 1) * 1024 <= $vs || $j * 1024 >= $ve) { $out = $db if $db > $out }
			else { $in = $db if $db > $in }
		}
		printf "%.0f %.0f\n", $out, $in' "$@"
}
if [ -n "${vsize:-}" ] && [ -s "$T/out.raw" ] && [ -s "$T/bed.raw" ]; then
	vs=$(awk -v s="$(conf_value name_start)" -v o="$(conf_value voice_offset)" 'BEGIN { print s + o - 0.15 }')
	ve=$(awk -v s="$vs" -v b="$vsize" -v r="$vrate" 'BEGIN { print s + 0.15 + b / r + 0.25 }')
	read -r outside inside < <(seams "$T/out.raw" "$T/bed.raw" "$vs" "$ve")
	t_check "outside the voice the sound is the cached bed's, joins included (${outside} dB)" \
		test "$outside" -lt -50
	t_check "the voice is in the mix (${inside} dB over the bed)" test "$inside" -gt -30
else
	t_fail "could not compare the sound with the cached bed"
fi

# Edge windows: from the very start (nothing cached before it, the sound
# encoded from its first frame) and to the very end (nothing after it, a
# long phrase sped up into the final fade).
edge=$T/edge
for w in "0 1.2 0" "10.6 12 0.5"; do
	read -r s e o <<<"$w"
	rm -rf "$edge"
	cp -R "$tpl" "$edge"
	sed -i -e "s/^name_start.*/name_start = $s/" -e "s/^name_end.*/name_end = $e/" \
		-e "s/^voice_offset.*/voice_offset = $o/" \
		-e 's/^phrase.*/phrase = {name}, с днём рождения, счастья, радости и много подарков!/' \
		"$edge/template.conf"
	render "$T/x$s" "Маша" GREETBOT_TEMPLATE_DIR="$edge" GREETBOT_CACHE_DIR="$T/cache-$s"
	check_rc "a window from $s s to $e s renders" 0 "$T/x$s"
	t_check "that video is whole and decodes without errors" sh -c "
		test \"\$(ffprobe -v error -show_entries format=duration -of csv=p=0 '$T/x$s/out.mp4')\" = '$dur' &&
		test -z \"\$(ffmpeg -nostdin -v error -i '$T/x$s/out.mp4' -f null - 2>&1)\""
done

# The concat join (template.conf join = concat, and the fallback when the
# fast joiner fails): the same picture, joined by ffmpeg's concat demuxer,
# the whole sound mixed again; a whole, +faststart video.
cj=$T/concat-tpl
cp -R "$tpl" "$cj"
echo 'join = concat' >>"$cj/template.conf"
render "$T/j1" "Маша" GREETBOT_TEMPLATE_DIR="$cj" GREETBOT_CACHE_DIR="$T/cache-j"
check_rc "join = concat renders" 0 "$T/j1"
frames() { ffmpeg -nostdin -v error -i "$1" -map 0:v -f md5 - 2>/dev/null; }
t_check "its frames are those of the fast join" test "$(frames "$T/j1/out.mp4")" = "$(frames "$T/w1/out.mp4")"
t_check "it decodes without errors, $dur s, moov before mdat" sh -c "
	test \"\$(ffprobe -v error -show_entries format=duration -of csv=p=0 '$T/j1/out.mp4')\" = '$dur' &&
	test -z \"\$(ffmpeg -nostdin -v error -i '$T/j1/out.mp4' -f null - 2>&1)\" &&
	head -c 64 '$T/j1/out.mp4' | grep -q moov"
mkdir -p "$T/badperl"
printf '#!/bin/sh\necho "joiner broken on purpose" >&2\nexit 1\n' >"$T/badperl/perl"
chmod 755 "$T/badperl/perl"
render "$T/j2" "Маша" PATH="$T/badperl:$PATH"
check_rc "a failing fast join falls back to the concat demuxer" 0 "$T/j2"
t_check "and says so on stderr" grep -q 'fast join failed, joining with the concat demuxer' "$T/j2/stderr"
t_check "with the same frames" test "$(frames "$T/j2/out.mp4")" = "$(frames "$T/w1/out.mp4")"

# Preview: the phrase alone, as a voice message.
render "$T/p1" "Маша" GREETBOT_MODE=preview GREETBOT_OUTPUT="$T/p1/voice.ogg"
check_rc "preview exits 0" 0 "$T/p1"
t_check "preview is OGG with one Opus stream, mono 48 kHz" \
	test "$(ffprobe -v error -show_entries format=format_name:stream=codec_name,channels,sample_rate \
		-of csv=p=0 "$T/p1/voice.ogg" 2>/dev/null | paste -sd' ' -)" = "opus,48000,1 ogg"

# Hostile names: rendered as text, never executed or expanded. With a
# smaller text_size (not part of the cache: the same entry serves), so
# that each fits one line, as the reference below draws it.
small=$T/small-tpl
cp -R "$tpl" "$small"
sed -i 's/^text_size.*/text_size = 28/' "$small/template.conf"
i=0
for name in "O'Brien: 100% \\ a,b; c" "\$(touch $T/pwned)" "\`touch $T/pwned2\`" \
	"%{pts} %{eif:1:d} {name} [x];drawtext=text=y"; do
	i=$((i + 1))
	render "$T/h$i" "$name" GREETBOT_TEMPLATE_DIR="$small"
	check_rc "hostile name $i renders: $name" 0 "$T/h$i"
done
t_check "nothing in a name was executed" test ! -e "$T/pwned" -a ! -e "$T/pwned2"

# The frames show each hostile name literally: the middle of the window
# (full opacity) against a reference drawn here from the cached window
# background with ffmpeg's own drawtext reading the name from a file
# (expansion off), at the size render.sh fits the text to. The reference
# must be much closer (PSNR) than one drawn with a wrong text: the name as
# drawtext would have expanded it, or with its first character dropped.
wcat=$(find "$cache" -path '*/static-*/w.ffconcat' | head -n 1)
fps=$(conf_value fps)
mid=$(awk -v s="$(conf_value name_start)" -v e="$(conf_value name_end)" -v f="$fps" \
	'BEGIN { printf "%d", (e - s) / 2 * f + 0.5 }')
at=$(awk -v s="$(conf_value name_start)" -v f="$fps" -v m="$mid" 'BEGIN { printf "%d", s * f + 0.5 + m }')
# text_area in pixels (x y w h), as render.sh derives it, and its middle.
read -r ax ay aw ah < <(awk -v a="$(conf_value text_area)" -v W="$(conf_value width)" \
	-v H="$(conf_value height)" 'BEGIN {
	if (a == "") a = "0.05 0.3 0.9 0.4"
	split(a, v, " ")
	printf "%d %d %d %d\n", W * v[1] + 1e-6, H * v[2] + 1e-6, W * v[3] + 1e-6, H * v[4] + 1e-6 }')
cx=$((ax + aw / 2)) cy=$((ay + ah / 2))
# ref TEXT_FILE SIZE OUT_PNG: the reference frame for the text in
# TEXT_FILE at SIZE px (what render.sh said on stderr), placed as
# render.sh places one centred line once it has popped in: in the middle
# of text_area (the middle of the frame by default), with the shadow
# template.conf gives it (1/30 em + 1 px down, black@0.35, by default).
ref() {
	local sx sy sc
	sc=$(conf_value text_shadow_color)
	sx=$(awk -v p="$2" -v s="$(conf_value text_shadow_x)" 'BEGIN { printf "%d", (p * s * 1000 + 500) / 1000 }')
	sy=$(awk -v p="$2" -v s="$(conf_value text_shadow_y)" 'BEGIN {
		if (s == "") printf "%d", int(p / 30) + 1; else printf "%d", (p * s * 1000 + 500) / 1000 }')
	ffmpeg -nostdin -v error -y -f concat -safe 0 -i "$wcat" -vf "select=eq(n\,$mid),drawtext=fontfile=$(conf_value font):textfile=$1:expansion=none:fontsize=$2:fontcolor=$(conf_value text_color):borderw=$(conf_value text_border_width):bordercolor=$(conf_value text_border_color):shadowcolor=${sc:-black@0.35}:shadowx=$sx:shadowy=$sy:x=$cx-text_w/2:y=$cy+$2*0.36-ascent" \
		-frames:v 1 "$3"
}
# psnr A B [CROP]: the PSNR of picture A against B, over the area CROP (a
# crop filter) only when given.
psnr() {
	ffmpeg -nostdin -v info -i "$1" -i "$2" \
		-lavfi "[0:v]${3:-null}[a];[1:v]${3:-null}[b];[a][b]psnr" -f null - 2>&1 |
		sed -n 's/.*average:\([0-9.inf]*\).*/\1/p' | sed 's/inf/99/'
}
i=0
for name in "O'Brien: 100% \\ a,b; c" "\$(touch $T/pwned)" "\`touch $T/pwned2\`" \
	"%{pts} %{eif:1:d} {name} [x];drawtext=text=y"; do
	i=$((i + 1))
	printf '%s' "$name" >"$T/lit$i.txt"
	printf '%s' "${name:1}" >"$T/wrong$i.txt"
	[ "$i" -ne 4 ] || printf '%s' "3.400000 3 Маша [x];drawtext=text=y" >"$T/wrong$i.txt"
	ffmpeg -nostdin -v error -y -i "$T/h$i/out.mp4" -vf "select=eq(n\,$at)" -frames:v 1 "$T/got$i.png"
	px=$(sed -n 's/^render.sh: the name in 1 line(s) at \([0-9]*\) px$/\1/p' "$T/h$i/stderr")
	ref "$T/lit$i.txt" "${px:-0}" "$T/ref$i.png"
	ref "$T/wrong$i.txt" "${px:-0}" "$T/bad$i.png"
	# Over the line's band of text_area: the background around it is
	# busy, and its encoding noise would drown the text's difference.
	band="crop=$aw:$((4 * ${px:-0})):$ax:$((cy - 2 * ${px:-0}))"
	good=$(psnr "$T/got$i.png" "$T/ref$i.png" "$band")
	bad=$(psnr "$T/got$i.png" "$T/bad$i.png" "$band")
	t_check "hostile name $i is drawn literally (PSNR ${good:-?} dB against ${bad:-?} dB for a wrong text)" \
		awk -v g="${good:-0}" -v b="${bad:-99}" 'BEGIN { exit !(g >= 28 && g >= b + 5) }'
done
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
render "$T/e5" "$(printf 'a\364\220\200\200b')"
check_rc "a name with a code point past U+10FFFF exits 65" 65 "$T/e5"
render "$T/e6" "Маша [[h@'l@U]]"
check_rc "a name with espeak-ng phoneme input ([[) exits 65" 65 "$T/e6"

# Broken templates: 78.
broken=$T/broken
cp -R "$tpl" "$broken"
rm -f "$broken/media/background.mp4"
render "$T/b1" "Маша" GREETBOT_TEMPLATE_DIR="$broken"
check_rc "a template with a missing background exits 78" 78 "$T/b1"
printf 'fake\n' >"$broken/media/background.mp4"
render "$T/b2" "Маша" GREETBOT_TEMPLATE_DIR="$broken" GREETBOT_CACHE_DIR="$T/cache2"
check_rc "a template whose background is not a video exits 78" 78 "$T/b2"
cp "$tpl/media/background.mp4" "$broken/media/background.mp4"

# broken_conf N DESC EDIT...: the template's own template.conf, changed by
# EDIT (given the file as its last argument), makes the render exit 78.
append() { printf '%s\n' "$1" >>"$2"; }
broken_conf() {
	local n=$1 desc=$2
	shift 2
	cp "$tpl/template.conf" "$broken/template.conf"
	"$@" "$broken/template.conf"
	render "$T/c$n" "Маша" GREETBOT_TEMPLATE_DIR="$broken"
	check_rc "$desc" 78 "$T/c$n"
}
broken_conf 1 "a template without a usable voice exits 78" sed -i 's/^voice.*/voice = zz-nope/'
broken_conf 2 "a template with a repeated key exits 78" append "name_end = 99"
broken_conf 3 "a template with an unsafe position expression exits 78" \
	sed -i 's/^text_x.*/text_x = w,0/'
broken_conf 4 "a template whose static outro holds {name} exits 78" \
	sed -i 's/^outro .*/outro = Hello {name}/'
broken_conf 5 "a template with an unknown join exits 78" append "join = magic"
broken_conf 6 "a template with crf 0 (lossless, not in the High profile) exits 78" append "crf = 0"
t_check "and says so before encoding anything" grep -q "'crf' must be an integer from 1 to 51" "$T/c6/stderr"
# 151 frames at 30 fps last 5.0333 s, longer than max_duration 5.033.
broken_conf 7 "a template whose frames run past max_duration exits 78" \
	sed -i 's/^fps.*/fps = 30/; s/^duration.*/duration = 5.033/; s/^max_duration.*/max_duration = 5.033/; s/^name_end.*/name_end = 4/'
t_check "and names the bounds" grep -q 'need min_duration <= duration <= max_duration' "$T/c7/stderr"

# How an ffmpeg failure is reported (a stub ffmpeg first in PATH, on a
# cold cache so that the static build is what fails): killed by a signal
# it cannot catch, the shell's 128+N for greetbotd to classify; stopped by
# one it catches (it exits 255) or an encoder that does not start, 75,
# not a broken template.
stub_ff() {
	mkdir -p "$T/ff$1"
	printf '#!/bin/sh\n%s\n' "$2" >"$T/ff$1/ffmpeg"
	chmod 755 "$T/ff$1/ffmpeg"
	render "$T/f$1" "Маша" PATH="$T/ff$1:$PATH" GREETBOT_CACHE_DIR="$T/cache-f$1"
}
stub_ff 1 'kill -SEGV $$'
check_rc "ffmpeg killed by SIGSEGV: exit 139" 139 "$T/f1"
t_check "and says so" grep -q 'killed by signal 11' "$T/f1/stderr"
stub_ff 2 'exit 255'
check_rc "ffmpeg stopped by a signal it catches: exit 75" 75 "$T/f2"
stub_ff 3 'echo "Error while opening encoder for output stream #0:0" >&2; exit 1'
check_rc "an encoder that does not start: exit 75" 75 "$T/f3"

# A cache entry whose parts another encoder made (as after an ffmpeg or
# x264 upgrade; here the same settings but CAVLC) is made again rather
# than joined: the concat demuxer would decode every part with the first
# one's parameters.
render "$T/s1" "Маша" GREETBOT_CACHE_DIR="$T/cache-s"
sd=$(find "$T/cache-s" -mindepth 1 -maxdepth 1 -type d -name 'static-*')
for part in a c; do
	ffmpeg -nostdin -v error -i "$sd/$part.mp4" -c:v libx264 -x264-params cabac=0 -bf 0 \
		-g "$(conf_value fps | awk '{ print $1 * 2 }')" -pix_fmt yuv420p \
		-video_track_timescale "$(conf_value fps | awk '{ print $1 * 1000 }')" \
		-an "$T/$part.mp4" && mv "$T/$part.mp4" "$sd/$part.mp4"
done
render "$T/s2" "Маша" GREETBOT_CACHE_DIR="$T/cache-s"
check_rc "a render over a cache entry from another encoder exits 0" 0 "$T/s2"
t_check "and says it made the entry again" grep -q 'making them again' "$T/s2/stderr"
t_check "its frames are those of a render on a fresh cache" \
	test "$(frames "$T/s2/out.mp4")" = "$(frames "$T/w1/out.mp4")"

# A cache the render may not write (greetbotd's, sealed after a render
# of a sample name built it): read, never written; what it lacks (here
# everything) is made in the work dir. As root, the render runs as nobody.
ro_render() {
	local w=$1 name=$2 c=$3
	local -a as=()
	mkdir -p "$w"
	if [ "$(id -u)" -eq 0 ]; then
		chown nobody "$w"
		as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	fi
	rc=0
	(cd "$w" && "${as[@]}" env -i PATH="$PATH" HOME="$w" LANG=C.UTF-8 \
		GREETBOT_NAME="$name" GREETBOT_TEMPLATE_DIR="$T/ro-tpl" \
		GREETBOT_CACHE_DIR="$c" GREETBOT_OUTPUT="$w/out.mp4" \
		GREETBOT_THUMB="$w/thumb.jpg" GREETBOT_MODE=video \
		"$ro_script" >"$w/stdout" 2>"$w/stderr") || rc=$?
}
# (The script and the template as copies any user can read: the checkout
# may be in a directory nobody cannot search.)
ro_script=$(t_render_copy)
cp -R "$tpl" "$T/ro-tpl"
chmod -R a+rX "$T/ro-tpl"
render "$T/r0" "Даша" GREETBOT_TEMPLATE_DIR="$T/ro-tpl" GREETBOT_CACHE_DIR="$T/cache-r"
chmod -R a-w "$T/cache-r"
: >"$T/r0.stamp"
ro_render "$T/r1" "Маша" "$T/cache-r"
check_rc "a render over a complete read-only cache exits 0" 0 "$T/r1"
t_check "and makes nothing of its own (no static parts in its work dir)" \
	sh -c '! grep -q "making them in the work dir" "$1" && [ ! -d "$2/cache" ]' _ "$T/r1/stderr" "$T/r1"
t_check "it wrote nothing into the cache" \
	test -z "$(find "$T/cache-r" -newer "$T/r0.stamp" -print)"
t_check "its frames are those of a render on a writable cache" \
	test "$(frames "$T/r1/out.mp4")" = "$(frames "$T/w1/out.mp4")"
mkdir -p "$T/cache-e"
chmod a-w "$T/cache-e"
ro_render "$T/r2" "Маша" "$T/cache-e"
check_rc "a render over an empty read-only cache exits 0" 0 "$T/r2"
t_check "and says it made the static parts in its work dir" \
	grep -q 'read-only cache .* making them in the work dir' "$T/r2/stderr"
t_check "the empty cache stays empty" test -z "$(ls -A "$T/cache-e")"
chmod -R u+w "$T/cache-r" "$T/cache-e"

# The outro (static wishes after the name) is drawn from outro_start on,
# and not before: frames against a copy of the template without it.
no=$T/no-outro
cp -R "$tpl" "$no"
sed -i 's/^outro .*/outro =/' "$no/template.conf"
render "$T/o1" "Маша" GREETBOT_TEMPLATE_DIR="$no" GREETBOT_CACHE_DIR="$T/cache-o"
check_rc "a template without an outro renders" 0 "$T/o1"
frame_at() { ffmpeg -nostdin -v error -ss "$2" -i "$1" -frames:v 1 -f md5 - 2>/dev/null; }
ostart=$(conf_value outro_start)
t_check "the outro is on screen at the end" test "$(frame_at "$T/w1/out.mp4" "$(awk -v d="$dur" 'BEGIN { print d - 0.5 }')")" != \
	"$(frame_at "$T/o1/out.mp4" "$(awk -v d="$dur" 'BEGIN { print d - 0.5 }')")"
t_check "and not before outro_start ($ostart s)" test "$(frame_at "$T/w1/out.mp4" 1)" = "$(frame_at "$T/o1/out.mp4" 1)"
t_done

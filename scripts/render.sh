#!/bin/bash
# scripts/render.sh: render one personalised greeting video (or, in preview
# mode, the spoken phrase alone) for the name in $GREETBOT_NAME with the
# template in $GREETBOT_TEMPLATE_DIR. The contract with greetbotd
# (environment, progress lines, exit codes) is "Render script contract" in
# docs/ARCHITECTURE.md; the template format is templates/README.md.
#
# Speed: a new name costs one espeak-ng, one ffmpeg and one small perl.
# Once per template version, $GREETBOT_CACHE_DIR receives the video before
# and after the personalised window (encoded), the window's background
# (lossless) and the music bed (PCM and AAC). Per name, the one ffmpeg
# encodes only the window (same x264 settings) with its thumbnail, and only
# the stretch of audio that the voice changes (the bed mixed with the
# voice, from a few AAC frames before it to a few after). The perl joiner
# then writes the MP4 from the cached and the new samples without decoding
# anything: the window's frames go between the cached parts, the new audio
# frames replace the bed's frames at the same positions (both encodings
# share the frame grid and the signal where they meet, so the join is
# seamless).
#
# Safety: the name is never part of a command line that a shell parses, nor
# of an ffmpeg filter string. It is written to files with printf '%s' and
# read from there by espeak-ng (-f) and drawtext (textfile=). Template
# values that do reach filter strings are validated against strict
# patterns first, and every file path is reached through a symlink in the
# work directory (or, for the font, spelled out when it is made only of
# letters, digits and "_./-"), so no path in a filter needs quoting.
set -eu
shopt -u patsub_replacement 2>/dev/null || true
export LC_ALL=C.UTF-8

# Bump when what is cached changes shape, so old cache entries are ignored.
readonly RENDER_VERSION=5
readonly EX_USAGE=64 EX_DATAERR=65 EX_TEMPFAIL=75 EX_CONFIG=78
readonly MAX_NAME_CHARS=128
# Audio: sample rate, and the AAC frame length in samples.
readonly AR=48000 AF=1024

die() {
	local code=$1
	shift
	printf 'render.sh: %s\n' "$*" >&2
	exit "$code"
}

progress() { printf 'progress %s\n' "$1"; }

# in_range N MIN MAX: integer N lies in [MIN, MAX].
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# abspath PATH: set REPLY to PATH made absolute against the current
# directory. (Helpers on the per-name path set REPLY rather than print:
# a command substitution costs a fork.)
abspath() {
	case $1 in
	/*) REPLY=$1 ;;
	*) REPLY=$PWD/$1 ;;
	esac
}

# readable PATH: PATH is a readable regular file.
readable() { [ -f "$1" ] && [ -r "$1" ]; }

# ---------------------------------------------------------------------------
# Decimals: template times and gains are decimals with at most three
# fractional digits, handled as integer thousandths ("milli") so that bash
# arithmetic is enough.

# milli VALUE: set REPLY to VALUE * 1000; fail when VALUE is not a decimal.
milli() {
	[[ $1 =~ ^([0-9]{1,6})(\.([0-9]{1,3}))?$ ]] || return 1
	local frac=${BASH_REMATCH[3]}000
	REPLY=$((10#${BASH_REMATCH[1]} * 1000 + 10#${frac:0:3}))
}

# dec VAR MILLI: set VAR to a non-negative thousandths value as a decimal
# (no fork, as a command substitution would cost).
dec() { printf -v "$1" '%d.%03d' $(($2 / 1000)) $(($2 % 1000)); }

# ---------------------------------------------------------------------------
# template.conf: "key = value" lines, "#" comment lines, blank lines. Read
# line by line, never sourced. A repeated key is an error; an unknown one
# is reported on stderr (other parts of greetbot may read keys of their
# own) and otherwise ignored.

declare -A conf=()
declare -A m=()
declare -A known=()
for k in voice voice_fallbacks voice_rate voice_pitch voice_volume \
	voice_offset phrase font title title_size title_color title_x title_y text \
	text_size text_color text_border_color text_border_width text_x text_y \
	text_fade outro outro_start outro_size outro_color outro_x outro_y \
	duration name_start name_end min_duration max_duration \
	background music music_volume music_duck width height fps crf preset \
	media_style language join; do
	known[$k]=1
done

# conf_load FILE: fill conf[] from FILE.
conf_load() {
	local file=$1 line key val n=0
	readable "$file" || die $EX_CONFIG "cannot read $file"
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%$'\r'}
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		[[ $line =~ ^[[:space:]]*([a-z][a-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]] ||
			die $EX_CONFIG "$file:$n: expected 'key = value'"
		key=${BASH_REMATCH[1]}
		val=${BASH_REMATCH[2]}
		[[ $val =~ ^(.*[^[:space:]])?[[:space:]]*$ ]] && val=${BASH_REMATCH[1]}
		if [ -z "${known[$key]:-}" ]; then
			printf 'render.sh: %s:%d: unknown key %s ignored\n' "$file" "$n" "$key" >&2
			continue
		fi
		[ -z "${conf[$key]+set}" ] || die $EX_CONFIG "$file:$n: '$key' repeated"
		conf[$key]=$val
	done <"$file"
}

# need KEY...: the keys must be present and non-empty.
need() {
	local k
	for k; do
		[ -n "${conf[$k]:-}" ] || die $EX_CONFIG "template.conf: '$k' is required"
	done
}

# default KEY VALUE: give KEY a value when the template does not.
default() { [ -n "${conf[$1]+set}" ] || conf[$1]=$2; }

# num KEY MIN MAX: KEY is a decimal in [MIN, MAX] (both in thousandths);
# its thousandths go to m[KEY].
num() {
	local lo hi
	if ! milli "${conf[$1]}" || ! in_range "$REPLY" "$2" "$3"; then
		dec lo "$2"
		dec hi "$3"
		die $EX_CONFIG "template.conf: '$1' must be a number from $lo to $hi"
	fi
	m[$1]=$REPLY
}

# int KEY MIN MAX: KEY is an integer in [MIN, MAX].
int() {
	if [[ ! ${conf[$1]} =~ ^[0-9]{1,5}$ ]] || ! in_range $((10#${conf[$1]})) "$2" "$3"; then
		die $EX_CONFIG "template.conf: '$1' must be an integer from $2 to $3"
	fi
	conf[$1]=$((10#${conf[$1]}))
}

# color KEY: an ffmpeg colour (name or 0xRRGGBB[AA], optional @alpha).
color() {
	[[ ${conf[$1]} =~ ^[A-Za-z0-9#]+(@[0-9.]+)?$ ]] ||
		die $EX_CONFIG "template.conf: '$1' is not a colour"
}

# position KEY AXIS: a keyword or a drawtext expression. Expressions may
# use letters, digits, spaces and + - * / ( ) . _ only; that keeps them
# inert inside a quoted filter option (no quote, colon, comma, backslash).
position() {
	local v=${conf[$1]}
	case $2:$v in
	x:center) v='(w-text_w)/2' ;;
	y:center) v='(h-text_h)/2' ;;
	x:left) v='w*0.05' ;;
	x:right) v='w*0.95-text_w' ;;
	y:top) v='h*0.08' ;;
	y:bottom) v='h*0.92-text_h' ;;
	*) [[ $v =~ ^[A-Za-z0-9_.+*/()\ -]+$ ]] ||
		die $EX_CONFIG "template.conf: '$1' must be a keyword or a plain expression" ;;
	esac
	conf[$1]=$v
}

# tfile KEY: resolve KEY's path against the template dir into REPLY; it
# must be a readable file.
tfile() {
	case ${conf[$1]} in
	/*) REPLY=${conf[$1]} ;;
	*) REPLY=$tdir/${conf[$1]} ;;
	esac
	readable "$REPLY" ||
		die $EX_CONFIG "template.conf: $1: cannot read ${conf[$1]}"
}

# Validate the whole template and derive frame numbers. All checks run in
# both modes so that a broken template is caught at preview time.
conf_check() {
	need voice phrase text font duration name_start name_end \
		min_duration max_duration background width height fps
	default voice_fallbacks ''
	default voice_rate 150
	default voice_pitch 50
	default voice_volume 1
	default voice_offset 0.2
	default title ''
	default title_size 36
	default title_color white
	default title_x center
	default title_y top
	default text_size 64
	default text_color white
	default text_border_color black
	default text_border_width 2
	default text_x center
	default text_y center
	default text_fade 0.4
	default outro ''
	default outro_start "${conf[name_end]:-0}"
	default outro_size "${conf[title_size]}"
	default outro_color "${conf[title_color]}"
	default outro_x center
	default outro_y 'h*0.75'
	default music ''
	default music_volume 0.4
	default music_duck 0.5
	default crf 26
	default preset veryfast
	default join fast

	int voice_rate 80 450
	int voice_pitch 0 99
	num voice_volume 0 4000
	num voice_offset 0 10000
	int title_size 8 400
	int text_size 8 400
	int text_border_width 0 20
	num text_fade 0 5000
	num outro_start 0 60000
	int outro_size 8 400
	color outro_color
	position outro_x x
	position outro_y y
	color title_color
	color text_color
	color text_border_color
	position title_x x
	position title_y y
	position text_x x
	position text_y y
	num duration 1000 60000
	num name_start 0 60000
	num name_end 0 60000
	num min_duration 0 60000
	num max_duration 0 60000
	num music_volume 0 4000
	num music_duck 0 1000
	int width 64 1920
	int height 64 1920
	int fps 1 60
	# 0 would be lossless, which the High profile of every part cannot carry.
	int crf 1 51
	case ${conf[preset]} in
	ultrafast | superfast | veryfast | faster | fast | medium | slow) ;;
	*) die $EX_CONFIG "template.conf: 'preset' must be an x264 preset" ;;
	esac
	case ${conf[join]} in
	fast | concat) ;;
	*) die $EX_CONFIG "template.conf: 'join' must be fast or concat" ;;
	esac
	[ $((conf[width] % 2 + conf[height] % 2)) -eq 0 ] ||
		die $EX_CONFIG "template.conf: width and height must be even"
	[[ ${conf[text]} == *'{name}'* ]] ||
		die $EX_CONFIG "template.conf: 'text' must contain {name}"
	[[ ${conf[title]} != *'{name}'* ]] ||
		die $EX_CONFIG "template.conf: 'title' is static and cannot contain {name}"
	[[ ${conf[outro]} != *'{name}'* ]] ||
		die $EX_CONFIG "template.conf: 'outro' is static and cannot contain {name}"

	local fps=${conf[fps]}
	nt=$(((m[duration] * fps + 500) / 1000))
	ns=$(((m[name_start] * fps + 500) / 1000))
	ne=$(((m[name_end] * fps + 500) / 1000))
	if [ "$ns" -ge "$ne" ] || [ "$ne" -gt "$nt" ]; then
		die $EX_CONFIG "template.conf: need 0 <= name_start < name_end <= duration"
	fi
	# Times snapped to whole frames, in thousandths of a second.
	t_total=$((nt * 1000 / fps))
	t_start=$((ns * 1000 / fps))
	t_end=$((ne * 1000 / fps))
	# Checked on the exact length, nt/fps seconds, as greetbotd will.
	in_range $((nt * 1000)) $((m[min_duration] * fps)) $((m[max_duration] * fps)) ||
		die $EX_CONFIG "template.conf: need min_duration <= duration <= max_duration"

	tfile font
	font_path=$REPLY
	tfile background
	bg_path=$REPLY
	music_path=''
	if [ -n "${conf[music]}" ]; then
		tfile music
		music_path=$REPLY
	fi
}

# ---------------------------------------------------------------------------
# The cache directory.

# cache_init: set cache to $GREETBOT_CACHE_DIR, or to '' when it is unset
# or unusable.
cache_init() {
	cache=${GREETBOT_CACHE_DIR:-}
	if [ -n "$cache" ] && { [ -d "$cache" ] || mkdir -p "$cache" 2>/dev/null; } &&
		[ -w "$cache" ]; then
		return 0
	fi
	cache=''
}

# ---------------------------------------------------------------------------
# Voice: the template's voice, then its fallbacks, then the language's
# default voice (the voice name up to the first "-" or "+"). A candidate
# "lang+variant" needs both the voice and the variant to be installed.
# The choice is cached (voice-<candidates> in the cache directory), so that
# espeak-ng lists its voices once per template version rather than per
# name; a cached voice that espeak-ng rejects is chosen again.

declare -A voices=()

# Fill voices[] with every name espeak-ng accepts: language codes, voice
# names, voice files, and the "other languages" a voice also speaks.
voices_load() {
	local name
	while read -r name; do
		voices[$name]=1
	done < <(cat <(espeak-ng --voices 2>/dev/null) \
		<(espeak-ng --voices=variant 2>/dev/null) | awk '
		$1 == "Pty" { next }
		$2 == "variant" {
			sub(/^!v\//, "", $5); print "+" tolower($5); print "+" tolower($4)
			next
		}
		{
			print tolower($2); print tolower($4); print tolower($5)
			for (i = 6; i <= NF; i++) if ($i ~ /^\(/) print tolower(substr($i, 2))
		}')
}

# voice_pick [fresh]: set voice to the first available candidate, from the
# cache unless "fresh" is given.
voice_pick() {
	local c base variant lang file='' key
	local -a cands ok=()
	read -r -a cands <<<"${conf[voice]} ${conf[voice_fallbacks]}"
	lang=${cands[0]%%[-+]*}
	cands+=("$lang")
	for c in "${cands[@]}"; do
		[[ $c =~ ^[A-Za-z0-9_/-]+(\+[A-Za-z0-9_]+)?$ ]] && ok+=("$c")
	done
	voice_cached=''
	if [ -n "$cache" ] && [ "${#ok[@]}" -gt 0 ]; then
		key=${ok[*]}
		key=${key//\//%}
		file=$cache/voice-${key// /,}
		if [ -z "${1:-}" ] && [ -f "$file" ] && IFS= read -r voice <"$file" &&
			[ -n "$voice" ]; then
			voice_cached=$file
			[ "$voice" = "${cands[0]}" ] || printf 'render.sh: voice %s unavailable, using %s\n' \
				"${cands[0]}" "$voice" >&2
			return 0
		fi
	fi
	voices_load
	for c in "${ok[@]}"; do
		base=${c%%+*}
		base=${base,,}
		[ -n "${voices[$base]:-}" ] || continue
		if [[ $c == *+* ]]; then
			variant=${c#*+}
			[ -n "${voices[+${variant,,}]:-}" ] || continue
		fi
		voice=$c
		[ "$c" = "${cands[0]}" ] || printf 'render.sh: voice %s unavailable, using %s\n' \
			"${cands[0]}" "$c" >&2
		if [ -n "$file" ]; then
			# Written aside and renamed: readers see all of it or nothing.
			{ printf '%s\n' "$c" >"$file.$$" && mv -f "$file.$$" "$file"; } 2>/dev/null ||
				rm -f "$file.$$"
		fi
		return 0
	done
	die $EX_CONFIG "no usable espeak-ng voice among: ${cands[*]}"
}

# ---------------------------------------------------------------------------
# The name.

# utf8 STRING: STRING is valid UTF-8. In a UTF-8 locale, glibc's regex "."
# matches no invalid sequence (stray or overlong bytes, truncated
# characters) except encoded surrogates (U+D800-DFFF) and code points past
# U+10FFFF (lead bytes F4 90.. and F5..FF), checked bytewise.
utf8() {
	[[ $1 =~ ^.*$ ]] || return 1
	local LC_ALL=C
	[[ $1 != *$'\xed'[$'\xa0'-$'\xbf']* && $1 != *$'\xf4'[$'\x90'-$'\xbf']* &&
		$1 != *[$'\xf5'-$'\xff']* ]]
}

# name_check: reject what cannot be rendered (65): empty, control
# characters, invalid UTF-8, absurd length, and "[[", with which espeak-ng
# would read what follows as phonemes (the voice would say something else
# than the screen shows). Everything else, quotes and shell or ffmpeg
# metacharacters included, is just text here.
name_check() {
	name=${GREETBOT_NAME-}
	utf8 "$name" || die $EX_DATAERR "name is not valid UTF-8"
	[[ $name =~ ^[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] ||
		die $EX_DATAERR "empty name"
	name=${BASH_REMATCH[1]}
	[[ ! $name =~ [[:cntrl:]] ]] || die $EX_DATAERR "name has control characters"
	[ "${#name}" -le $MAX_NAME_CHARS ] || die $EX_DATAERR "name too long"
	[[ $name != *'[['* ]] || die $EX_DATAERR "name has '[[' (espeak-ng phoneme input)"
}

# put_name TEMPLATE: print TEMPLATE with "\n" made a newline and every
# {name} replaced by the name, literally (no pattern or & semantics).
put_name() {
	local rest=${1//'\n'/$'\n'} out=''
	while [[ $rest == *'{name}'* ]]; do
		out+=${rest%%'{name}'*}$name
		rest=${rest#*'{name}'}
	done
	printf '%s' "$out$rest"
}

# fit_size MAX TEXTFILE: set REPLY to a font size no larger than MAX at
# which the text's longest line fits ~92% of the width and all lines half
# the height (DejaVu Sans Bold is at most ~0.68 em per character in
# practice).
fit_size() {
	local size=$1 line len=1 lines=0 w=${conf[width]} h=${conf[height]}
	while IFS= read -r line || [ -n "$line" ]; do
		lines=$((lines + 1))
		[ "${#line}" -le "$len" ] || len=${#line}
	done <"$2"
	[ "$lines" -gt 0 ] || lines=1
	[ $((w * 92 / (len * 68))) -ge "$size" ] || size=$((w * 92 / (len * 68)))
	[ $((h * 5 / (lines * 12))) -ge "$size" ] || size=$((h * 5 / (lines * 12)))
	[ "$size" -ge 8 ] || size=8
	REPLY=$size
}

# ---------------------------------------------------------------------------
# ffmpeg.

# ff STEP THREADS ARGS...: run ffmpeg quietly, the decoder of its first
# input and its filters on THREADS threads. Thread pools are capped (here
# and in venc): many renders run side by side, all under one
# RLIMIT_NPROC. The steps per name run on one thread: what they decode and
# filter is light (x264 is most of the work), and more threads only cost
# CPU to keep in step (about 1% of a new name's) and count against
# RLIMIT_NPROC.
#
# On failure show the end of its log and exit:
# - 128+N when a signal it could not catch killed it (a hard limit, a
#   crash), as a shell would, for greetbotd to classify;
# - 75 when it stopped on a signal it catches (SIGXCPU: render_cpu; it
#   then exits 255), ran out of resources (disk, memory, processes,
#   threads) or an encoder did not start (all its settings are checked
#   above, so that is a resource too);
# - 78 when the log blames the template (a bad expression, colour or
#   medium), or for the static build, which only the template's media
#   can make fail otherwise: no retry would fix these;
# - 75 for anything else.
ff() {
	local step=$1 threads=$2 log=ffmpeg-$1.log rc=0
	shift 2
	ffmpeg -nostdin -hide_banner -loglevel error -y -threads "$threads" \
		-filter_complex_threads "$threads" "$@" 2>"$log" || rc=$?
	[ "$rc" -ne 0 ] || return 0
	local resources='no space left|disk quota|file too large|cannot allocate'
	resources+='|resource temporarily|error initializing threading|error while opening encoder'
	local template='error initializing (complex )?filter|error reinitializing filter'
	template+='|error configuring (filter graph|the [a-z0-9_]+ filter)|error parsing'
	template+='|undefined constant|unknown function|cannot find color'
	template+='|unable to parse|invalid data found'
	tail -n 20 "$log" >&2
	if [ "$rc" -gt 128 ] && [ "$rc" -ne 255 ]; then
		printf 'render.sh: ffmpeg (%s) killed by signal %d\n' "$step" $((rc - 128)) >&2
		exit "$rc"
	elif [ "$rc" -eq 255 ]; then
		die $EX_TEMPFAIL "ffmpeg failed ($step): stopped by a signal (render_cpu?)"
	elif grep -Eqi "$resources" "$log"; then
		die $EX_TEMPFAIL "ffmpeg failed ($step): out of resources"
	elif [ "$step" = static ] || grep -Eqi "$template" "$log"; then
		die $EX_CONFIG "ffmpeg failed ($step): the template looks broken"
	fi
	die $EX_TEMPFAIL "ffmpeg failed ($step)"
}

# venc THREADS: set enc to the x264 settings shared by the cached parts and
# the per-name segment: anything that differs between them would break the
# join (the thread count does not change the stream's parameters). No
# B-frames, so no part carries a reordering delay across a join.
venc() {
	enc=(-c:v libx264 -preset "${conf[preset]}" -crf "${conf[crf]}"
		-profile:v high -pix_fmt yuv420p -g $((conf[fps] * 2)) -bf 0 -threads "$1"
		-video_track_timescale $((conf[fps] * 1000)) -an)
}

# The AAC settings shared by the cached music bed and the per-name audio.
readonly -a AENC=(-c:a aac -q:a 1.5)

# drawtext FILE SIZE COLOR X Y [EXTRA]: set REPLY to drawtext options for
# a text file: font, colour, border, position.
drawtext() {
	printf -v REPLY "drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=%s:fontcolor=%s:borderw=%s:bordercolor=%s:x='%s':y='%s'%s" \
		"$font_ref" "$1" "$2" "$3" "${conf[text_border_width]}" "${conf[text_border_color]}" \
		"$4" "$5" "${6:-}"
}

# fades FIRST END: set REPLY to the filters that fade the whole sound in
# (50 ms) and out (the last 0.5 s), for a stretch of it from sample FIRST
# to END, or to "anull". FIRST is 0 or lies before the fade-out.
fades() {
	local f=()
	[ "$1" -gt 0 ] || f+=("afade=t=in:ss=0:ns=$((AR / 20))")
	[ "$2" -le "$a_fade" ] || f+=("afade=t=out:ss=$((a_fade - $1)):ns=$((a_total - a_fade))")
	[ "${#f[@]}" -gt 0 ] || f=(anull)
	local IFS=,
	REPLY=${f[*]}
}

# ---------------------------------------------------------------------------
# The static parts, once per template version.

# cache_key [stat]: set key to a hash of the settings the cached files
# depend on, with "stat" also of the size, time and inode of the files
# they are made from. FNV-1a (64-bit) in bash, as starting sha256sum would
# cost more.
cache_key() {
	local LC_ALL=C s i c h=-3750763034362895579
	printf -v s '%s\n' "$RENDER_VERSION" "${conf[width]}x${conf[height]}@${conf[fps]}" \
		"${conf[crf]} ${conf[preset]}" "$ns $ne $nt" "$bg_path" "$font_path" \
		"${conf[title]}" "${conf[title_size]} ${conf[title_color]}" \
		"${conf[title_x]} ${conf[title_y]}" \
		"${conf[outro]}" "${conf[outro_size]} ${conf[outro_color]} ${m[text_fade]}" \
		"${conf[outro_x]} ${conf[outro_y]} ${m[outro_start]}" \
		"${conf[text_border_width]} ${conf[text_border_color]}" \
		"$music_path" "${conf[music_volume]}"
	[ -z "${1:-}" ] ||
		s+=$(stat -L -c '%s %Y %i' "$bg_path" "$font_path" ${music_path:+"$music_path"})
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ (c & 255)) * 1099511628211))
	done
	printf -v key '%016x' "$h"
}

# static_build DIR: encode into DIR, from one decode of the background
# (looped if short) and of the music: the part before the window (a.mp4),
# after it (c.mp4), and the music bed at its volume, looped and trimmed to
# the video, faded in and out as AAC (bed.m4a, what is heard wherever the
# voice is not). w.nut holds a lossless copy of the window's background and
# the bed as PCM, which the per-name mix starts from: one input file, as
# ffmpeg gives each input of several a thread of its own.
static_build() {
	local out=$1 fps=${conf[fps]} W=${conf[width]} H=${conf[height]}
	local g n=0 maps=() labels='' music_in end
	venc 4
	g="[0:v]setpts=PTS-STARTPTS,scale=$W:$H:force_original_aspect_ratio=increase"
	g+=",crop=$W:$H,setsar=1,fps=$fps,format=yuv420p,trim=end_frame=$nt"
	if [ -n "${conf[title]}" ]; then
		put_name "${conf[title]}" >title.txt
		drawtext title.txt "${conf[title_size]}" "${conf[title_color]}" \
			"${conf[title_x]}" "${conf[title_y]}"
		g+=,$REPLY
	fi
	if [ -n "${conf[outro]}" ]; then
		# From outro_start to the end, fading in like the name.
		local from fade
		dec from "${m[outro_start]}"
		dec fade "${m[text_fade]}"
		if [ "${m[text_fade]}" -gt 0 ]; then
			fade=":alpha='clip((t-$from)/$fade,0,1)'"
		else
			fade=''
		fi
		put_name "${conf[outro]}" >outro.txt
		drawtext outro.txt "${conf[outro_size]}" "${conf[outro_color]}" \
			"${conf[outro_x]}" "${conf[outro_y]}" ":enable='gte(t,$from)'$fade"
		g+=,$REPLY
	fi
	if [ "$ns" -gt 0 ]; then
		labels+='[a]'
		maps+=(-map '[A]' "${enc[@]}" -f mp4 "file:$out/a.mp4")
		n=$((n + 1))
	fi
	# The window's background is kept uncompressed when that stays under
	# 64 MB (decoding it is then nearly free for every name; greetbotd's
	# default RLIMIT_FSIZE is 200 MB), otherwise in the fast lossless Ut
	# Video codec.
	labels+='[w]'
	if [ $(((ne - ns) * W * H * 3 / 2)) -le $((64 << 20)) ]; then
		maps+=(-map '[W]' -map '[R]' -c:v rawvideo -c:a pcm_f32le -f nut "file:$out/w.nut")
	else
		maps+=(-map '[W]' -map '[R]' -c:v utvideo -c:a pcm_f32le -f nut "file:$out/w.nut")
	fi
	n=$((n + 1))
	if [ "$ne" -lt "$nt" ]; then
		labels+='[c]'
		maps+=(-map '[C]' "${enc[@]}" -f mp4 "file:$out/c.mp4")
		n=$((n + 1))
	fi
	g+=",split=$n$labels"
	[ "$ns" -eq 0 ] || g+=";[a]trim=end_frame=${ns}[A]"
	g+=";[w]trim=start_frame=$ns:end_frame=$ne,setpts=PTS-STARTPTS[W]"
	[ "$ne" -eq "$nt" ] || g+=";[c]trim=start_frame=$ne,setpts=PTS-STARTPTS[C]"
	if [ -n "$music_path" ]; then
		music_in=(-stream_loop -1 -i "file:$music_path")
	else
		music_in=(-f lavfi -i "anullsrc=r=$AR:cl=mono")
	fi
	fades 0 "$a_total"
	g+=";[1:a]aresample=$AR,aformat=sample_fmts=fltp:channel_layouts=mono"
	g+=",atrim=end_sample=$a_total,apad=whole_len=$a_total,volume=${conf[music_volume]}"
	# The PCM bed runs a second past the end: ffmpeg 5.1 loses most of a mix
	# whose first input reaches the end of its file (amix, with the video
	# of the same file done), so the per-name stretch never does.
	g+=",asplit[r][f];[r]apad=pad_len=${AR}[R];[f]${REPLY}[F]"
	maps+=(-map '[F]' "${AENC[@]}" -f mp4 "file:$out/bed.m4a")
	dec end $((t_total + 1000))
	ff static 2 -stream_loop -1 -t "$end" -i "file:$bg_path" \
		"${music_in[@]}" -filter_complex "$g" "${maps[@]}"
}

# static_fresh: no file the entry in sdir was made from is newer than it.
static_fresh() {
	local f
	for f in "$bg_path" "$font_path" ${music_path:+"$music_path"}; do
		[ ! "$f" -nt "$sdir/stamp" ] || return 1
	done
}

# static_get: make sure the cached parts exist and set sdir to them. The
# first job builds them under a per-key flock, into a temp dir that is
# renamed into place, so a reader never sees a half-written entry and
# concurrent jobs build once.
#
# An entry is first looked up by the settings alone, and used when none
# of its files (background, font, music) is newer than its stamp (taken
# before it was built): no process to start. Otherwise (missing, or stale
# after a medium changed) the files' size, time and inode go into the key
# as well; such entries are found again with that key.
static_get() {
	local c=$cache tmp key
	if [ -z "$c" ]; then
		printf 'render.sh: cache dir "%s" unusable, caching in the work dir\n' \
			"${GREETBOT_CACHE_DIR:-}" >&2
		c=$wdir/cache
		mkdir -p "$c"
	fi
	cache_key
	sdir=$c/static-$key
	if [ -d "$sdir" ]; then
		static_fresh && return 0
		cache_key stat
		sdir=$c/static-$key
		[ ! -d "$sdir" ] || return 0
	fi
	exec 9>"$c/static-$key.lock"
	flock -w 600 9 || die $EX_TEMPFAIL "timed out waiting for the cache lock"
	if [ ! -d "$sdir" ]; then
		# Holding the lock: any temp dir of this key is a dead builder's.
		rm -rf "$c/.tmp-$key-"*
		tmp=$c/.tmp-$key-$$
		cleanup_dir=$tmp
		mkdir "$tmp"
		: >"$tmp/stamp"
		static_build "$tmp"
		# On disk before it is in place: an entry is never checked again,
		# so one cut short by a power loss would fail every render after.
		sync "$tmp"/* "$tmp"
		mv -T "$tmp" "$sdir"
		sync "$c"
		cleanup_dir=''
	fi
	exec 9>&-
}

# static_drop: move the entry in sdir out of the way (it does not match
# this encoder) and make it again. Under the lock, so that a build in
# progress is not disturbed; when another job dropped it first, its new
# entry may be dropped too, which costs a build, not a wrong video.
static_drop() {
	local c=${sdir%/*} key=${sdir##*/static-}
	exec 9>"$c/static-$key.lock"
	flock -w 600 9 || die $EX_TEMPFAIL "timed out waiting for the cache lock"
	if [ -d "$sdir" ]; then
		mv -T "$sdir" "$c/.stale-$key-$$"
		rm -rf "$c/.stale-$key-$$"
	fi
	exec 9>&-
	static_get
}

# ---------------------------------------------------------------------------
# Per name.

# wav_header FILE: set rate (bytes per second) and size (of the samples,
# in bytes) from FILE's header, when it is the plain 44-byte one. Read in
# bash, as starting od would cost more than the whole parse: "read -d ''"
# stops at each NUL byte and drops it, so every chunk shorter than asked
# for was followed by a 0.
wav_header() {
	local LC_ALL=C chunk n c i=0 j
	local -a b=()
	while [ "$i" -lt 44 ]; do
		n=$((44 - i))
		IFS= read -r -d '' -n "$n" chunk || [ -n "$chunk" ] || break
		for ((j = 0; j < ${#chunk}; j++)); do
			printf -v c '%d' "'${chunk:j:1}"
			b[i++]=$((c & 255))
		done
		[ "${#chunk}" -eq "$n" ] || b[i++]=0
	done <"$1"
	# "RIFF" at 0, "WAVE" at 8, "data" at 36.
	[ "$i" -ge 44 ] && [ "${b[*]:0:4} ${b[*]:8:4} ${b[*]:36:4}" = '82 73 70 70 87 65 86 69 100 97 116 97' ] ||
		return 1
	rate=$((b[28] | b[29] << 8 | b[30] << 16 | b[31] << 24))
	size=$((b[40] | b[41] << 8 | b[42] << 16 | b[43] << 24))
}

# speak: the phrase with the name, spoken by espeak-ng into voice.wav;
# sets voice_at (when it starts), voice_ms (its length) and tempo (an
# atempo factor, or empty).
speak() {
	local rate size room f
	put_name "${conf[phrase]}" >phrase.txt
	if ! espeak-ng -b 1 -v "$voice" -s "${conf[voice_rate]}" -p "${conf[voice_pitch]}" \
		-w voice.wav -f phrase.txt >/dev/null 2>espeak.log; then
		if [ -n "$voice_cached" ]; then
			# The cached choice may be stale (voices removed): choose again.
			rm -f "$voice_cached"
			voice_pick fresh
			speak
			return
		fi
		cat espeak.log >&2
		die $EX_TEMPFAIL "espeak-ng failed"
	fi
	# Length from the plain 44-byte WAV header espeak-ng writes.
	if ! wav_header voice.wav || [ "$rate" -le 0 ] || [ "$size" -le 0 ]; then
		die $EX_TEMPFAIL "espeak-ng wrote no usable audio"
	fi
	voice_ms=$((size * 1000 / rate))
	# The voice may run past the window, but not past the end of the video:
	# then it is sped up (pitch kept) to fit, by at most 2x; beyond that
	# its end is cut off under the final fade.
	voice_at=$((t_start + m[voice_offset]))
	room=$((t_total - voice_at - 150))
	tempo=''
	if [ "$room" -le 0 ]; then
		die $EX_CONFIG "template.conf: the voice starts after the end"
	elif [ "$voice_ms" -gt "$room" ]; then
		f=$((voice_ms * 1000 / room))
		[ "$f" -le 2000 ] || f=2000
		dec tempo "$f"
		voice_ms=$((voice_ms * 1000 / f))
		printf 'render.sh: phrase too long, tempo x%s\n' "$tempo" >&2
	fi
}

# voice_chain: set REPLY to the filters applied to the spoken phrase in
# both modes.
voice_chain() {
	REPLY="aresample=$AR,aformat=sample_fmts=fltp:channel_layouts=mono"
	[ -z "$tempo" ] || REPLY+=",atempo=$tempo"
	REPLY+=",volume=${conf[voice_volume]}"
}

# preview: the spoken phrase alone as OGG/Opus (mono, 48 kHz).
preview() {
	voice_chain
	ff preview 1 -i voice.wav -af "$REPLY" -ac 1 -ar $AR \
		-c:a libopus -b:a 48k -f ogg out.ogg
	mv -f out.ogg "$out_path"
}

# video_graph: set vg to the personalised window, the name drawn over the
# cached lossless background ([v]), and the thumbnail from two thirds into
# the window ([th]).
video_graph() {
	local size fade k alpha='' seg_ms=$((t_end - t_start)) a b
	put_name "${conf[text]}" >name.txt
	fit_size "${conf[text_size]}" name.txt
	size=$REPLY
	fade=${m[text_fade]}
	if [ "$fade" -gt 0 ]; then
		[ $((2 * fade)) -le "$seg_ms" ] || fade=$((seg_ms / 2))
		dec a "$seg_ms"
		dec b "$fade"
		alpha=":alpha='clip(min(t,$a-t)/$b,0,1)'"
	fi
	k=$(((ne - ns) * 2 / 3))
	drawtext name.txt "$size" "${conf[text_color]}" "${conf[text_x]}" "${conf[text_y]}" "$alpha"
	vg="[0:v]$REPLY,split[v][t];[t]trim=start_frame=$k:end_frame=$((k + 1))"
	vg+=',scale=320:320:force_original_aspect_ratio=decrease[th]'
}

# audio_graph: set ag to the stretch of sound the voice changes ([a]), and
# a_first, a_end, a_keep, a_stop to the AAC frames that replace the bed's.
#
# Where the voice is (ducking included, from 150 ms before it to 250 ms
# after), the sound is the cached bed, ducked, plus the voice; elsewhere it
# is the bed alone, whose AAC frames are cached. AAC frame j (1024
# samples, after one frame of encoder delay) decodes from input samples
# (j-1)*1024 .. (j+1)*1024, overlapping each neighbour by half. Frames
# a_keep .. a_stop-1 are taken from the new encoding: the halves they share
# with the bed's frames around them hold the bed alone in both encodings,
# so the overlap-add at each join reconstructs the same signal (no click).
# The new encoding runs 3 frames before and 2 after what is kept, so that
# the encoder's state (window choice, lookahead) is the same as the bed's
# where they meet; it starts on a frame boundary (a_first), and at 0 or
# before the final fade, so that its fades are those of the bed.
#
# audio_graph full: the whole track instead (a_first 0, a_end a_total), for
# the concat join.
audio_graph() {
	local vs ve dvs dve ramp duck inputs
	vs=$(((voice_at > 150 ? voice_at - 150 : 0) * AR / 1000))
	ve=$(((voice_at + voice_ms + 250) * AR / 1000))
	if [ "${1:-}" = full ]; then
		a_first=0 a_end=$a_total a_keep=0 a_stop=-
	else
		audio_splice "$vs" "$ve"
	fi
	# The music is ducked to music_duck while the voice speaks: the bed
	# minus (1 - music_duck) times itself faded in over 150 ms from vs and
	# out over 150 ms until ve. Sample-exact, and exactly the bed outside.
	ramp=$((AR * 15 / 100))
	dvs=$((vs - a_first))
	dve=$((ve - a_first - ramp))
	duck=$((1000 - m[music_duck]))
	ag="[${2:-0}:a]atrim=start_sample=$a_first:end_sample=$a_end,asetpts=PTS-STARTPTS"
	if [ "$duck" -gt 0 ]; then
		dec duck "$duck"
		ag+=",asplit[m][d];[d]afade=t=in:ss=$dvs:ns=$ramp,afade=t=out:ss=$dve:ns=$ramp"
		ag+=",volume=-${duck}[n];"
		inputs='[m][n][s]amix=inputs=3'
	else
		ag+='[m];'
		inputs='[m][s]amix=inputs=2'
	fi
	voice_chain
	ag+="amovie=voice.wav,$REPLY,adelay=delays=$((voice_at * AR / 1000 - a_first))S:all=1[s];"
	ag+="$inputs:duration=first:dropout_transition=0:normalize=0"
	fades "$a_first" "$a_end"
	ag+=",${REPLY}[a]"
}

# audio_splice VS VE: the AAC frames that replace the bed's around the
# voice, from VS to VE (samples); see audio_graph.
audio_splice() {
	local vs=$1 ve=$2 first_max
	a_keep=$((vs / AF))
	a_stop=$(((ve + AF - 1) / AF + 2))
	a_first=$((a_keep > 3 ? (a_keep - 3) * AF : 0))
	a_end=$(((a_stop + 2) * AF))
	if [ "$a_end" -ge "$a_total" ]; then
		a_end=$a_total
		a_stop=-
	fi
	if [ "$a_end" -gt "$a_fade" ]; then
		# Start before the fade-out, for all of the fade to be ours.
		first_max=$(((a_fade / AF > 3 ? a_fade / AF - 3 : 0) * AF))
		[ "$a_first" -le "$first_max" ] || a_first=$first_max
	fi
	# From (near) the start: no bed frame before, the fade-in is ours.
	[ "$a_first" -ge $((AR / 20)) ] || a_first=0
	[ "$a_first" -gt 0 ] || a_keep=0
}

# encode: one ffmpeg for everything new per name: the window segment
# (b.mp4, encoded exactly like the cached parts, in one x264 thread: least
# CPU, and a render is short anyway), the thumbnail and, for the fast join,
# the audio stretch (v.m4a).
# The voice is read by an amovie filter rather than as a second input (see
# static_build).
encode() {
	local -a enc audio=()
	venc 1
	video_graph
	if [ "${conf[join]}" = fast ]; then
		audio_graph
		vg+=";$ag"
		audio=(-map '[a]' "${AENC[@]}" -f mp4 v.m4a)
	fi
	ff encode 1 -i "file:$sdir/w.nut" \
		-filter_complex "$vg" \
		-map '[v]' "${enc[@]}" -f mp4 b.mp4 \
		-map '[th]' -threads 1 -frames:v 1 -q:v 3 -f image2 -update 1 thumb.jpg \
		"${audio[@]}"
}

# join: the MP4 from the cached parts and the new ones. "fast": the
# perl joiner below copies the video segments and splices the audio
# stretch into the cached bed's AAC frames, nothing decoded or
# re-encoded, no process but perl; "concat" (or when the fast join
# fails): ffmpeg's concat demuxer copies the video segments (-c copy) and
# the whole audio track is mixed and encoded again from the bed.
join() {
	local -a v=() a=()
	if [ "${conf[join]}" = concat ]; then
		join_concat
		return
	fi
	[ "$ns" -eq 0 ] || v+=("$sdir/a.mp4" 0 -)
	v+=(b.mp4 0 -)
	[ "$ne" -eq "$nt" ] || v+=("$sdir/c.mp4" 0 -)
	[ "$a_keep" -eq 0 ] || a+=("$sdir/bed.m4a" 0 "$a_keep")
	if [ "$a_stop" = - ]; then
		a+=(v.m4a $((a_keep - a_first / AF)) -)
	else
		a+=(v.m4a $((a_keep - a_first / AF)) $((a_stop - a_first / AF)))
		a+=("$sdir/bed.m4a" "$a_stop" -)
	fi
	# perl also moves the outputs into place and, on success, removes the
	# work dir: a process less to start.
	if ! perl -e "$MP4JOIN" -- -r out.mp4 "$out_path" -r thumb.jpg "$thumb_path" \
		-c "$wdir" out.mp4 T "${v[@]}" T "${a[@]}" 2>join.log; then
		cat join.log >&2
		if grep -q 'codec differs' join.log; then
			# The cached parts were encoded by another ffmpeg or x264 (an
			# upgrade since): the concat demuxer would give every part
			# the first one's parameters, a broken picture. Once: make
			# them again and join with those.
			[ -z "$redone" ] || die $EX_TEMPFAIL "the cached parts still differ from the new ones"
			redone=1
			printf 'render.sh: the cached parts were encoded differently (ffmpeg or x264 upgraded?), making them again\n' >&2
			rm -f out.mp4
			static_drop
			join
			return
		fi
		printf 'render.sh: the fast join failed, joining with the concat demuxer\n' >&2
		rm -f out.mp4
		join_concat
		return
	fi
	[ ! -e out.mp4 ] || mv -f out.mp4 "$out_path"
	[ ! -e thumb.jpg ] || mv -f thumb.jpg "$thumb_path"
}

# join_concat: the video segments joined by the concat demuxer (-c copy),
# the audio track mixed from the cached bed (w.nut's sound) and the voice.
join_concat() {
	local f i=0 parts=()
	[ "$ns" -eq 0 ] || parts+=("$sdir/a.mp4")
	parts+=("$PWD/b.mp4")
	[ "$ne" -eq "$nt" ] || parts+=("$sdir/c.mp4")
	: >list.txt
	for f in "${parts[@]}"; do
		# Plain names in the list: no quoting to get wrong.
		ln -sf "$f" "s$((++i)).mp4"
		printf "file 's%d.mp4'\n" "$i" >>list.txt
	done
	audio_graph full 1
	ff join 1 -f concat -safe 0 -i list.txt -i "file:$sdir/w.nut" -filter_complex "$ag" \
		-map 0:v -map '[a]' -c:v copy "${AENC[@]}" -movflags +faststart -f mp4 out.mp4
	mv -f out.mp4 "$out_path"
	mv -f thumb.jpg "$thumb_path"
}

# The MP4 joiner, run by join() with perl (perl-base is part of every Debian
# system). A string rather than a here-document: bash reads those byte by
# byte. No single quote inside.
#
#     perl -e "$MP4JOIN" -- [-r FROM TO]... [-c DIR] OUT T FILE FIRST END... [T ...]
#
# Each T starts an output track made of the samples FIRST..END-1 (END "-":
# to the last) of the single track in each FILE, in order. The files of a
# track must hold the same codec configuration. Writes OUT as a plain MP4
# (moov before mdat) with the samples interleaved in half-second chunks.
# Then renames each FROM to TO (one left where rename(2) cannot, across
# file systems), and when none is left removes the files in DIR and DIR
# (left as is when it holds a directory).
MP4JOIN='use strict;

my (@ren, $clean, @spec, %src);
while (@ARGV > 2 && $ARGV[0] =~ /^-[rc]$/) {
	my $o = shift @ARGV;
	if ($o eq "-r") { push @ren, [ splice @ARGV, 0, 2 ] } else { $clean = shift @ARGV }
}
my $out = shift @ARGV;
while (@ARGV) {
	my $a = shift @ARGV;
	if ($a eq "T") { push @spec, []; next }
	die "bad arguments\n" unless @spec && @ARGV >= 2;
	push @{ $spec[-1] }, [ $a, shift @ARGV, shift @ARGV ];
}
die "no tracks\n" unless @spec;

sub rd {
	my ($fh, $off, $len) = @_;
	my $b = "";
	sysseek($fh, $off, 0) or die "seek: $!\n";
	while (length($b) < $len) {
		my $n = sysread($fh, $b, $len - length($b), length($b));
		die "short read\n" unless $n;
	}
	return $b;
}

# boxes PAYLOAD: its child boxes as [type, payload] pairs.
sub boxes {
	my ($p) = @_;
	my ($o, @r) = (0);
	while ($o < length $p) {
		die "truncated box\n" if $o + 8 > length $p;
		my ($s, $t) = unpack "Na4", substr($p, $o, 8);
		my $h = 8;
		if ($s == 1) { $s = unpack "Q>", substr($p, $o + 8, 8); $h = 16 }
		elsif ($s == 0) { $s = length($p) - $o }
		die "bad $t box\n" if $s < $h || $o + $s > length $p;
		push @r, [ $t, substr($p, $o + $h, $s - $h) ];
		$o += $s;
	}
	return @r;
}

sub child {
	my ($p, $t) = @_;
	for (boxes($p)) { return $_->[1] if $_->[0] eq $t }
	return undef;
}

sub need { my ($p, $t) = @_; return child($p, $t) // die "no $t box\n" }
sub box { return pack("Na4", 8 + length $_[1], $_[0]) . $_[1] }

# load FILE: its one track, with per-sample size, duration, file offset and
# sync flag.
sub load {
	my $f = shift;
	return $src{$f} if $src{$f};
	open(my $fh, "<:raw", $f) or die "$f: $!\n";
	my ($size, $o, %top) = (-s $fh, 0);
	while ($o + 8 <= $size) {
		my ($s, $t) = unpack "Na4", rd($fh, $o, 8);
		my $h = 8;
		if ($s == 1) { $s = unpack "Q>", rd($fh, $o + 8, 8); $h = 16 }
		elsif ($s == 0) { $s = $size - $o }
		die "$f: bad box\n" if $s < $h;
		$top{$t} //= rd($fh, $o + $h, $s - $h) if $t eq "moov" || $t eq "ftyp";
		$o += $s;
	}
	die "$f: no moov\n" unless defined $top{moov};
	my @trak = grep { $_->[0] eq "trak" } boxes($top{moov});
	die "$f: not one track\n" unless @trak == 1;
	my %t = (name => $f, fh => $fh, ftyp => $top{ftyp}, moov => $top{moov},
		trak => $trak[0][1]);
	my $mdia = need($t{trak}, "mdia");
	my $mdhd = need($mdia, "mdhd");
	$t{ts} = unpack(ord($mdhd) ? "x20N" : "x12N", $mdhd);
	my %b = map { $_->[0] => $_->[1] } boxes(need(need($mdia, "minf"), "stbl"));
	for (qw(stsd stts stsc stsz)) { die "$f: no $_\n" unless defined $b{$_} }
	die "$f: composition offsets are not supported\n" if $b{ctts};
	$t{stbl} = \%b;
	my ($fix, $n) = unpack "x4NN", $b{stsz};
	my @size = $fix ? ($fix) x $n : unpack("x12N$n", $b{stsz});
	my @dur;
	my @e = unpack "x4N/(NN)", $b{stts};
	while (@e) { my ($c, $d) = splice @e, 0, 2; push @dur, ($d) x $c }
	my @co = defined $b{stco} ? unpack("x4N/N", $b{stco})
		: unpack("x4N/Q>", $b{co64} // die "$f: no chunk offsets\n");
	my @sc = unpack "x4N/(NNN)", $b{stsc};
	my ($i, @off) = (0);
	for my $c (1 .. @co) {
		splice @sc, 0, 3 while @sc > 3 && $sc[3] <= $c;
		my $p = $co[ $c - 1 ];
		for (1 .. $sc[1]) {
			die "$f: bad sample tables\n" if $i >= $n;
			push @off, $p;
			$p += $size[ $i++ ];
		}
	}
	die "$f: bad sample tables\n" unless $i == $n && @dur == $n;
	my @sync = (1) x $n;
	if (defined $b{stss}) {
		@sync = (0) x $n;
		$sync[ $_ - 1 ] = 1 for unpack "x4N/N", $b{stss};
	}
	@t{qw(n size dur off sync)} = ($n, \@size, \@dur, \@off, \@sync);
	# What must match between the parts of a track: the sample entry up to
	# its bitrate information (btrt, esds), which differs from part to part.
	($t{codec} = $b{stsd}) =~ s/(?:btrt|esds).*//s;
	return $src{$f} = \%t;
}

# patch BYTES OFFSET32 OFFSET64 VALUE: store a 32- or 64-bit field of a full
# box (version 0 or 1) payload.
sub patch {
	my ($p, $o0, $o1, $v) = @_;
	if (ord $p) { substr($p, $o1, 8) = pack "Q>", $v }
	else { die "value too large\n" if $v > 0xffffffff; substr($p, $o0, 4) = pack "N", $v }
	return $p;
}

my (@tr, $mvts);
for my $k (0 .. $#spec) {
	my (@s, $first);
	for (@{ $spec[$k] }) {
		my ($f, $from, $to) = @$_;
		my $t = load($f);
		$first //= $t;
		$to = $t->{n} if $to eq "-";
		die "$f: no samples $from..$to\n" unless $from =~ /^\d+$/ && $to =~ /^\d+$/
			&& $from <= $to && $to <= $t->{n};
		die "$f: codec differs from $first->{name}\n"
			unless $t->{codec} eq $first->{codec} && $t->{ts} == $first->{ts};
		push @s, map { [ $t, $_ ] } $from .. $to - 1;
	}
	die "empty track\n" unless @s;
	$mvts //= unpack(ord(need($first->{moov}, "mvhd")) ? "x20N" : "x12N",
		need($first->{moov}, "mvhd"));
	my ($sum, $c, @chunks) = (0);
	for (@s) {
		my ($t, $i) = @$_;
		if (!$c || $sum - $c->{dts} >= $first->{ts} / 2) {
			$c = { track => $k, dts => $sum, time => $sum / $first->{ts}, s => [] };
			push @chunks, $c;
		}
		push @{ $c->{s} }, $_;
		$sum += $t->{dur}[$i];
	}
	push @tr, { first => $first, s => \@s, chunks => \@chunks, mdur => $sum };
}

# Chunks in time order, so that audio and video are interleaved.
my @order = sort { $a->{time} <=> $b->{time} || $a->{track} <=> $b->{track} }
	map { @{ $_->{chunks} } } @tr;

sub stbl {
	my ($tr) = @_;
	my ($first, $s) = @$tr{qw(first s)};
	my $st = $first->{stbl};
	my (@stts, @stsc, @sync, $allsync);
	$allsync = 1;
	for my $j (0 .. $#$s) {
		my ($t, $i) = @{ $s->[$j] };
		my $d = $t->{dur}[$i];
		if (@stts && $stts[-1][1] == $d) { $stts[-1][0]++ } else { push @stts, [ 1, $d ] }
		if ($t->{sync}[$i]) { push @sync, $j + 1 } else { $allsync = 0 }
	}
	my $ci = 0;
	for (@{ $tr->{chunks} }) {
		$ci++;
		my $n = @{ $_->{s} };
		push @stsc, [ $ci, $n, 1 ] unless @stsc && $stsc[-1][1] == $n;
	}
	my @sizes = map { $_->[0]{size}[ $_->[1] ] } @$s;
	my $p = box("stsd", $st->{stsd});
	$p .= box("stts", pack("NN", 0, scalar @stts) . pack("(NN)*", map { @$_ } @stts));
	$p .= box("stss", pack("NN", 0, scalar @sync) . pack("N*", @sync)) unless $allsync;
	$p .= box("stsc", pack("NN", 0, scalar @stsc) . pack("(NNN)*", map { @$_ } @stsc));
	$p .= box("stsz", pack("NNN", 0, 0, scalar @sizes) . pack("N*", @sizes));
	$p .= box("stco", pack("NN", 0, scalar @{ $tr->{chunks} })
		. pack("N*", map { $_->{pos} // 0 } @{ $tr->{chunks} }));
	# A sample group covering every sample (the "roll" group of AAC) is kept.
	if (defined $st->{sgpd} && defined $st->{sbgp}) {
		my ($v, $type, $n, $count, $idx) = unpack "C x3 a4 N N N", $st->{sbgp};
		if ($v == 0 && $n == 1 && $count == $first->{n}) {
			$p .= box("sgpd", $st->{sgpd});
			$p .= box("sbgp", pack("N a4 N N N", 0, $type, 1, scalar @$s, $idx));
		}
	}
	return $p;
}

# trak: the track of the first file with new sample tables and durations.
sub trak {
	my ($tr, $id) = @_;
	my $first = $tr->{first};
	my ($skip, $p) = (0, "");
	my $elst = child(child($first->{trak}, "edts") // "", "elst");
	if (defined $elst) {
		my ($v, $n) = unpack "C x3 N", $elst;
		die "$first->{name}: edit list with $n entries\n" unless $n == 1;
		$skip = $v ? unpack("x16q>", $elst) : unpack("x12l>", $elst);
		die "$first->{name}: empty edit\n" if $skip < 0;
	}
	$tr->{movdur} = int(($tr->{mdur} - $skip) * $mvts / $first->{ts} + 0.5);
	for (boxes($first->{trak})) {
		my ($t, $b) = @$_;
		if ($t eq "tkhd") {
			substr($b, ord($b) ? 20 : 12, 4) = pack "N", $id;
			$b = patch($b, 20, 28, $tr->{movdur});
		} elsif ($t eq "edts") {
			$b = box("elst", patch($elst, 8, 8, $tr->{movdur}));
		} elsif ($t eq "mdia") {
			my $m = "";
			for (boxes($b)) {
				my ($t2, $b2) = @$_;
				if ($t2 eq "mdhd") { $b2 = patch($b2, 16, 24, $tr->{mdur}) }
				elsif ($t2 eq "minf") {
					$b2 = join "", map {
						$_->[0] eq "stbl" ? box("stbl", stbl($tr)) : box(@$_)
					} boxes($b2);
				}
				$m .= box($t2, $b2);
			}
			$b = $m;
		}
		$p .= box($t, $b);
	}
	return $p;
}

sub moov {
	my $first = $tr[0]{first};
	my @traks = map { box("trak", trak($tr[$_], $_ + 1)) } 0 .. $#tr;
	my $dur = 0;
	for (@tr) { $dur = $_->{movdur} if $_->{movdur} > $dur }
	my $mvhd = patch(need($first->{moov}, "mvhd"), 16, 24, $dur);
	substr($mvhd, -4) = pack "N", @tr + 1;
	my $udta = child($first->{moov}, "udta");
	return box("moov", box("mvhd", $mvhd) . join("", @traks)
		. (defined $udta ? box("udta", $udta) : ""));
}

my $ftyp = box("ftyp", $tr[0]{first}{ftyp} // die "no ftyp\n");
my $pos = length($ftyp) + length(moov()) + 8;
my $data = 0;
for (@order) {
	$_->{pos} = $pos + $data;
	$data += $_->[0]{size}[ $_->[1] ] for @{ $_->{s} };
}
die "output too large\n" if $pos + $data > 0xffffffff;
open(my $o, ">:raw", $out) or die "$out: $!\n";
print $o $ftyp, moov(), pack("Na4", 8 + $data, "mdat") or die "$out: $!\n";
for (@order) {
	# Runs of samples stored back to back are read at once.
	my ($fh, $at, $len) = (undef, 0, 0);
	for (@{ $_->{s} }, undef) {
		my ($t, $i) = $_ ? @$_ : (undef, 0);
		if ($_ && $fh && $t->{fh} == $fh && $t->{off}[$i] == $at + $len) {
			$len += $t->{size}[$i];
			next;
		}
		print $o rd($fh, $at, $len) or die "$out: $!\n" if $fh;
		($fh, $at, $len) = $_ ? ($t->{fh}, $t->{off}[$i], $t->{size}[$i]) : ();
	}
}
close($o) or die "$out: $!\n";
my $left = 0;
for (@ren) {
	next if rename $_->[0], $_->[1];
	die "$_->[0]: $!\n" unless $!{EXDEV};
	$left = 1;
}
# Whatever cannot be removed here (a subdirectory) is left to the caller.
if (defined $clean && !$left && opendir(my $d, $clean)) {
	unlink "$clean/$_" for grep { !/^\.\.?$/ && !-d "$clean/$_" } readdir $d;
	rmdir $clean;
}
'

# ---------------------------------------------------------------------------

# A half-built cache entry is removed however the script ends; SIGTERM
# (greetbotd's timeout) is turned into an exit so that this still runs.
cleanup_dir=''
redone=''
trap '[ -z "$cleanup_dir" ] || rm -rf "$cleanup_dir"' EXIT
trap 'exit 143' TERM INT

mode=${GREETBOT_MODE:-video}
case $mode in video | preview) ;; *) die $EX_USAGE "GREETBOT_MODE must be video or preview" ;; esac
[ -n "${GREETBOT_OUTPUT:-}" ] || die $EX_USAGE "GREETBOT_OUTPUT is not set"
[ "$mode" = preview ] || [ -n "${GREETBOT_THUMB:-}" ] ||
	die $EX_USAGE "GREETBOT_THUMB is not set"
[ -d "${GREETBOT_TEMPLATE_DIR:-}" ] ||
	die $EX_CONFIG "template dir '${GREETBOT_TEMPLATE_DIR:-}' not found"
abspath "$GREETBOT_TEMPLATE_DIR"
tdir=${REPLY%/}
# Our own files live in a private subdirectory of the work directory, so
# that no name of ours can collide with the output paths.
abspath "$GREETBOT_OUTPUT"
out_path=$REPLY
abspath "${GREETBOT_THUMB:-thumb.jpg}"
thumb_path=$REPLY
wdir=$PWD/.render.$$
mkdir "$wdir"
cd "$wdir"

progress 0.01
name_check
conf_load "$tdir/template.conf"
conf_check
# The sound's length, and where its fade-out starts, in samples.
a_total=$((t_total * AR / 1000))
a_fade=$((a_total - AR / 2))
cache_init
voice_pick
progress 0.05
speak
progress 0.15
if [ "$mode" = preview ]; then
	preview
else
	# The font is named in filter strings: by its path when that is plain,
	# else through a symlink.
	font_ref=$font_path
	if [[ ! $font_ref =~ ^[A-Za-z0-9_./-]+$ ]]; then
		ln -sf "$font_path" font.ttf
		font_ref=font.ttf
	fi
	static_get
	progress 0.45
	encode
	progress 0.80
	join
fi
# Kept on failure, for a look at the logs.
if [ -d "$wdir" ]; then
	cd ..
	rm -rf "$wdir"
fi
progress 1.00

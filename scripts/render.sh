#!/bin/bash
# scripts/render.sh: render one personalised greeting video (or, in preview
# mode, the spoken phrase alone) for the name in $GREETBOT_NAME with the
# template in $GREETBOT_TEMPLATE_DIR. The contract with greetbotd
# (environment, progress lines, exit codes) is "Render script contract" in
# docs/ARCHITECTURE.md; the template format is templates/README.md.
#
# Speed: the video outside the personalised window is encoded once per
# template version into $GREETBOT_CACHE_DIR, together with a lossless copy
# of the window's background. Per name only the window is encoded (with the
# same x264 settings), the parts are joined by the concat demuxer without
# re-encoding, and the audio is mixed once over the whole duration.
#
# Safety: the name is never part of a command line that a shell parses, nor
# of an ffmpeg filter string. It is written to files with printf '%s' and
# read from there by espeak-ng (-f) and drawtext (textfile=). Template
# values that do reach filter strings are validated against strict
# patterns first, and every file path is reached through a symlink in the
# work directory, so no path is ever spelled inside a filter either.
set -eu
shopt -u patsub_replacement 2>/dev/null || true
export LC_ALL=C.UTF-8

# Bump when what is cached changes shape, so old cache entries are ignored.
readonly RENDER_VERSION=2
readonly EX_USAGE=64 EX_DATAERR=65 EX_TEMPFAIL=75 EX_CONFIG=78
readonly MAX_NAME_CHARS=128

die() {
	local code=$1
	shift
	printf 'render.sh: %s\n' "$*" >&2
	exit "$code"
}

progress() { printf 'progress %s\n' "$1"; }

# in_range N MIN MAX: integer N lies in [MIN, MAX].
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# abspath PATH: PATH made absolute against the current directory.
abspath() {
	case $1 in
	/*) printf '%s' "$1" ;;
	*) printf '%s/%s' "$PWD" "$1" ;;
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

# dec MILLI: print a non-negative thousandths value as a decimal.
dec() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

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
	text_fade duration name_start name_end min_duration max_duration \
	background music music_volume music_duck width height fps crf preset \
	media_style language; do
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
	if ! milli "${conf[$1]}" || ! in_range "$REPLY" "$2" "$3"; then
		die $EX_CONFIG "template.conf: '$1' must be a number from $(dec "$2") to $(dec "$3")"
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
	default music ''
	default music_volume 0.4
	default music_duck 0.5
	default crf 26
	default preset veryfast

	int voice_rate 80 450
	int voice_pitch 0 99
	num voice_volume 0 4000
	num voice_offset 0 10000
	int title_size 8 400
	int text_size 8 400
	int text_border_width 0 20
	num text_fade 0 5000
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
	int crf 0 51
	case ${conf[preset]} in
	ultrafast | superfast | veryfast | faster | fast | medium | slow) ;;
	*) die $EX_CONFIG "template.conf: 'preset' must be an x264 preset" ;;
	esac
	[ $((conf[width] % 2 + conf[height] % 2)) -eq 0 ] ||
		die $EX_CONFIG "template.conf: width and height must be even"
	[[ ${conf[text]} == *'{name}'* ]] ||
		die $EX_CONFIG "template.conf: 'text' must contain {name}"
	[[ ${conf[title]} != *'{name}'* ]] ||
		die $EX_CONFIG "template.conf: 'title' is static and cannot contain {name}"

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
	in_range "$t_total" "${m[min_duration]}" "${m[max_duration]}" ||
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
# Voice: the template's voice, then its fallbacks, then the language's
# default voice (the voice name up to the first "-" or "+"). A candidate
# "lang+variant" needs both the voice and the variant to be installed.

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

# voice_pick: set voice to the first available candidate.
voice_pick() {
	local c base variant lang
	local -a cands
	read -r -a cands <<<"${conf[voice]} ${conf[voice_fallbacks]}"
	lang=${cands[0]%%[-+]*}
	cands+=("$lang")
	voices_load
	for c in "${cands[@]}"; do
		[[ $c =~ ^[A-Za-z0-9_/-]+(\+[A-Za-z0-9_]+)?$ ]] || continue
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
		return 0
	done
	die $EX_CONFIG "no usable espeak-ng voice among: ${cands[*]}"
}

# ---------------------------------------------------------------------------
# The name.

# name_check: reject what cannot be rendered (65): empty, control
# characters, invalid UTF-8, absurd length. Everything else, quotes and
# shell or ffmpeg metacharacters included, is just text here.
name_check() {
	name=${GREETBOT_NAME-}
	printf '%s' "$name" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 ||
		die $EX_DATAERR "name is not valid UTF-8"
	[[ $name =~ ^[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] ||
		die $EX_DATAERR "empty name"
	name=${BASH_REMATCH[1]}
	[[ ! $name =~ [[:cntrl:]] ]] || die $EX_DATAERR "name has control characters"
	[ "${#name}" -le $MAX_NAME_CHARS ] || die $EX_DATAERR "name too long"
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

# fit_size MAX TEXTFILE: print a font size no larger than MAX at which the
# text's longest line fits ~92% of the width and all lines half the height
# (DejaVu Sans Bold is at most ~0.68 em per character in practice).
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
	printf '%d' "$size"
}

# ---------------------------------------------------------------------------
# ffmpeg.

# ff STEP ARGS...: run ffmpeg quietly. On failure show the end of its log
# and exit 75, or 78 when the log blames the template (a bad expression,
# colour or medium), which no retry would fix. Thread pools are capped
# (here, in venc and for decoding): many renders run side by side, all
# under one RLIMIT_NPROC, and per-render threads buy little at this size.
ff() {
	local step=$1 log=ffmpeg-$1.log
	shift
	ffmpeg -nostdin -hide_banner -loglevel error -y -filter_complex_threads 2 \
		"$@" 2>"$log" && return 0
	local resources='no space left|cannot allocate|resource temporarily'
	local template='error (initializing|reinitializing|configuring)|error parsing'
	template+='|undefined constant|unknown function|cannot find color'
	template+='|unable to parse|invalid data found'
	tail -n 20 "$log" >&2
	if grep -Eqi "$resources" "$log"; then
		die $EX_TEMPFAIL "ffmpeg failed ($step): out of resources"
	elif [ "$step" = static ] || grep -Eqi "$template" "$log"; then
		die $EX_CONFIG "ffmpeg failed ($step): the template looks broken"
	fi
	die $EX_TEMPFAIL "ffmpeg failed ($step)"
}

# The x264 settings shared by the cached parts and the per-name segment:
# anything that differs between them would break the "-c copy" join. No
# B-frames, so no part carries a reordering delay across a join.
venc() {
	printf '%s\n' -c:v libx264 -preset "${conf[preset]}" -crf "${conf[crf]}" \
		-profile:v high -pix_fmt yuv420p -g $((conf[fps] * 2)) -bf 0 -threads 4 \
		-video_track_timescale $((conf[fps] * 1000)) -an
}

# drawtext OPTIONS for a text file: font, colour, border, position.
drawtext() { # FILE SIZE COLOR X Y [EXTRA]
	printf "drawtext=fontfile=font.ttf:textfile=%s:expansion=none:fontsize=%s:fontcolor=%s:borderw=%s:bordercolor=%s:x='%s':y='%s'%s" \
		"$1" "$2" "$3" "${conf[text_border_width]}" "${conf[text_border_color]}" \
		"$4" "$5" "${6:-}"
}

# ---------------------------------------------------------------------------
# The static parts, once per template version.

# cache_key: a hash of everything the cached files depend on.
cache_key() {
	{
		printf '%s\n' "$RENDER_VERSION" "${conf[width]}x${conf[height]}@${conf[fps]}" \
			"${conf[crf]} ${conf[preset]}" "$ns $ne $nt" "$bg_path" "$font_path" \
			"${conf[title]}" "${conf[title_size]} ${conf[title_color]}" \
			"${conf[title_x]} ${conf[title_y]}" \
			"${conf[text_border_width]} ${conf[text_border_color]}"
		stat -L -c '%s %Y %i' "$bg_path" "$font_path"
	} | sha256sum | cut -c1-20
}

# static_build DIR: encode the part before the window (a.mp4), after it
# (c.mp4) and a lossless copy of the window's background (w.nut) into DIR,
# from one decode of the background, which is looped if short.
static_build() {
	local out=$1 fps=${conf[fps]} W=${conf[width]} H=${conf[height]}
	local g n=0 maps=() labels=''
	local -a enc
	mapfile -t enc < <(venc)
	g="[0:v]setpts=PTS-STARTPTS,scale=$W:$H:force_original_aspect_ratio=increase"
	g+=",crop=$W:$H,setsar=1,fps=$fps,format=yuv420p,trim=end_frame=$nt"
	if [ -n "${conf[title]}" ]; then
		put_name "${conf[title]}" >title.txt
		g+=,$(drawtext title.txt "${conf[title_size]}" "${conf[title_color]}" \
			"${conf[title_x]}" "${conf[title_y]}")
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
		maps+=(-map '[W]' -c:v rawvideo -f nut "file:$out/w.nut")
	else
		maps+=(-map '[W]' -c:v utvideo -f nut "file:$out/w.nut")
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
	ff static -threads 2 -stream_loop -1 -t "$(dec $((t_total + 1000)))" -i "file:$bg_path" \
		-filter_complex "$g" "${maps[@]}"
}

# static_get: make sure the cached parts exist and set sdir to them. The
# first job builds them under a per-key flock, into a temp dir that is
# renamed into place, so a reader never sees a half-written entry and
# concurrent jobs build once.
static_get() {
	local cache=${GREETBOT_CACHE_DIR:-} key tmp
	if [ -z "$cache" ] || ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
		printf 'render.sh: cache dir "%s" unusable, caching in the work dir\n' \
			"$cache" >&2
		cache=$wdir/cache
		mkdir -p "$cache"
	fi
	key=$(cache_key)
	sdir=$cache/static-$key
	[ -d "$sdir" ] && return 0
	exec 9>"$cache/static-$key.lock"
	flock -w 600 9 || die $EX_TEMPFAIL "timed out waiting for the cache lock"
	if [ ! -d "$sdir" ]; then
		# Holding the lock: any temp dir of this key is a dead builder's.
		rm -rf "$cache/.tmp-$key-"*
		tmp=$cache/.tmp-$key-$$
		cleanup_dir=$tmp
		mkdir "$tmp"
		static_build "$tmp"
		mv -T "$tmp" "$sdir"
		cleanup_dir=''
	fi
	exec 9>&-
}

# ---------------------------------------------------------------------------
# Per name.

# speak: the phrase with the name, spoken by espeak-ng into voice.wav;
# sets voice_at (when it starts), voice_ms (its length) and tempo (an
# atempo factor, or empty).
speak() {
	local bytes rate room f
	put_name "${conf[phrase]}" >phrase.txt
	if ! espeak-ng -b 1 -v "$voice" -s "${conf[voice_rate]}" -p "${conf[voice_pitch]}" \
		-w voice.wav -f phrase.txt >/dev/null 2>espeak.log; then
		cat espeak.log >&2
		die $EX_TEMPFAIL "espeak-ng failed"
	fi
	# Length from the WAV header's byte rate (espeak-ng writes the plain
	# 44-byte header), cheaper than starting ffprobe.
	bytes=$(stat -c %s voice.wav)
	rate=$(od -An -tu4 -j28 -N4 voice.wav)
	rate=${rate//[[:space:]]/}
	if [[ ! $rate =~ ^[1-9][0-9]*$ ]] || [ "$bytes" -le 44 ]; then
		die $EX_TEMPFAIL "espeak-ng wrote no usable audio"
	fi
	voice_ms=$(((bytes - 44) * 1000 / rate))
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
		tempo=$(dec "$f")
		voice_ms=$((voice_ms * 1000 / f))
		printf 'render.sh: phrase too long, tempo x%s\n' "$tempo" >&2
	fi
}

# voice_chain: the filters applied to the spoken phrase in both modes.
voice_chain() {
	printf 'aresample=48000,aformat=sample_fmts=fltp:channel_layouts=mono'
	[ -z "$tempo" ] || printf ',atempo=%s' "$tempo"
	printf ',volume=%s' "${conf[voice_volume]}"
}

# preview: the spoken phrase alone as OGG/Opus (mono, 48 kHz).
preview() {
	ff preview -i voice.wav -af "$(voice_chain)" -ac 1 -ar 48000 \
		-c:a libopus -b:a 48k -f ogg out.ogg
	mv -f out.ogg "$out_path"
}

# video_graph: the personalised window, the name drawn over the cached
# lossless background ([v]), and the thumbnail from two thirds into the
# window ([th]).
video_graph() {
	local size fade k alpha='' seg_ms=$((t_end - t_start))
	put_name "${conf[text]}" >name.txt
	size=$(fit_size "${conf[text_size]}" name.txt)
	fade=${m[text_fade]}
	if [ "$fade" -gt 0 ]; then
		[ $((2 * fade)) -le "$seg_ms" ] || fade=$((seg_ms / 2))
		alpha=":alpha='clip(min(t,$(dec "$seg_ms")-t)/$(dec "$fade"),0,1)'"
	fi
	k=$(((ne - ns) * 2 / 3))
	printf '[0:v]%s,split[v][t];' "$(drawtext name.txt "$size" "${conf[text_color]}" \
		"${conf[text_x]}" "${conf[text_y]}" "$alpha")"
	printf '[t]trim=start_frame=%d:end_frame=%d,' "$k" $((k + 1))
	printf 'scale=320:320:force_original_aspect_ratio=decrease[th]'
}

# audio_graph: the sound of the whole video ([a], mono): the music
# (looped, trimmed, ducked while the voice speaks) plus the voice placed
# at name_start + voice_offset, faded in and out at the very ends.
audio_graph() {
	local T vs ve duck
	T=$(dec "$t_total")
	vs=$(dec $((voice_at > 150 ? voice_at - 150 : 0)))
	ve=$(dec $((voice_at + voice_ms + 250)))
	duck="${conf[music_volume]}*(1-(1-${conf[music_duck]})*clip(min(t-$vs,$ve-t)/0.15,0,1))"
	printf '[1:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=mono'
	printf ",atrim=end=%s,volume=eval=frame:volume='%s'[m];" "$T" "$duck"
	printf '[2:a]%s,adelay=delays=%d:all=1[s];' "$(voice_chain)" "$voice_at"
	printf '[m][s]amix=inputs=2:duration=first:dropout_transition=0:normalize=0'
	printf ',apad=whole_dur=%s,atrim=end=%s,afade=t=in:d=0.05' "$T" "$T"
	printf ',afade=t=out:st=%s:d=0.5[a]' "$(dec $((t_total - 500)))"
}

# encode: one ffmpeg for everything new per name: the window segment
# (b.mp4, encoded exactly like the cached parts), the thumbnail and the
# audio track (a.m4a).
encode() {
	local -a enc music_in
	mapfile -t enc < <(venc)
	if [ -n "$music_path" ]; then
		music_in=(-stream_loop -1 -i "file:$music_path")
	else
		music_in=(-f lavfi -i anullsrc=r=48000:cl=mono)
	fi
	ff encode -i w.nut "${music_in[@]}" -i voice.wav \
		-filter_complex "$(video_graph);$(audio_graph)" \
		-map '[v]' "${enc[@]}" -f mp4 b.mp4 \
		-map '[th]' -frames:v 1 -q:v 3 -f image2 -update 1 thumb.jpg \
		-map '[a]' -c:a aac -b:a 96k -f mp4 a.m4a
}

# join: the cached parts and the segment joined by the concat demuxer,
# the audio track added, nothing re-encoded.
join() {
	: >list.txt
	if [ "$ns" -gt 0 ]; then
		ln -sf "$sdir/a.mp4" s1.mp4
		printf "file 's1.mp4'\n" >>list.txt
	fi
	printf "file 'b.mp4'\n" >>list.txt
	if [ "$ne" -lt "$nt" ]; then
		ln -sf "$sdir/c.mp4" s3.mp4
		printf "file 's3.mp4'\n" >>list.txt
	fi
	ff join -f concat -i list.txt -i a.m4a -map 0:v -map 1:a -c copy \
		-movflags +faststart -f mp4 out.mp4
	mv -f out.mp4 "$out_path"
	mv -f thumb.jpg "$thumb_path"
}

# ---------------------------------------------------------------------------

# A half-built cache entry is removed however the script ends; SIGTERM
# (greetbotd's timeout) is turned into an exit so that this still runs.
cleanup_dir=''
trap '[ -z "$cleanup_dir" ] || rm -rf "$cleanup_dir"' EXIT
trap 'exit 143' TERM INT

mode=${GREETBOT_MODE:-video}
case $mode in video | preview) ;; *) die $EX_USAGE "GREETBOT_MODE must be video or preview" ;; esac
[ -n "${GREETBOT_OUTPUT:-}" ] || die $EX_USAGE "GREETBOT_OUTPUT is not set"
[ "$mode" = preview ] || [ -n "${GREETBOT_THUMB:-}" ] ||
	die $EX_USAGE "GREETBOT_THUMB is not set"
[ -d "${GREETBOT_TEMPLATE_DIR:-}" ] ||
	die $EX_CONFIG "template dir '${GREETBOT_TEMPLATE_DIR:-}' not found"
tdir=$(cd "$GREETBOT_TEMPLATE_DIR" && pwd)
# Our own files live in a private subdirectory of the work directory, so
# that no name of ours can collide with the output paths.
out_path=$(abspath "$GREETBOT_OUTPUT")
thumb_path=$(abspath "${GREETBOT_THUMB:-thumb.jpg}")
wdir=$PWD/.render.$$
mkdir "$wdir"
cd "$wdir"

progress 0.01
name_check
conf_load "$tdir/template.conf"
conf_check
voice_pick
ln -sf "$font_path" font.ttf
progress 0.05
speak
progress 0.15
if [ "$mode" = preview ]; then
	preview
else
	static_get
	progress 0.45
	ln -sf "$sdir/w.nut" w.nut
	encode
	progress 0.80
	join
fi
# Kept on failure, for a look at the logs.
cd ..
rm -rf "$wdir"
progress 1.00

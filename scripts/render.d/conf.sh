# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# scripts/render.d/conf.sh: template.conf, read and validated.
# Sourced by scripts/render.sh (the variables it uses are set there and in
# the other parts).
# shellcheck disable=SC2034,SC2154

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
	text_fade text_pop title_in outro outro_start outro_size outro_color outro_x outro_y \
	duration name_start name_end min_duration max_duration \
	background music music_volume music_duck width height fps crf preset \
	media_style language join title_font outro_font text_area text_shadow_color \
	text_shadow_x text_shadow_y text_drop voice_loudness preview_loudness; do
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

# rate KEY: frames per second: a whole number from 1 to 60, or an NTSC
# rate, 23.976, 29.97 or 59.94 (or as ffmpeg writes them, 24000/1001,
# 30000/1001, 60000/1001); fps_num/fps_den is the exact rate.
rate() {
	case ${conf[$1]} in
	23.976 | 24000/1001) fps_num=24000 fps_den=1001 ;;
	29.97 | 30000/1001) fps_num=30000 fps_den=1001 ;;
	59.94 | 60000/1001) fps_num=60000 fps_den=1001 ;;
	*)
		[[ ${conf[$1]} =~ ^[0-9]{1,5}$ ]] && in_range $((10#${conf[$1]})) 1 60 ||
			die $EX_CONFIG "template.conf: '$1' must be a whole number from 1 to 60," \
				"or an NTSC rate: 23.976, 29.97 or 59.94"
		fps_num=$((10#${conf[$1]})) fps_den=1
		;;
	esac
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

# lufs KEY: an integrated loudness target, a negative decimal of LUFS
# from -40 to -5 ("-16", "-13.5"); its thousandths (positive) go to
# m[KEY]. Empty: none.
lufs() {
	m[$1]=''
	[ -n "${conf[$1]}" ] || return 0
	if [[ ! ${conf[$1]} =~ ^-([0-9]{1,2}(\.[0-9]{1,3})?)$ ]] || ! milli "${BASH_REMATCH[1]}" ||
		! in_range "$REPLY" 5000 40000; then
		die $EX_CONFIG "template.conf: '$1' must be a loudness from -40 to -5 (LUFS)"
	fi
	m[$1]=$REPLY
}

# area KEY: four decimals from 0 to 1 (left, top, width, height as
# fractions of the frame) inside the frame; set area_px to them in pixels
# (x, y, w, h).
area() {
	local -a v a=()
	local k
	read -r -a v <<<"${conf[$1]}"
	[ "${#v[@]}" -eq 4 ] || die $EX_CONFIG "template.conf: '$1' must be four fractions: left top width height"
	for k in 0 1 2 3; do
		milli "${v[k]}" && in_range "$REPLY" 0 1000 ||
			die $EX_CONFIG "template.conf: '$1' must be four fractions: left top width height"
		a+=("$REPLY")
	done
	[ $((a[0] + a[2])) -le 1000 ] && [ $((a[1] + a[3])) -le 1000 ] && [ "${a[2]}" -gt 0 ] &&
		[ "${a[3]}" -gt 0 ] || die $EX_CONFIG "template.conf: '$1' must lie inside the frame"
	area_px=($((conf[width] * a[0] / 1000)) $((conf[height] * a[1] / 1000))
		$((conf[width] * a[2] / 1000)) $((conf[height] * a[3] / 1000)))
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
	default text_pop 0
	default title_in 0
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
	default title_font "${conf[font]:-}"
	default outro_font "${conf[font]:-}"
	default text_area '0.05 0.3 0.9 0.4'
	default text_shadow_color black@0.35
	default text_shadow_x 0
	default text_shadow_y ''
	default text_drop 0
	default voice_loudness ''
	default preview_loudness ''

	int voice_rate 80 450
	int voice_pitch 0 99
	num voice_volume 0 4000
	num voice_offset 0 10000
	int title_size 8 400
	int text_size 8 400
	int text_border_width 0 20
	num text_fade 0 5000
	num text_pop 0 5000
	num text_drop 0 500
	color text_shadow_color
	num text_shadow_x 0 500
	[ -z "${conf[text_shadow_y]}" ] || num text_shadow_y 0 500
	lufs voice_loudness
	lufs preview_loudness
	# The voice preview is as loud as the video when the voice is shaped.
	[ -n "${m[preview_loudness]}" ] || [ -z "${m[voice_loudness]}" ] || m[preview_loudness]=16000
	num title_in 0 5000
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
	conf[text_x_key]=${conf[text_x]}
	position text_x x
	# The keyword, before it becomes an expression: "center" stacks the
	# lines around the middle (render.d/personal.sh).
	conf[text_y_key]=${conf[text_y]}
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
	rate fps
	area text_area
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

	# Frames: a time in ms times fps_num / (1000 fps_den), rounded.
	local num=$fps_num den=$fps_den
	nt=$(((m[duration] * num + 500 * den) / (1000 * den)))
	ns=$(((m[name_start] * num + 500 * den) / (1000 * den)))
	ne=$(((m[name_end] * num + 500 * den) / (1000 * den)))
	if [ "$ns" -ge "$ne" ] || [ "$ne" -gt "$nt" ]; then
		die $EX_CONFIG "template.conf: need 0 <= name_start < name_end <= duration"
	fi
	# Times snapped to whole frames, in thousandths of a second.
	t_total=$((nt * 1000 * den / num))
	t_start=$((ns * 1000 * den / num))
	t_end=$((ne * 1000 * den / num))
	# Checked on the exact length, nt/fps seconds, as greetbotd will.
	in_range $((nt * 1000 * den)) $((m[min_duration] * num)) $((m[max_duration] * num)) ||
		die $EX_CONFIG "template.conf: need min_duration <= duration <= max_duration"

	tfile font
	font_path=$REPLY
	tfile title_font
	title_font_path=$REPLY
	tfile outro_font
	outro_font_path=$REPLY
	tfile background
	bg_path=$REPLY
	music_path=''
	if [ -n "${conf[music]}" ]; then
		tfile music
		music_path=$REPLY
	fi
}

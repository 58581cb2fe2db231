# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# scripts/render.d/ffmpeg.sh: running ffmpeg, the encoder settings, text and fades.
# Sourced by scripts/render.sh (the variables it uses are set there and in
# the other parts).
# shellcheck disable=SC2034,SC2154

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
# B-frames, so no part carries a reordering delay across a join. A key
# frame every 2 s; a frame lasts 1000 ticks (1001 at an NTSC rate).
venc() {
	enc=(-c:v libx264 -preset "${conf[preset]}" -crf "${conf[crf]}"
		-profile:v high -pix_fmt yuv420p -g $(((2 * fps_num + fps_den - 1) / fps_den))
		-bf 0 -threads "$1" -an
		-video_track_timescale $((fps_den == 1 ? fps_num * 1000 : fps_num)))
}

# The colour tags of every frame encoded, cached or per name: one set for
# all, since x264 writes a frame's range and colour space into the stream
# parameters, which must not differ between the parts of a join. A
# background tagged bt709 (a camera's, a phone's) gave the cached parts
# its tags and the window, read back from the raw copy (no tags) or Ut
# Video (tagged tv), others: every join failed.
readonly COLOR_TAGS=setparams=range=tv:color_primaries=unknown:color_trc=unknown:colorspace=unknown

# The AAC settings shared by the cached music bed and the per-name audio.
readonly -a AENC=(-c:a aac -q:a 1.5)

# drawtext FONT FILE SIZE COLOR X Y [EXTRA]: set REPLY to drawtext options
# for a text file: font (a font_link reference), colour, border, position.
drawtext() {
	printf -v REPLY "drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=%s:fontcolor=%s:borderw=%s:bordercolor=%s:x='%s':y='%s'%s" \
		"$1" "$2" "$3" "$4" "${conf[text_border_width]}" "${conf[text_border_color]}" \
		"$5" "$6" "${7:-}"
}

# font_link PATH LINK: set REPLY to how a filter string names the font at
# PATH: the path itself when it is plain (letters, digits, "_./-"), else
# LINK, a symlink to it made in the work dir.
font_link() {
	REPLY=$1
	[[ ! $REPLY =~ ^[A-Za-z0-9_./-]+$ ]] || return 0
	ln -sf "$1" "$2"
	REPLY=$2
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


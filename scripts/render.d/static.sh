# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# scripts/render.d/static.sh: the cache and the static parts, once per template version.
# Sourced by scripts/render.sh (the variables it uses are set there and in
# the other parts).
# shellcheck disable=SC2034,SC2154

# ---------------------------------------------------------------------------
# The cache directory.

# cache_init: set cache to $GREETBOT_CACHE_DIR, or to '' when it is unset
# or unusable. The render holds a shared lock on it (fd 8) to its end:
# greetbotd removes the cache of an old template version only when it can
# lock it alone (jobs/cache.c); taken while it does, the cache is given up.
# A cache this render may not write (greetbotd's, sealed after a render of
# a sample name built it: jobs/rendsrv.c) is read only: what it lacks is
# built in the work dir (cache_ro).
cache_init() {
	cache=${GREETBOT_CACHE_DIR:-}
	cache_ro=''
	if [ -n "$cache" ] && { [ -d "$cache" ] || mkdir -p "$cache" 2>/dev/null; } &&
		{ exec 8<"$cache"; } 2>/dev/null && flock -s -n 8 && [ -d "$cache" ]; then
		[ -w "$cache" ] || cache_ro=1
		return 0
	fi
	cache=''
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
		"${conf[crf]} ${conf[preset]}" "$ns $ne $nt" "$bg_path" "$font_path" "$title_font_path" "$outro_font_path" \
		"${conf[title]}" "${conf[title_size]} ${conf[title_color]}" \
		"${conf[title_x]} ${conf[title_y]} ${m[title_in]}" \
		"${conf[outro]}" "${conf[outro_size]} ${conf[outro_color]} ${m[text_fade]}" \
		"${conf[outro_x]} ${conf[outro_y]} ${m[outro_start]}" \
		"${conf[text_border_width]} ${conf[text_border_color]}" \
		"$music_path" "${conf[music_volume]}"
	[ -z "${1:-}" ] ||
		s+=$(stat -L -c '%s %Y %i' "$bg_path" "$font_path" "$title_font_path" \
			"$outro_font_path" ${music_path:+"$music_path"})
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ (c & 255)) * 1099511628211))
	done
	printf -v key '%016x' "$h"
}

# bg_probe: the background is a video ffmpeg can read, else exit 78
# saying what it is. Once per cache entry (an ffprobe).
bg_probe() {
	local info
	if ! info=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_type,width,height \
		-of csv=p=0 "file:$bg_path" 2>&1); then
		die $EX_CONFIG "template.conf: background ${conf[background]} is not a video file ffmpeg can read: ${info##*$'\n'}"
	fi
	[[ $info =~ ^video,[1-9][0-9]*,[1-9][0-9]* ]] ||
		die $EX_CONFIG "template.conf: background ${conf[background]} has no video stream${info:+ ($info)}"
}

# static_build DIR: encode into DIR, from one decode of the background
# (looped if short) and of the music: the part before the window (a.mp4),
# after it (c.mp4), and the music bed at its volume, looped and trimmed to
# the video, faded in and out as AAC (bed.m4a, what is heard wherever the
# voice is not). w*.nut (listed in w.ffconcat) hold a lossless copy of the
# window's background, bed.nut the bed as PCM (a second longer than the
# video), which the per-name mix starts from; widths the font's advance
# widths (fontwidths.pl), with which the name is measured.
static_build() {
	local out=$1 fps=$fps_num/$fps_den W=${conf[width]} H=${conf[height]}
	local g n=0 maps=() labels='' music_in end
	venc 4
	g="[0:v]setpts=PTS-STARTPTS,scale=$W:$H:force_original_aspect_ratio=increase"
	g+=",crop=$W:$H,setsar=1,fps=$fps,format=yuv420p,$COLOR_TAGS,trim=end_frame=$nt"
	if [ -n "${conf[title]}" ]; then
		put_name "${conf[title]}"
		printf '%s' "$REPLY" >title.txt
		if [ "${m[title_in]}" -gt 0 ]; then
			# Drops in from 6% of the height above while it fades in.
			local tin
			dec tin "${m[title_in]}"
			drawtext "$title_ref" title.txt "${conf[title_size]}" "${conf[title_color]}" \
				"${conf[title_x]}" "(${conf[title_y]})-h*0.06*pow(1-clip(t/$tin,0,1),3)" \
				":alpha='clip(t/$tin,0,1)'"
		else
			drawtext "$title_ref" title.txt "${conf[title_size]}" "${conf[title_color]}" \
				"${conf[title_x]}" "${conf[title_y]}"
		fi
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
		put_name "${conf[outro]}"
		printf '%s' "$REPLY" >outro.txt
		drawtext "$outro_ref" outro.txt "${conf[outro_size]}" "${conf[outro_color]}" \
			"${conf[outro_x]}" "${conf[outro_y]}" ":enable='gte(t,$from)'$fade"
		g+=,$REPLY
	fi
	if [ "$ns" -gt 0 ]; then
		labels+='[a]'
		maps+=(-map '[A]' "${enc[@]}" -f mp4 "file:$out/a.mp4")
		n=$((n + 1))
	fi
	# The window's background is kept uncompressed (decoding it is then
	# nearly free for every name, where even the fast lossless Ut Video
	# would cost a third of an HD render) in files of at most 64 MB
	# (greetbotd's default RLIMIT_FSIZE is 200 MB) listed in w.ffconcat for
	# the concat demuxer; past 1 GB in all, in Ut Video.
	local fb=$((W * H * 3 / 2)) per segt
	per=$(((64 << 20) / fb))
	[ "$per" -ge 1 ] || per=1
	dec segt $((per * 1000 * fps_den / fps_num))
	labels+='[w]'
	if [ $(((ne - ns) * fb)) -le $((1 << 30)) ]; then
		maps+=(-map '[W]' -c:v rawvideo)
	else
		maps+=(-map '[W]' -c:v utvideo)
	fi
	maps+=(-f segment -segment_format nut -segment_time "$segt"
		-segment_list_type ffconcat -segment_list "file:$out/w.ffconcat"
		-reset_timestamps 1 "file:$out/w%03d.nut")
	maps+=(-map '[R]' -c:a pcm_f32le -f nut "file:$out/bed.nut")
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
	bg_probe
	perl "$parts/fontwidths.pl" "$font_path" >"$out/widths" 2>fontwidths.log || {
		cat fontwidths.log >&2
		die $EX_CONFIG "template.conf: font: cannot read ${conf[font]} as a TrueType/OpenType font"
	}
	ff static 2 -stream_loop -1 -t "$end" -i "file:$bg_path" \
		"${music_in[@]}" -filter_complex "$g" "${maps[@]}"
}

# static_fresh: no file the entry in sdir was made from is newer than it.
static_fresh() {
	local f
	for f in "$bg_path" "$font_path" "$title_font_path" "$outro_font_path" \
		${music_path:+"$music_path"}; do
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
	if [ -d "$sdir" ] && [ -z "${static_private:-}" ]; then
		static_fresh && return 0
		cache_key stat
		sdir=$c/static-$key
		[ ! -d "$sdir" ] || return 0
	fi
	if [ -n "$cache_ro" ] && [ "$c" = "$cache" ]; then
		[ -n "${static_private:-}" ] ||
			printf 'render.sh: the read-only cache %s has no static parts for these settings, making them in the work dir\n' \
				"$c" >&2
		c=$wdir/cache
		mkdir -p "$c"
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
	if [ -n "$cache_ro" ] && [ "$c" = "$cache" ]; then
		# Not ours to drop: made again in the work dir.
		static_private=1
		static_get
		return
	fi
	exec 9>"$c/static-$key.lock"
	flock -w 600 9 || die $EX_TEMPFAIL "timed out waiting for the cache lock"
	if [ -d "$sdir" ]; then
		mv -T "$sdir" "$c/.stale-$key-$$"
		rm -rf "$c/.stale-$key-$$"
	fi
	exec 9>&-
	static_get
}


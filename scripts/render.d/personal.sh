# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# scripts/render.d/personal.sh: what is encoded per name: the window and the sound around the voice.
# Sourced by scripts/render.sh (the variables it uses are set there and in
# the other parts).
# shellcheck disable=SC2034,SC2154

# video_graph: set vg to the personalised window, the name drawn over the
# cached lossless background ([v]), and the thumbnail from two thirds into
# the window ([th]).
#
# The name (layout: one or two lines, sized to fit text_area) enters over
# text_pop seconds, growing from a quarter of its size with a little
# overshoot (x1.1, "ease out back") while it fades in over text_fade and,
# with text_drop, falls into place from text_drop of the frame's height
# above; it stays, and leaves over the last text_fade seconds, shrinking
# to 60% as it fades out. Each line is a drawtext of its own, with its
# shadow (text_shadow_*), centred (text_x center) on its own width in
# text_area; for text_y center the lines sit on baselines 1.2 em apart
# around the middle of text_area, so that the block is centred whatever
# letters it holds. t is the time in the window (the cached background
# starts with it).
video_graph() {
	local k i n fs alpha x y pop fade out seg_ms=$((t_end - t_start)) a b c sx sy cx cy drop=''
	layout
	n=${#lines[@]}
	printf 'render.sh: the name in %d line(s) at %d px\n' "$n" "$text_px" >&2
	pop=${m[text_pop]} fade=${m[text_fade]}
	[ $((2 * fade)) -le "$seg_ms" ] || fade=$((seg_ms / 2))
	[ "$pop" -le $((seg_ms - fade)) ] || pop=$((seg_ms - fade))
	fs=$text_px
	if [ "$pop" -gt 0 ]; then
		dec a "$pop"
		fs+="*(0.25+0.75*(1+2.70158*pow(clip(t/$a,0,1)-1,3)+1.70158*pow(clip(t/$a,0,1)-1,2)))"
		if [ "${m[text_drop]}" -gt 0 ]; then
			dec b "${m[text_drop]}"
			drop="-h*$b*pow(1-clip(t/$a,0,1),3)"
		fi
	fi
	alpha=''
	if [ "$fade" -gt 0 ]; then
		dec b "$fade"
		dec c $((seg_ms - fade))
		out="clip((t-$c)/$b,0,1)"
		[ "$pop" -eq 0 ] || fs+="*(1-0.4*$out)"
		alpha=":alpha='clip(t/$b,0,1)*(1-$out)'"
	fi
	# The shadow's offset: text_shadow_x/y em, or 1/30 em + 1 px down.
	sx=$(((text_px * m[text_shadow_x] + 500) / 1000))
	if [ -n "${conf[text_shadow_y]}" ]; then
		sy=$(((text_px * m[text_shadow_y] + 500) / 1000))
	else
		sy=$((text_px / 30 + 1))
	fi
	# The middle of text_area, as the frame's middle is written when it is.
	cx=$((area_px[0] + area_px[2] / 2)) cy=$((area_px[1] + area_px[3] / 2))
	[ $((2 * cx)) -ne "${conf[width]}" ] || cx=w/2
	[ $((2 * cy)) -ne "${conf[height]}" ] || cy=h/2
	# Frame N at N/fps: the concat demuxer starts each chunk of the cached
	# window at the previous one's last frame, not after it (a chunk's
	# duration, as nut gives it, leaves its last frame out), and a frame
	# of the same time as the one before would be dropped: one a chunk.
	vg="[0:v]setpts=N*$fps_den/($fps_num*TB),$COLOR_TAGS,"
	for ((i = 0; i < n; i++)); do
		printf '%s' "${lines[i]}" >"name$i.txt"
		x=${conf[text_x]}
		[ "${conf[text_x_key]}" != center ] || [ "$cx" = w/2 ] || x="$cx-text_w/2"
		case ${conf[text_y_key]} in
		center) y="$cy+($fs)*($((2 * i - n + 1))*0.6+0.36)-ascent$drop" ;;
		*) y="${conf[text_y]}+($fs)*1.2*$i$drop" ;;
		esac
		[ "$i" -eq 0 ] || vg+=,
		printf -v REPLY "drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize='%s':fontcolor=%s:borderw=%s:bordercolor=%s:shadowcolor=%s:shadowx=%d:shadowy=%d:x='%s':y='%s'%s" \
			"$font_ref" "name$i.txt" "$fs" "${conf[text_color]}" "${conf[text_border_width]}" \
			"${conf[text_border_color]}" "${conf[text_shadow_color]}" "$sx" "$sy" "$x" "$y" "$alpha"
		vg+=$REPLY
	done
	k=$(((ne - ns) * 2 / 3))
	vg+=",split[v][t];[t]trim=start_frame=$k:end_frame=$((k + 1))"
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
# the concat join, from its second input; else the bed is bed.nut, linked
# into the work dir.
# shellcheck disable=SC2120 # "full" comes from join.sh
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
	if [ "${1:-}" = full ]; then
		ag="[1:a]"
	else
		ag="amovie=bed.nut,"
	fi
	ag+="atrim=start_sample=$a_first:end_sample=$a_end,asetpts=PTS-STARTPTS"
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
# (b.mp4, encoded exactly like the cached parts, in GREETBOT_THREADS x264
# threads: greetbotd gives a render the cores no other render uses, and
# one thread when all are busy, where one costs least CPU), the thumbnail
# and, for the fast join,
# the audio stretch (v.m4a).
# The window's background comes from the concat demuxer over the cached
# raw chunks (w.ffconcat); the bed (bed.nut, through a link here, so that
# no cache path is spelled in a filter) and the voice are read by amovie
# filters rather than as more inputs: ffmpeg gives each input of several
# a thread of its own.
encode() {
	local -a enc audio=()
	local threads=${GREETBOT_THREADS:-1}
	case $threads in '' | *[!0-9]* | 0) threads=1 ;; esac
	[ "$threads" -gt 16 ] && threads=16
	venc "$threads"
	video_graph
	if [ "${conf[join]}" = fast ]; then
		ln -sf "$sdir/bed.nut" bed.nut
		audio_graph
		vg+=";$ag"
		audio=(-map '[a]' "${AENC[@]}" -f mp4 v.m4a)
	fi
	ff encode 1 -f concat -safe 0 -i "file:$sdir/w.ffconcat" \
		-filter_complex "$vg" \
		-map '[v]' "${enc[@]}" -f mp4 b.mp4 \
		-map '[th]' -threads 1 -frames:v 1 -q:v 3 -f image2 -update 1 thumb.jpg \
		"${audio[@]}"
}

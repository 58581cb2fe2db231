# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# scripts/render.d/join.sh: the MP4 from the cached and the new parts.
# Sourced by scripts/render.sh (the variables it uses are set there and in
# the other parts).
# shellcheck disable=SC2034,SC2154

# join: the MP4 from the cached parts and the new ones. "fast": the
# perl joiner (render.d/mp4join.pl) copies the video segments and splices
# the audio stretch into the cached bed's AAC frames, nothing decoded or
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
	if ! perl "$parts/mp4join.pl" -r out.mp4 "$out_path" -r thumb.jpg "$thumb_path" \
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
# the audio track mixed from the cached bed (bed.nut) and the voice.
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
	audio_graph full
	ff join 1 -f concat -safe 0 -i list.txt -i "file:$sdir/bed.nut" -filter_complex "$ag" \
		-map 0:v -map '[a]' -c:v copy "${AENC[@]}" -movflags +faststart -f mp4 out.mp4
	mv -f out.mp4 "$out_path"
	mv -f thumb.jpg "$thumb_path"
}


#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# bench/render.sh: what a new name costs with scripts/render.sh (cached
# static parts and music bed; per name only the window's video and the
# stretch of audio around the voice encoded, then joined without
# re-encoding) for the default template, against two baselines measured in
# the same run:
#
# - naive: the whole video made per name the obvious way: espeak-ng for
#   the voice, then one ffmpeg over the whole duration (background, title,
#   outro and name drawtext, music ducked under the voice, thumbnail) with the
#   output settings render.sh uses per name (x264 preset/crf from
#   template.conf, High, yuv420p, GOP 2 s, no B-frames, AAC -q:a 1.5 mono,
#   +faststart) and its threads (one each for x264, the decoders, the
#   filters and the thumbnail);
# - segment only: what is personal in the video, the least any per-name
#   render must make: the voice (espeak-ng), and one ffmpeg encoding the
#   window's picture (the name drawn over the cached window background,
#   same x264 settings as render.sh's per-name encode) and the sound while
#   the voice speaks (cached bed ducked, plus the voice, AAC as render.sh).
#   No thumbnail, no join. cpu_segment_video_only is the picture alone
#   (ratio_segment_video_only = new/that), for comparison.
#   floor_ratio_naive = segment only / naive: the ratio_naive of a render
#   that made the segment and nothing more, the least a render.sh that
#   starts espeak-ng and ffmpeg per name can reach (the two processes'
#   start-up is a fixed cost on both sides).
# - ffmpeg start-up: `ffmpeg -version`, the CPU any ffmpeg costs before it
#   does anything (loading and linking its ~200 shared libraries).
#   ratio_naive_beyond_startup = (new - that) / (naive - that): the ratio
#   of the work itself, for machines where starting a process is cheaper
#   than on this one.
#
# CPU is user+sys of the whole process tree (bench/lib/cputime.c: wait4's
# rusage, the script and every child it waited for, to the microsecond).
# render.sh runs as greetbotd runs it: env -i with the contract's
# variables, a fresh work dir per run, one cache dir shared by all runs and
# warmed once first. wall_new_name is from starting render.sh to a
# validated MP4 (ffprobe: a video and an audio stream,
# duration within min_duration..max_duration). Each figure is the median of
# BENCH_RUNS (7) runs; each ratio is the median of the runs' own ratios
# (a run measures new name and baselines back to back, so a slower moment
# of a shared machine moves both sides).
. "$(dirname "$0")/lib/common.sh"

runs=${BENCH_RUNS:-7}
tdir=$TOP/templates/${BENCH_TEMPLATE:-ru-birthday}
conf=$tdir/template.conf
script=$TOP/scripts/render.sh
cache=$B/cache
names=(Маша Алексей Ксения Дмитрий Ульяна Тимофей Варвара Елисей Полина)
[ "$runs" -le "${#names[@]}" ] || b_fail "BENCH_RUNS is at most ${#names[@]}"
[ -f "$tdir/media/background.mp4" ] || b_fail "no template media: run make media"

# cf KEY DEFAULT: a template.conf value (the last one), or DEFAULT.
cf() {
	local v
	v=$(awk -v k="$1" '
		/^[[:space:]]*(#|$)/ { next }
		{
			line = $0
			sub(/^[[:space:]]+/, "", line)
			key = line; sub(/[[:space:]]*=.*/, "", key)
			if (key != k) next
			sub(/^[^=]*=[[:space:]]*/, "", line); sub(/[[:space:]]+$/, "", line)
			v = line; found = 1
		}
		END { if (found) print v }' "$conf")
	printf '%s' "${v:-$2}"
}

# pos VALUE AXIS: render.sh's position keywords as drawtext expressions.
pos() {
	case $2:$1 in
	x:center) printf '(w-text_w)/2' ;;
	y:center) printf '(h-text_h)/2' ;;
	x:left) printf 'w*0.05' ;;
	x:right) printf 'w*0.95-text_w' ;;
	y:top) printf 'h*0.08' ;;
	y:bottom) printf 'h*0.92-text_h' ;;
	*) printf '%s' "$1" ;;
	esac
}

W=$(cf width 640) H=$(cf height 360) fps=$(cf fps 25)
dur=$(cf duration 7) ns=$(cf name_start 2) ne=$(cf name_end 5.6)
preset=$(cf preset veryfast) crf=$(cf crf 26)
font=$(cf font /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf)
bw=$(cf text_border_width 2) bc=$(cf text_border_color black)
fade=$(cf text_fade 0.4)
min_d=$(cf min_duration 0) max_d=$(cf max_duration 60)
music=$tdir/$(cf music '')
nt=$(awk -v d="$dur" -v f="$fps" 'BEGIN { printf "%d", d * f + 0.5 }')
fns=$(awk -v d="$ns" -v f="$fps" 'BEGIN { printf "%d", d * f + 0.5 }')
fne=$(awk -v d="$ne" -v f="$fps" 'BEGIN { printf "%d", d * f + 0.5 }')
venc=(-c:v libx264 -preset "$preset" -crf "$crf" -profile:v high -pix_fmt yuv420p
	-g $((fps * 2)) -bf 0 -threads 1 -video_track_timescale $((fps * 1000)))
ff=(ffmpeg -nostdin -hide_banner -loglevel error -y -threads 1 -filter_complex_threads 1)

# CPU seconds of a process tree, to the microsecond (bench/lib/cputime.c).
cputime=$B/cputime
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$cputime" "$TOP/bench/lib/cputime.c"

# cpu_of OUT CMD...: run CMD; OUT gets its user+sys seconds.
cpu_of() {
	local out=$1
	shift
	"$cputime" "$out" "$@" >"$out.stdout" 2>"$out.stderr" ||
		b_fail "$* failed: $(tail -n 5 "$out.stderr")"
}

# valid MP4: ffprobe finds a video and an audio stream and the duration is
# within the template's bounds.
valid() {
	ffprobe -v error -show_entries stream=codec_type:format=duration -of json "$1" |
		jq -e --argjson lo "$min_d" --argjson hi "$max_d" \
			'([.streams[].codec_type] | index("video") and index("audio")) and
			 (.format.duration | tonumber) as $d | $d >= $lo and $d <= $hi' >/dev/null
}

# render NAME WORKDIR: scripts/render.sh as greetbotd runs it.
render() {
	mkdir -p "$2"
	(cd "$2" && exec "$cputime" "$2/time" env -i \
		PATH=/usr/local/bin:/usr/bin:/bin HOME="$2" LANG=C.UTF-8 \
		GREETBOT_NAME="$1" GREETBOT_TEMPLATE_DIR="$tdir" GREETBOT_CACHE_DIR="$cache" \
		GREETBOT_OUTPUT="$2/out.mp4" GREETBOT_THUMB="$2/thumb.jpg" GREETBOT_MODE=video \
		"$script" >"$2/stdout" 2>"$2/stderr") ||
		b_fail "render.sh failed for $1: $(tail -n 5 "$2/stderr")"
}

# Warm the cache (static parts and window background) once.
b_log "warming the cache"
render Прогрев "$B/warm"
sdir=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'static-*' | head -n 1)
[ -f "$sdir/w.ffconcat" ] || b_fail "no cached window background in $cache"

new=() walls=() naive=() seg=() segv=() rn=() rs=() rsv=() fl=() st=() rb=()
for ((i = 0; i < runs; i++)); do
	name=${names[i]}
	# New name, warm cache, to a validated MP4.
	w=$B/new$i
	t0=$(b_now)
	render "$name" "$w"
	valid "$w/out.mp4" || b_fail "render.sh output for $name is not a valid MP4"
	t1=$(b_now)
	walls+=("$(b_calc "$t1 - $t0")")
	new+=("$(cat "$w/time")")

	# Naive: the voice, then one ffmpeg over the whole duration.
	w=$B/naive$i
	mkdir -p "$w"
	printf '%s' "$(cf phrase '{name}')" | sed "s/{name}/$name/" >"$w/phrase.txt"
	printf '%s' "$(cf text '{name}')" | sed "s/{name}/$name/" >"$w/name.txt"
	printf '%s' "$(cf title '')" >"$w/title.txt"
	voice=$(cf voice ru)
	espeak-ng --voices=variant | grep -q "!v/${voice#*+}\b" || voice=${voice%%+*}
	cpu_of "$w/cpu-voice" espeak-ng -b 1 -v "$voice" -s "$(cf voice_rate 150)" \
		-p "$(cf voice_pitch 50)" -w "$w/voice.wav" -f "$w/phrase.txt"
	vbytes=$(stat -c %s "$w/voice.wav")
	vrate=$(od -An -tu4 -j28 -N4 "$w/voice.wav")
	vat=$(b_calc "$ns + $(cf voice_offset 0.2)")
	vend=$(b_calc "$vat + ($vbytes - 44) / ${vrate//[[:space:]]/} + 0.25")
	vs=$(b_calc "$vat - 0.15")
	alpha="alpha='clip(min(t-$ns,$ne-t)/$fade,0,1)':enable='between(t,$ns,$ne)'"
	dt="fontfile=$font:expansion=none:borderw=$bw:bordercolor=$bc"
	g="[0:v]setpts=PTS-STARTPTS,scale=$W:$H:force_original_aspect_ratio=increase"
	g+=",crop=$W:$H,setsar=1,fps=$fps,format=yuv420p,trim=end_frame=$nt"
	g+=",drawtext=$dt:textfile=$w/title.txt:fontsize=$(cf title_size 36)"
	g+=":fontcolor=$(cf title_color white):x='$(pos "$(cf title_x center)" x)'"
	g+=":y='$(pos "$(cf title_y top)" y)'"
	if [ -n "$(cf outro '')" ]; then
		printf '%s' "$(cf outro '')" >"$w/outro.txt"
		os=$(cf outro_start "$ne")
		g+=",drawtext=$dt:textfile=$w/outro.txt:fontsize=$(cf outro_size "$(cf title_size 36)")"
		g+=":fontcolor=$(cf outro_color "$(cf title_color white)")"
		g+=":x='$(pos "$(cf outro_x center)" x)':y='$(pos "$(cf outro_y 'h*0.75')" y)'"
		g+=":enable='gte(t,$os)':alpha='clip((t-$os)/$fade,0,1)'"
	fi
	g+=",drawtext=$dt:textfile=$w/name.txt:fontsize=$(cf text_size 64)"
	g+=":fontcolor=$(cf text_color white):x='$(pos "$(cf text_x center)" x)'"
	g+=":y='$(pos "$(cf text_y center)" y)':$alpha,split[v][t];"
	k=$((fns + (fne - fns) * 2 / 3))
	g+="[t]trim=start_frame=$k:end_frame=$((k + 1)),scale=320:320:force_original_aspect_ratio=decrease[th];"
	mv=$(cf music_volume 0.4) duck=$(cf music_duck 0.5)
	g+="[1:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=mono,atrim=end=$dur"
	g+=",volume=eval=frame:volume='$mv*(1-(1-$duck)*clip(min(t-$vs,$vend-t)/0.15,0,1))'[m];"
	g+="[2:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=mono"
	g+=",volume=$(cf voice_volume 1),adelay=delays=$(b_calc "$vat * 1000"):all=1[s];"
	g+="[m][s]amix=inputs=2:duration=first:dropout_transition=0:normalize=0"
	g+=",apad=whole_dur=$dur,atrim=end=$dur,afade=t=in:d=0.05"
	g+=",afade=t=out:st=$(b_calc "$dur - 0.5"):d=0.5[a]"
	cpu_of "$w/cpu-ffmpeg" "${ff[@]}" -stream_loop -1 -t "$(b_calc "$dur + 1")" \
		-i "$tdir/$(cf background '')" -threads 1 -stream_loop -1 -i "$music" \
		-threads 1 -i "$w/voice.wav" \
		-filter_complex "$g" \
		-map '[v]' "${venc[@]}" -map '[a]' -c:a aac -q:a 1.5 -movflags +faststart \
		-f mp4 "$w/out.mp4" \
		-map '[th]' -threads 1 -frames:v 1 -q:v 3 -f image2 -update 1 "$w/thumb.jpg"
	valid "$w/out.mp4" || b_fail "the naive output is not a valid MP4"
	naive+=("$(b_calc "$(cat "$w/cpu-voice") + $(cat "$w/cpu-ffmpeg")")")

	# Segment only: what is personal in the video and nothing more: the
	# voice (espeak-ng, as for naive), then one ffmpeg for the window's
	# picture (the name over the cached window background) and the sound
	# while the voice speaks (the cached bed, ducked, plus the voice, from
	# 150 ms before it to 250 ms after, as render.sh ducks). No thumbnail,
	# no join. The picture alone is measured too (segment_video_only).
	w=$B/seg$i
	mkdir -p "$w"
	printf '%s' "$(cf text '{name}')" | sed "s/{name}/$name/" >"$w/name.txt"
	cp "$B/naive$i/voice.wav" "$w/voice.wav"
	sl=$(b_calc "$ne - $ns")
	g="[0:v]drawtext=$dt:textfile=$w/name.txt:fontsize=$(cf text_size 64)"
	g+=":fontcolor=$(cf text_color white):x='$(pos "$(cf text_x center)" x)'"
	g+=":y='$(pos "$(cf text_y center)" y)'"
	g+=":alpha='clip(min(t,$sl-t)/$fade,0,1)'[v]"
	cpu_of "$w/cpu-video" "${ff[@]}" -f concat -safe 0 -i "$sdir/w.ffconcat" -filter_complex "$g" -map '[v]' \
		"${venc[@]}" -an -f mp4 "$w/b.mp4"
	ga="[1:a]atrim=start=$vs:end=$vend,asetpts=PTS-STARTPTS,volume=${duck}[m];"
	ga+="amovie=$w/voice.wav,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=mono"
	ga+=",volume=$(cf voice_volume 1),adelay=delays=150:all=1[s];"
	ga+="[m][s]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[a]"
	cpu_of "$w/cpu" "${ff[@]}" -f concat -safe 0 -i "$sdir/w.ffconcat" -i "$sdir/bed.nut" -filter_complex "$g;$ga" \
		-map '[v]' "${venc[@]}" -f mp4 "$w/b.mp4" -map '[a]' -c:a aac -q:a 1.5 -f mp4 "$w/a.m4a"
	segv+=("$(cat "$w/cpu-video")")
	seg+=("$(b_calc "$(cat "$B/naive$i/cpu-voice") + $(cat "$w/cpu")")")
	rn+=("$(b_calc "${new[i]} / ${naive[i]}")")
	rs+=("$(b_calc "${new[i]} / ${seg[i]}")")
	rsv+=("$(b_calc "${new[i]} / ${segv[i]}")")
	fl+=("$(b_calc "${seg[i]} / ${naive[i]}")")
	cpu_of "$B/cpu-start$i" ffmpeg -hide_banner -version
	st+=("$(cat "$B/cpu-start$i")")
	rb+=("$(b_calc "(${new[i]} - ${st[i]}) / (${naive[i]} - ${st[i]})")")
	b_log "run $((i + 1))/$runs: new name ${new[i]}s cpu (${walls[i]}s wall), naive ${naive[i]}s," \
		"segment ${seg[i]}s (its picture alone ${segv[i]}s)"
done

cpu_new=$(b_median "${new[@]}")
cpu_naive=$(b_median "${naive[@]}")
cpu_seg=$(b_median "${seg[@]}")
cpu_segv=$(b_median "${segv[@]}")
wall=$(b_median "${walls[@]}")
printf '{"bench":"render","template":"%s","runs":%d,"cpu_new_name":%s,"cpu_naive":%s,"cpu_segment_only":%s,"ratio_naive":%s,"ratio_segment":%s,"wall_new_name":%s,"cpu_segment_video_only":%s,"ratio_segment_video_only":%s,"floor_ratio_naive":%s,"cpu_ffmpeg_startup":%s,"ratio_naive_beyond_startup":%s}\n' \
	"$(basename "$tdir")" "$runs" "$cpu_new" "$cpu_naive" "$cpu_seg" \
	"$(b_median "${rn[@]}")" "$(b_median "${rs[@]}")" "$wall" \
	"$cpu_segv" "$(b_median "${rsv[@]}")" "$(b_median "${fl[@]}")" \
	"$(b_median "${st[@]}")" "$(b_median "${rb[@]}")"

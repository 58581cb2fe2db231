#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# scripts/render.d/mp4join.pl, the MP4 joiner, on its own. Its parts are made
# here as render.sh makes them (render.d/ffmpeg.sh's encoder settings), from
# ffmpeg's lavfi sources at a small frame: three H.264 segments (before, in
# and after the personalised window), the AAC music bed and a stretch encoded
# again that is spliced into it, joined as render.d/join.sh joins them. The
# result decodes without errors, has its moov before its mdat, lasts as long
# as its parts with as many frames, interleaves audio and video, shows the
# frames of an ffmpeg concat-demuxer join of the same parts and carries the
# parts' packets untouched; the outputs are moved into place and the work
# dir removed. A truncated part, a part encoded otherwise, a missing part and
# a failed write exit non-zero with a message and leave no file.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=scripts/render.d/common.sh
. "$TOP/scripts/render.d/common.sh"
# shellcheck source=scripts/render.d/ffmpeg.sh
. "$TOP/scripts/render.d/ffmpeg.sh"

J=$TOP/scripts/render.d/mp4join.pl
P=$T/parts
mkdir "$P"
# The x264 settings of the cached parts and the per-name segment (venc), at
# 25 fps; the AAC ones of the bed and the stretch (AENC).
# shellcheck disable=SC2034 # read by venc (render.d/ffmpeg.sh)
declare -A conf=([preset]=veryfast [crf]=26 [fps]=25)
# shellcheck disable=SC2034 # the rate as render.d/conf.sh sets it
fps_num=25 fps_den=1
venc 1
# 4 s of video: a.mp4 frames 0-24, b.mp4 25-74, c.mp4 75-99. The bed is 4 s
# of one tone; v.m4a another tone from AAC frame 37 on (as audio_splice
# starts a stretch 3 frames before what it keeps).
g="testsrc2=s=160x90:r=25:d=4,split=3[x][y][z];[x]trim=end_frame=25[A]"
g+=";[y]trim=start_frame=25:end_frame=75,setpts=PTS-STARTPTS[B]"
g+=";[z]trim=start_frame=75,setpts=PTS-STARTPTS[C]"
g+=";sine=f=440:r=48000:d=4,aformat=channel_layouts=mono[bed]"
g+=";sine=f=660:r=48000:d=4,aformat=channel_layouts=mono,atrim=start_sample=$((37 * AF))"
g+=",asetpts=PTS-STARTPTS[v]"
# shellcheck disable=SC2154 # enc is set by venc
ffmpeg -nostdin -v error -y -filter_complex "$g" \
	-map '[A]' "${enc[@]}" -f mp4 "$P/a.mp4" -map '[B]' "${enc[@]}" -f mp4 "$P/b.mp4" \
	-map '[C]' "${enc[@]}" -f mp4 "$P/c.mp4" \
	-map '[bed]' "${AENC[@]}" -f mp4 "$P/bed.m4a" -map '[v]' "${AENC[@]}" -f mp4 "$P/v.m4a"

# probe FILE ENTRIES [ffprobe options]: one value per line.
probe() {
	local file=$1 what=$2
	shift 2
	ffprobe -v error "$@" -show_entries "$what" -of default=nw=1:nk=1 "$file"
}
# Packets of a stream (v or a) as MD5s of their bytes, in order.
hashes() { probe "$1" packet=data_hash -select_streams "$2" -show_data_hash MD5; }
# The top-level boxes of an MP4, in file order.
boxes() {
	ffprobe -v trace "$1" 2>&1 | sed -nE "s/.*type:'([a-z0-9 ]{4})' parent:'root'.*/\1/p" |
		paste -sd' ' -
}
# The decoded video frames' MD5s.
frames() { ffmpeg -nostdin -v error -i "$1" -map 0:v -f framemd5 - | awk -F', *' '!/^#/ { print $6 }'; }

# The bed's AAC frames 0-39, the stretch's 3-42 (the bed's 40-79), the bed's
# from 80 on: the call join.sh makes, with the thumbnail and the output
# moved into place and the work dir removed.
nbed=$(probe "$P/bed.m4a" stream=nb_frames)
W=$T/work
mkdir "$W"
: >"$W/thumb.jpg"
rc=0
(cd "$W" && perl "$J" -r out.mp4 "$T/out.mp4" -r thumb.jpg "$T/thumb.jpg" -c "$W" out.mp4 \
	T "$P/a.mp4" 0 - "$P/b.mp4" 0 - "$P/c.mp4" 0 - \
	T "$P/bed.m4a" 0 40 "$P/v.m4a" 3 43 "$P/bed.m4a" 80 -) 2>"$T/join.err" || rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$T/join.err" ]; then
	t_ok "the joiner exits 0 and says nothing"
else
	t_fail "the joiner exits 0 and says nothing (exit $rc)"
	t_show "$T/join.err"
fi
out=$T/out.mp4
t_check "the output and the thumbnail are moved into place" test -s "$out" -a -e "$T/thumb.jpg"
t_check "and the work dir is removed" test ! -e "$W"

ffmpeg -nostdin -v error -i "$out" -f null - >/dev/null 2>"$T/decode.err" && rc=0 || rc=$?
t_check "the output decodes without errors" test "$rc" -eq 0 -a ! -s "$T/decode.err"
t_show "$T/decode.err" 5
t_check "one H.264 and one AAC stream" \
	test "$(probe "$out" stream=codec_name | sort | paste -sd' ' -)" = "aac h264"
t_check "moov before mdat, as +faststart writes it ($(boxes "$out"))" \
	test "$(boxes "$out")" = "ftyp moov mdat"

sum=$(for f in a b c; do probe "$P/$f.mp4" stream=duration; done | awk '{ s += $1 } END { printf "%.3f", s }')
dur=$(probe "$out" stream=duration -select_streams v | awk '{ printf "%.3f", $1 }')
t_check "the video lasts as long as its parts ($dur s, parts $sum s)" test "$dur" = "$sum"
n=$(probe "$out" stream=nb_read_frames -select_streams v -count_frames)
t_check "it decodes to as many frames as its parts have ($n, want 100)" test "$n" = 100
t_check "the audio has as many AAC frames as the bed (the stretch replaces 40)" \
	test "$(probe "$out" stream=nb_frames -select_streams a)" = "$nbed"
t_check "and lasts as long as the bed" \
	test "$(probe "$out" stream=duration -select_streams a)" = "$(probe "$P/bed.m4a" stream=duration)"

# Interleaving: in file order, how far one stream runs ahead of the other,
# and how often the file switches between them.
read -r lead runs < <(ffprobe -v error -show_entries packet=stream_index,dts_time,pos \
	-of compact=p=0 "$out" | tr '|=' '  ' |
	awk '{ for (i = 1; i < NF; i += 2) f[$i] = $(i + 1); print f["pos"], f["stream_index"], f["dts_time"] }' |
	sort -n | awk '{ t[$2] = $3; if ($2 != s) runs++; s = $2
		if ((1 - $2) in t && $3 - t[1 - $2] > lead) lead = $3 - t[1 - $2] }
		END { printf "%.2f %d\n", lead, runs }')
t_check "audio and video are interleaved: $runs runs, neither ahead by more than 1 s ($lead s)" \
	awk -v l="$lead" -v r="$runs" 'BEGIN { exit !(l <= 1 && r >= 8) }'

printf "file '%s'\n" "$P/a.mp4" "$P/b.mp4" "$P/c.mp4" >"$T/list.txt"
ffmpeg -nostdin -v error -f concat -safe 0 -i "$T/list.txt" -c copy -f mp4 "$T/concat.mp4"
frames "$out" >"$T/frames.join"
frames "$T/concat.mp4" >"$T/frames.concat"
t_check "its frames are those of the concat demuxer's join of the same parts (framemd5)" \
	cmp -s "$T/frames.join" "$T/frames.concat"
t_check "the video packets are the parts' own, in order" \
	cmp -s <(hashes "$out" v) <(for f in a b c; do hashes "$P/$f.mp4" v; done)
t_check "the audio packets are the bed's and the stretch's, as asked" \
	cmp -s <(hashes "$out" a) <({ hashes "$P/bed.m4a" a | sed -n '1,40p'
		hashes "$P/v.m4a" a | sed -n '4,43p'; hashes "$P/bed.m4a" a | sed -n '81,$p'; })

# fails DESC PATTERN ARGS...: the joiner on ARGS (one video track), writing
# $T/bad.mp4 and asked to move a file, run through the command in wrap[],
# exits non-zero with a message matching PATTERN and leaves neither the
# output nor the move.
wrap=()
fails() {
	local desc=$1 pat=$2 rc=0
	shift 2
	: >"$T/keep"
	"${wrap[@]}" perl "$J" -r "$T/keep" "$T/moved" "$T/bad.mp4" T "$@" 2>"$T/bad.err" || rc=$?
	if [ "$rc" -ne 0 ] && grep -qE "$pat" "$T/bad.err" && [ ! -e "$T/bad.mp4" ] &&
		[ ! -e "$T/moved" ]; then
		t_ok "$desc: exit $rc, '$(sed -n "1s|$T/||gp" "$T/bad.err")', no file"
	else
		t_fail "$desc (exit $rc; want non-zero, /$pat/, no output, nothing moved)"
		t_show "$T/bad.err" 5
		ls -l "$T/bad.mp4" "$T/moved" 2>/dev/null | t_show /dev/stdin
	fi
	rm -f "$T/bad.mp4" "$T/moved"
}

size=$(stat -c %s "$P/b.mp4")
head -c $((size * 2 / 3)) "$P/b.mp4" >"$T/cut.mp4"
fails "a truncated part (its moov at the end lost)" 'cut\.mp4' \
	"$P/a.mp4" 0 - "$T/cut.mp4" 0 - "$P/c.mp4" 0 -
ffmpeg -nostdin -v error -i "$P/b.mp4" -c copy -movflags +faststart -f mp4 "$T/fast.mp4"
size=$(stat -c %s "$T/fast.mp4")
head -c $((size * 2 / 3)) "$T/fast.mp4" >"$T/cut-fast.mp4"
fails "a truncated part (moov first, its samples cut)" 'cut-fast\.mp4: truncated' \
	"$P/a.mp4" 0 - "$T/cut-fast.mp4" 0 - "$P/c.mp4" 0 -
ffmpeg -nostdin -v error -f lavfi -i testsrc2=s=176x96:r=25:d=2 "${enc[@]}" -f mp4 "$T/other.mp4"
fails "a video part of another size" 'other\.mp4: codec differs' \
	"$P/a.mp4" 0 - "$T/other.mp4" 0 - "$P/c.mp4" 0 -
ffmpeg -nostdin -v error -f lavfi -i sine=r=44100:d=2 "${AENC[@]}" -f mp4 "$T/other.m4a"
fails "an audio part of another sample rate" 'other\.m4a: codec differs' \
	"$P/bed.m4a" 0 40 "$T/other.m4a" 3 43 "$P/bed.m4a" 80 -
fails "a missing part" 'gone\.mp4' "$P/a.mp4" 0 - "$T/gone.mp4" 0 -
fails "samples a part does not have" 'b\.mp4: no samples' "$P/a.mp4" 0 - "$P/b.mp4" 0 51
# A write cut short by the file size limit (SIGXFSZ ignored, so that the
# write fails rather than the process dies).
wrap=(bash -c 'ulimit -f 16 && trap "" XFSZ && exec "$@"' _)
fails "a write that fails (file size limit)" 'bad\.mp4: File too large' \
	"$P/a.mp4" 0 - "$P/b.mp4" 0 - "$P/c.mp4" 0 -
t_done

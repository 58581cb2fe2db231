#!/bin/bash
# SPDX-License-Identifier: ISC
# templates/example/render.sh: the starting point for a template's own render
# script (templates/README.md). It keeps the contract ("Render script contract",
# docs/ARCHITECTURE.md) with espeak-ng and one ffmpeg, no cache (preview mode:
# the voice alone, OGG/Opus). The name reaches them only through files.
set -eu
die() { printf 'render.sh: %s\n' "$2" >&2; exit "$1"; }
mode=${GREETBOT_MODE:-video} out=${GREETBOT_OUTPUT:-} thumb=${GREETBOT_THUMB:-}
name=${GREETBOT_NAME:-} tdir=${GREETBOT_TEMPLATE_DIR:-.}
[[ $mode =~ ^(video|preview)$ && -n $out && (-n $thumb || $mode == preview) ]] ||
	die 64 "GREETBOT_MODE is not video or preview, or GREETBOT_OUTPUT or GREETBOT_THUMB unset"
[[ $name =~ [^[:space:]] && ! $name =~ [[:cntrl:]]|\[\[ && ${#name} -le 128 ]] || die 65 "bad name"
# template.conf: "key = value" lines. Each value used below must match its pattern.
declare -A c=([title]='' [music]='' [text_size]=120) m=()
kv='^[[:space:]]*([a-z_]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])'
while IFS= read -r l; do [[ ! $l =~ $kv ]] || c[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}; done \
	<"$tdir/template.conf" || die 78 "cannot read template.conf"
# An NTSC rate (23.976, 29.97, 59.94) as ffmpeg takes it exactly: 24000/1001 ...
case ${c[fps]:-} in 23.976 | 29.97 | 59.94) c[fps]=$(((${c[fps]%.*} + 1) * 1000))/1001 ;; esac
n='^[1-9][0-9]{0,3}$' sec='^[0-9]{1,2}(\.[0-9]{1,3})?$' nm='.*\{name\}'
for k in width:$n height:$n fps:'^([1-9]|[1-5][0-9]|60|[0-9]{5}/1001)$' text_size:$n duration:$sec \
	name_start:$sec name_end:$sec phrase:$nm text:$nm voice:'^[a-z0-9_/-]+(\+[a-z0-9_]+)?$' \
	font:. background:.; do
	[[ ${c[${k%%:*}]:-} =~ ${k#*:} ]] || die 78 "template.conf: '${k%%:*}' is missing or bad"
done
for k in duration name_start name_end; do printf -v "m[$k]" %.0f "${c[$k]}e3"; done # in ms
((m[name_start] < m[name_end] && m[name_end] <= m[duration])) || die 78 "template.conf: bad times"
for k in font background music; do [[ ${c[$k]} == /* || -z ${c[$k]} ]] || c[$k]=$tdir/${c[$k]}; done
[ -r "${c[font]}" ] && [ -r "${c[background]}" ] && [ -r "${c[music]:-/dev/null}" ] ||
	die 78 "template.conf: cannot read the font, the background or the music"
mkdir ".example.$$" && cd ".example.$$" && printf 'progress 0.05\n' # outputs made here
text=${c[text]//'{name}'/"$name"} && printf '%s' "$text" >name.txt
printf '%s' "${c[phrase]//'{name}'/"$name"}" >phrase.txt && printf '%s' "${c[title]}" >title.txt
espeak-ng -v "${c[voice]}" -w voice.wav -f phrase.txt || die 75 "espeak-ng failed"
args=(-i voice.wav -ac 1 -ar 48000 -c:a libopus -b:a 48k -f ogg out) # preview mode
if [ "$mode" = video ]; then
	W=${c[width]} H=${c[height]} a=${c[name_start]} b=${c[name_end]} d=${c[duration]}
	px=$((W * 9 / 10 / ${#text})) && ((px <= c[text_size])) || px=${c[text_size]} # <= 90% wide
	dt="drawtext=fontfile=font.ttf:expansion=none:fontcolor=white:borderw=6:bordercolor=0x0D1B4A"
	g="[0:v]scale=$W:$H:force_original_aspect_ratio=increase,crop=$W:$H,setsar=1,fps=${c[fps]}"
	g+=",format=yuv420p,$dt:textfile=title.txt:fontsize=$((H / 11)):x=(w-text_w)/2:y=h*0.08"
	# The name grows in over 0.5 s, fades out over its last 0.4 s, is on the thumbnail.
	g+=",$dt:textfile=name.txt:fontsize='$px*(0.5+0.5*clip((t-$a)/0.5,0,1))':x=(w-text_w)/2"
	g+=":y=(h-text_h)/2:alpha='clip((t-$a)/0.3,0,1)*clip(($b-t)/0.4,0,1)':enable='between(t,$a,$b)'"
	g+=",split[v][t];[t]select='gte(t,($a+$b)/2)',scale=320:320:force_original_aspect_ratio=decrease"
	# The music at 0.4 with the voice from name_start, faded out over the last 0.5 s.
	g+="[th];[1:a]volume=0.4[m];[2:a]adelay=delays=${a}s:all=1[s];[m][s]amix=inputs=2"
	g+=":duration=first:normalize=0,afade=t=out:st=$((m[duration] - 500))ms:d=0.5[a]"
	ln -s "${c[font]}" font.ttf && music=(-f lavfi -i anullsrc=r=48000:cl=mono)
	[ -z "${c[music]}" ] || music=(-stream_loop -1 -i "file:${c[music]}")
	args=(-stream_loop -1 -t "$d" -i "file:${c[background]}" -t "$d" "${music[@]}" -i voice.wav
		-filter_complex "$g" -map '[v]' -map '[a]' -c:v libx264 -preset veryfast -crf 26
		-pix_fmt yuv420p -threads 2 -c:a aac -b:a 96k -ar 48000 -movflags +faststart -f mp4 out
		-map '[th]' -frames:v 1 -q:v 3 -update 1 -f image2 thumb.jpg)
fi
ffmpeg -nostdin -hide_banner -loglevel error -y -progress pipe:1 "${args[@]}" 2>ffmpeg.log |
	awk -F= -v ms="${m[duration]}" '$1 == "out_time_us" && $2 ~ /^[0-9]+$/ { # from 0.20
		p = 20 + $2 / ms / 13; printf "progress 0.%02d\n", (p > 99 ? 99 : p); fflush() }'
rc=${PIPESTATUS[0]} && ((rc < 129 || rc == 255)) || exit "$rc" # 128+N: killed by signal N
if ((rc != 0)); then # 78 when ffmpeg blames the template (a medium, the font), else 75: retried
	tail -n 5 ffmpeg.log >&2
	bad='matches no streams|invalid data found|error (init|reinit|config|pars)|load (font|face)'
	if ! grep -Eqi 'no space|cannot allocate|resource temp|threading' ffmpeg.log &&
		grep -Eqi "$bad" ffmpeg.log; then die 78 "ffmpeg failed: the template looks broken"; fi
	die 75 "ffmpeg failed (exit $rc)"
fi
[ "$mode" = preview ] || mv -f thumb.jpg "$thumb"
mv -f out "$out" && cd .. && rm -rf ".example.$$" && printf 'progress 1.00\n'

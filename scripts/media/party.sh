#!/bin/bash
# SPDX-License-Identifier: ISC
# scripts/media/party.sh OUT_DIR WIDTH HEIGHT FPS SECONDS NAME_AT VOICE_AT STYLE:
# the media of the party greetings (media_style party-warm or party-cool),
# run by scripts/gen-media.sh (`make media`), never per name. Nothing is
# downloaded: the art is the SVG drawings beside this script, rasterised
# by rsvg-convert; the music is happy-birthday.notes, played by fluidsynth
# with the FluidR3 General MIDI sound font (fluid-soundfont-gm).
#
# OUT_DIR/background.mp4: the party behind the text, SECONDS long at
# WIDTHxHEIGHT (the drawings are 1280x720 and scaled): the room with its
# bunting (back.svg); six balloons that rise into place at the start and
# then sway on their strings, two more floating up across the room
# (balloon.svg in five colours); the bear (bear-head.svg), peeking over
# the sign it holds, tilting its head and blinking; the sign, the table,
# the cake and the presents (front.svg); the candles' flames flickering
# (flame.svg); confetti falling all the time, a burst of it from behind the
# sign when the name appears (NAME_AT) and a ring of twinkling stars when
# the voice says it (VOICE_AT). Titles and the name are not in it: render.sh
# draws them.
#
# OUT_DIR/music.flac: the song, its "dear ..." beat at VOICE_AT, mastered
# to -16.5 LUFS integrated with peaks under -2 dBFS (the voice the render
# adds brings the video to about -16).
set -eu

die() {
	printf 'party.sh: %s\n' "$*" >&2
	exit 1
}

[ $# -eq 8 ] || die "usage: party.sh OUT_DIR WIDTH HEIGHT FPS SECONDS NAME_AT VOICE_AT STYLE"
out=$1 W=$2 H=$3 fps=$4 dur=$5 t_name=$6 t_voice=$7 style=$8
[ $((W * 9)) -eq $((H * 16)) ] || die "the drawings are 16:9; ${W}x$H is not"
here=$(cd "$(dirname "$0")" && pwd)
for tool in rsvg-convert fluidsynth; do
	command -v "$tool" >/dev/null ||
		die "$tool is missing (scripts/install-deps.sh: librsvg2-bin, fluidsynth)"
done
sf2=/usr/share/sounds/sf2/FluidR3_GM.sf2
[ -r "$sf2" ] || die "$sf2 is missing (scripts/install-deps.sh: fluid-soundfont-gm)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The drawings' scale, and numbers in their 1280x720 space made pixels.
z=$(awk -v w="$W" 'BEGIN { printf "%.6f", w / 1280 }')
px() { awk -v v="$1" -v z="$z" 'BEGIN { printf "%d", v * z + 0.5 }'; }

# --- the art ---------------------------------------------------------------

# svg NAME OUT [SED-SCRIPT]: a drawing rasterised at the video's scale,
# its colours first changed by SED-SCRIPT.
svg() {
	sed -e "${3:-}" "$here/$1" >"$tmp/in.svg"
	rsvg-convert --zoom="$z" --format=png --output="$2" "$tmp/in.svg"
}

case $style in
warm) sky='' ;;
cool) sky='s/#5E2A84/#173A7A/; s/#C2457F/#2F7CC0/; s/#F59E7A/#8FD6EE/' ;;
*) die "style must be warm or cool" ;;
esac
svg back.svg "$tmp/back.png" "$sky"
svg front.svg "$tmp/front.png"
svg bear-head.svg "$tmp/head.png"
svg bear-head.svg "$tmp/blink.png" \
	's/id="eyes-open"/id="eyes-open" display="none"/; s/id="eyes-shut" display="none"/id="eyes-shut"/'
svg flame.svg "$tmp/flame.png"
# Balloons: light, body and shade (knot) of each colour.
colours=("#FF8A80 #F44336 #B71C1C" "#FFF59D #FFCA28 #E69A00" "#80D8FF #2196F3 #0D47A1"
	"#B9F6CA #43C463 #1B7A36" "#EA80FC #AB47BC #6A1B9A")
for i in 0 1 2 3 4; do
	read -r l b s <<<"${colours[i]}"
	svg balloon.svg "$tmp/balloon$i.png" "s/#FF8A80/$l/; s/#F44336/$b/; s/#B71C1C/$s/g"
done

# confetti SEED COUNT MODE: an SVG of confetti pieces (rectangles, dots and
# little streamers in party colours), 1280x720: "rain" spread over the
# frame, "burst" flung out from the middle, "stars" a ring of stars.
confetti() {
	awk -v seed="$1" -v n="$2" -v mode="$3" 'BEGIN {
		srand(seed)
		split("#FF5252 #FFD740 #40C4FF #69F0AE #FF80AB #B388FF #FFAB40 #FFFFFF", c, " ")
		print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1280\" height=\"720\">"
		for (i = 0; i < n; i++) {
			if (mode == "rain") { x = rand() * 1280; y = rand() * 720 }
			else {
				a = rand() * 6.2832
				r = (mode == "stars" ? 330 + rand() * 70 : 60 + sqrt(rand()) * 560)
				x = 640 + r * cos(a); y = 405 + r * sin(a) * (mode == "stars" ? 0.42 : 0.62)
			}
			col = c[1 + int(rand() * 8)]; rot = int(rand() * 180)
			k = rand()
			if (mode == "stars") {
				s = 0.8 + rand() * 0.9
				printf "<path transform=\"translate(%.0f,%.0f) scale(%.2f)\" d=\"M 0 -16 L 4 -4 L 16 0 L 4 4 L 0 16 L -4 4 L -16 0 L -4 -4 Z\" fill=\"%s\"/>\n", x, y, s, (k < 0.5 ? "#FFF59D" : "#FFFFFF")
			} else if (k < 0.5)
				printf "<rect x=\"%.0f\" y=\"%.0f\" width=\"16\" height=\"9\" rx=\"2\" fill=\"%s\" transform=\"rotate(%d %.0f %.0f)\"/>\n", x - 8, y - 4, col, rot, x, y
			else if (k < 0.8)
				printf "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"6\" fill=\"%s\"/>\n", x, y, col
			else
				printf "<path d=\"M %.0f %.0f q 8 -10 16 0 t 16 0\" fill=\"none\" stroke=\"%s\" stroke-width=\"5\" stroke-linecap=\"round\" transform=\"rotate(%d %.0f %.0f)\"/>\n", x - 16, y, col, rot, x, y
		}
		print "</svg>"
	}' >"$tmp/confetti.svg"
	rsvg-convert --zoom="$z" --format=png --output="$4" "$tmp/confetti.svg"
}
confetti 7 46 rain "$tmp/rain.png"
confetti 11 110 burst "$tmp/burst.png"
confetti 5 22 stars "$tmp/stars.png"

# --- the animation ---------------------------------------------------------

# Inputs: each picture looped for the whole video.
inputs=()
n_in=0
declare -A in_idx=()
input() {
	inputs+=(-loop 1 -framerate "$fps" -t "$dur" -i "$tmp/$1.png")
	in_idx[$1]=$n_in
	n_in=$((n_in + 1))
}
for p in back front head blink flame rain burst stars balloon0 balloon1 balloon2 balloon3 balloon4; do
	input "$p"
done

# Balloons: colour, x and y (top-left, in 1280x720) where each settles,
# its sway (pixels, seconds per swing, phase) and how far below it starts.
# The two bunches (left, behind the cake; right, behind the presents) rise
# into place by the time the name appears; the last two float up across
# the room, behind the sign, all the time.
balloons=(
	"0 30 150 10 3.1 0.0 560" "2 118 118 12 3.7 1.3 600" "4 62 262 8 2.9 2.1 640"
	"1 1092 128 11 3.3 0.7 580" "3 1160 232 9 3.9 2.6 620" "0 1036 262 12 3.5 1.9 650"
)
g="[${in_idx[back]}:v]format=rgba[s0]"
k=0
for b in "${balloons[@]}"; do
	read -r col bx by amp per ph below <<<"$b"
	# Eased rise: the distance left shrinks as (1 - t/t_name)^2.
	g+=";[${in_idx[balloon$col]}:v]null[b$k];[s$k][b$k]overlay=format=auto:eval=frame"
	g+=":x='($bx+$amp*sin(2*PI*t/$per+$ph))*$z'"
	g+=":y='($by+$below*pow(1-min(t/$t_name,1),2)+5*sin(2*PI*t/($per*1.3)+$ph))*$z'[s$((k + 1))]"
	k=$((k + 1))
done
# Two floating up, 70 pixels a second, across the back (scaled to 60%).
for f in "3 360 0.6 -0.5" "1 860 0.6 -4.5"; do
	read -r col fx sc t0 <<<"$f"
	g+=";[${in_idx[balloon$col]}:v]scale=iw*$sc:ih*${sc}[f$k];[s$k][f$k]overlay=format=auto:eval=frame"
	g+=":x='($fx+14*sin(2*PI*t/4.1))*$z':y='(720-70*(t-($t0)))*$z'[s$((k + 1))]"
	k=$((k + 1))
done
# The bear's head: blinks every 3.3 s (and once more), tilts a little.
g+=";[${in_idx[head]}:v][${in_idx[blink]}:v]overlay=format=auto"
g+=":enable='lt(mod(t,3.3),0.13)+between(t,5.2,5.33)',pad=iw+$(px 40):ih+$(px 40):$(px 20):$(px 20):color=black@0"
g+=",rotate=a='0.06*sin(2*PI*t/2.6)':c=none:ow=iw:oh=ih[head]"
g+=";[s$k][head]overlay=format=auto:eval=frame:x=$(px 500):y='$(px 70)+2*$z*sin(2*PI*t/1.3)'[s$((k + 1))]"
k=$((k + 1))
g+=";[s$k][${in_idx[front]}:v]overlay=format=auto[s$((k + 1))]"
k=$((k + 1))
# Flames on the five wicks (x, top of the wick), flickering in height.
fl=0
for c in "116 394" "146 390" "176 388" "206 390" "236 394"; do
	read -r cx cy <<<"$c"
	g+=";[${in_idx[flame]}:v]scale=w=iw:h='ih*(1+0.12*sin(2*PI*7.3*t+$fl)+0.06*sin(2*PI*12.7*t+2*$fl))':eval=frame[fl$fl]"
	g+=";[s$k][fl$fl]overlay=format=auto:eval=frame:x='($cx-30)*$z+1.5*$z*sin(2*PI*5.1*t+$fl)':y='$cy*$z-overlay_h*70/80'[s$((k + 1))]"
	k=$((k + 1))
	fl=$((fl + 1))
done
# Confetti falling, 40 pixels a second, wrapping round.
g+=";[${in_idx[rain]}:v]split[r1][r2]"
g+=";[s$k][r1]overlay=format=auto:eval=frame:x='9*$z*sin(2*PI*t/3)':y='mod(40*t*$z,main_h)'[s$((k + 1))]"
k=$((k + 1))
g+=";[s$k][r2]overlay=format=auto:eval=frame:x='9*$z*sin(2*PI*t/3)':y='mod(40*t*$z,main_h)-main_h'[s$((k + 1))]"
k=$((k + 1))
# The burst when the name appears: flung out from the sign (growing from
# 15% to full size in 0.6 s), then drifting down and fading over 1.6 s.
tn=$t_name
g+=";[${in_idx[burst]}:v]fade=t=out:st=$(awk -v t="$tn" 'BEGIN { print t + 0.7 }'):d=1.6:alpha=1"
g+=",scale=w='max(2,iw*(0.15+0.85*(1-pow(1-min(max(t-$tn,0)/0.6,1),3))))':h=-2:eval=frame[burst]"
g+=";[s$k][burst]overlay=format=auto:eval=frame:enable='between(t,$tn,$tn+2.4)'"
g+=":x='$(px 640)-overlay_w/2':y='$(px 405)-overlay_h*405/720+60*$z*max(t-$tn-0.5,0)'[s$((k + 1))]"
k=$((k + 1))
# The stars when the voice says the name: a ring that grows a little and
# twinkles out over 2 s.
tv=$t_voice
g+=";[${in_idx[stars]}:v]fade=t=in:st=$tv:d=0.25:alpha=1,fade=t=out:st=$(awk -v t="$tv" 'BEGIN { print t + 0.9 }'):d=1.1:alpha=1"
g+=",scale=w='max(2,iw*(0.85+0.15*min(max(t-$tv,0)/1.5,1)))':h=-2:eval=frame[stars]"
g+=";[s$k][stars]overlay=format=auto:eval=frame:enable='between(t,$tv,$tv+2)'"
g+=":x='$(px 640)-overlay_w/2':y='$(px 405)-overlay_h*405/720'[s$((k + 1))]"
k=$((k + 1))
g+=";[s$k]format=yuv420p[v]"

ffmpeg -nostdin -hide_banner -loglevel error -y "${inputs[@]}" -filter_complex "$g" \
	-map '[v]' -t "$dur" -r "$fps" -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p \
	-f mp4 "$out/.background.$$.mp4"

# --- the music -------------------------------------------------------------

read -r tempo beat end < <(perl "$here/notes2mid.pl" "$here/happy-birthday.notes" "$tmp/song.mid")
fluidsynth -ni -q -r 48000 -g 0.5 -F "$tmp/song.wav" "$sf2" "$tmp/song.mid" >/dev/null
# Where the song starts, so that its "dear ..." beat is at VOICE_AT: a
# positive lead is silence first, a negative one cut from its start.
lead=$(awk -v v="$t_voice" -v b="$beat" -v t="$tempo" 'BEGIN { printf "%.4f", v - b * 60 / t }')
song_end=$(awk -v e="$end" -v t="$tempo" -v l="$lead" 'BEGIN { printf "%.4f", e * 60 / t + l + 0.6 }')
if awk -v l="$lead" 'BEGIN { exit !(l >= 0) }'; then
	align="adelay=delays=$(awk -v l="$lead" 'BEGIN { printf "%d", l * 48000 }')S:all=1"
else
	align="atrim=start=$(awk -v l="$lead" 'BEGIN { print -l }'),asetpts=PTS-STARTPTS"
fi
# Mono, a touch of warmth and glue, then the level: measured, set, limited.
chain="pan=mono|c0=0.5*c0+0.5*c1,$align,atrim=end=$song_end,afade=t=out:st=$(awk -v e="$song_end" 'BEGIN { print e - 0.6 }'):d=0.6"
chain+=",apad=whole_dur=$dur,highpass=f=40,acompressor=threshold=0.18:ratio=2:attack=20:release=250:makeup=1"
i=$(ffmpeg -nostdin -hide_banner -nostats -i "$tmp/song.wav" -af "$chain,ebur128" -f null - 2>&1 |
	sed -n 's/^ *I: *\(-[0-9.]*\) LUFS$/\1/p' | tail -n 1)
[ -n "$i" ] || die "could not measure the music's loudness"
gain=$(awk -v i="$i" 'BEGIN { printf "%.2f", -16.5 - i }')
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$tmp/song.wav" \
	-af "$chain,volume=${gain}dB,alimiter=limit=0.79:level=0:latency=1,atrim=end=$dur" \
	-ar 48000 -c:a flac -f flac "$out/.music.$$.flac"
mv -f "$out/.background.$$.mp4" "$out/background.mp4"
mv -f "$out/.music.$$.flac" "$out/music.flac"

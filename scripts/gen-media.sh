#!/bin/bash
# SPDX-License-Identifier: ISC
# scripts/gen-media.sh TEMPLATE_DIR: make a template's media from ffmpeg's
# own lavfi sources, so nothing is downloaded and nothing large is committed.
#
# Writes TEMPLATE_DIR/media/background.mp4 (animated gradient, soft bokeh
# lights and falling confetti; the confetti thins out while the name is on
# screen, from name_start to name_end, so that the name reads well and the
# frames encoded per name stay cheap) and TEMPLATE_DIR/media/music.flac (a plucked
# arpeggio over a soft chord pad, I-V-vi-IV). Size, frame rate and length
# come from the template's width, height, fps and duration; the look and the
# key from its media_style (warm or cool). Called by `make media`.
set -eu

die() {
	printf 'gen-media.sh: %s\n' "$*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: gen-media.sh TEMPLATE_DIR"
dir=$1
conf_file=$dir/template.conf
[ -r "$conf_file" ] || die "cannot read $conf_file"

# Only the keys this script needs; render.sh does the real validation.
declare -A conf=([width]=1280 [height]=720 [fps]=25 [duration]=7
	[media_style]=warm [name_start]=0 [name_end]=0 [voice_offset]=0.2)
while IFS= read -r line || [ -n "$line" ]; do
	if [[ $line =~ ^[[:space:]]*([a-z_]+)[[:space:]]*=[[:space:]]*([^[:space:]]*) ]]; then
		case ${BASH_REMATCH[1]} in
		width | height | fps | duration | media_style | name_start | name_end | voice_offset)
			conf[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
			;;
		esac
	fi
done <"$conf_file"

w=${conf[width]} h=${conf[height]} fps=${conf[fps]}
# An NTSC rate as ffmpeg takes it exactly (29.97 is 30000/1001).
case $fps in 23.976 | 29.97 | 59.94) fps=$(((${fps%.*} + 1) * 1000))/1001 ;; esac
[[ $w =~ ^[0-9]+$ && $h =~ ^[0-9]+$ && $fps =~ ^[0-9]+(/1001)?$ ]] ||
	die "$conf_file: width and height must be integers, fps an integer or an NTSC rate"
for k in duration name_start name_end voice_offset; do
	[[ ${conf[$k]} =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$conf_file: $k must be a number"
done
# One second longer than the video: render.sh loops the media anyway.
dur=$(awk -v d="${conf[duration]}" 'BEGIN { printf "%d", d + 1.999 }')

# The party greetings: drawings, animation and the song (scripts/media/).
case ${conf[media_style]} in
party-warm | party-cool)
	mkdir -p "$dir/media"
	exec "$(dirname "$0")/media/party.sh" "$dir/media" "$w" "$h" "$fps" "$dur" \
		"${conf[name_start]}" "$(awk -v s="${conf[name_start]}" -v o="${conf[voice_offset]}" \
			'BEGIN { print s + o }')" "${conf[media_style]#party-}"
	;;
esac

# A style is: three gradient colours, gradient type, random seeds, the
# music's root frequency (Hz) and note length (s).
case ${conf[media_style]} in
warm) set -- 0xC2185B 0xFF8F00 0x6A1B9A linear 7 3 261.63 0.25 ;;
cool) set -- 0x1565C0 0x7C4DFF 0x0D1B4A radial 11 5 293.66 0.27 ;;
*) die "$conf_file: media_style must be warm or cool" ;;
esac
c0=$1 c1=$2 c2=$3 gtype=$4 seed=$5 seed2=$6 root=$7 note=$8

mkdir -p "$dir/media"
tmp_bg=$dir/media/.background.$$.mp4
tmp_mu=$dir/media/.music.$$.flac
trap 'rm -f "$tmp_bg" "$tmp_mu"' EXIT

# Background: a slowly turning three-colour gradient, screened with
# blurred sparse dots (bokeh), then two layers of falling square confetti
# coloured by a fast rainbow gradient. The "life" sources use a rule where
# nothing is born and everything survives, i.e. a static random dot field
# that `scroll` moves.
s=${w}x${h}
# The confetti fades out 0.3 s into the name's window and back in 0.6 s
# before its end (two fading copies, lightened together).
calm=''
read -r calm_out calm_in < <(awk -v s="${conf[name_start]}" -v e="${conf[name_end]}" \
	'BEGIN { if (e - s > 1.5) printf "%.3f %.3f\n", s + 0.3, e - 0.6; else print "- -" }')
if [ "$calm_out" != - ]; then
	calm=",split[k1][k2];[k1]fade=t=out:st=$calm_out:d=0.6[k3];[k2]fade=t=in:st=$calm_in:d=0.6[k4];[k3][k4]blend=all_mode=lighten"
fi
dots="rule=B/S012345678:death_color=black"
bg_graph="
gradients=s=$s:r=$fps:d=$dur:n=3:c0=$c0:c1=$c1:c2=$c2:type=$gtype:speed=0.012:seed=$seed,format=gbrp[grad];
life=s=64x36:r=$fps:$dots:ratio=0.025:seed=$seed:life_color=0xFFF4D0,format=gbrp,
 scale=$w:$h:flags=neighbor,scroll=v=0.0012:h=0.0008,gblur=sigma=$((9 * w / 640)),
 lut=c0=val*3:c1=val*3:c2=val*3[bokeh];
life=s=80x45:r=$fps:$dots:ratio=0.025:seed=$seed2:life_color=white,format=gbrp,
 scale=$w:$h:flags=neighbor,scroll=v=-0.005[conf1];
life=s=128x72:r=$fps:$dots:ratio=0.02:seed=$((seed2 + 6)):life_color=white,format=gbrp,
 scale=$w:$h:flags=neighbor,scroll=v=-0.0035:h=0.001[conf2];
gradients=s=$s:r=$fps:n=6:c0=0xFF3B3B:c1=0xFFD400:c2=0x38E54D:c3=0x2FB6FF:c4=0xB44DFF:c5=0xFF5FD2:speed=0.08:seed=2,format=gbrp[rainbow];
[conf1][conf2]blend=all_mode=lighten[conf];
[conf][rainbow]blend=all_mode=multiply${calm}[confetti];
[grad][bokeh]blend=all_mode=screen:all_opacity=0.6[lit];
[lit][confetti]blend=all_mode=lighten,vignette=PI/5,trim=duration=$dur,format=yuv420p[v]"

# Music: aevalsrc keeps at most ten variables (0-9), so they are reused:
#  0 note index  1 step in the 8-step pattern, then its chord-tone index
#  2 chord (C G Am F)  3 third (3 minor, 4 major)  4 chord root (semitones)
#  5 note (semitones)  6 time since note start  7 note Hz  8 pad root Hz
#  9 time since chord start.
# Each note gets a 5 ms attack and a 20 ms release so nothing clicks.
n=$note
music_expr="st(0,floor(t/$n));st(2,mod(floor(ld(0)/8),4));
st(1,mod(ld(0),8));st(1,if(lt(ld(1),5),ld(1),8-ld(1)));
st(3,4-eq(ld(2),2));
st(4,if(eq(ld(2),0),0,if(eq(ld(2),1),-5,if(eq(ld(2),2),-3,-7))));
st(5,ld(4)+if(eq(ld(1),0),0,if(eq(ld(1),1),ld(3),if(eq(ld(1),2),7,if(eq(ld(1),3),12,12+ld(3))))));
st(6,t-ld(0)*$n);st(7,$root*pow(2,ld(5)/12));st(8,$root/2*pow(2,ld(4)/12));
st(9,t-floor(ld(0)/8)*8*$n);
0.22*min(1,ld(6)*200)*exp(-7*ld(6))*min(1,($n-ld(6))*50)*
(sin(2*PI*ld(7)*ld(6))+0.25*sin(4*PI*ld(7)*ld(6))+0.1*sin(6*PI*ld(7)*ld(6)))+
0.06*min(1,ld(9)*4)*min(1,(8*$n-ld(9))*8)*
(sin(2*PI*ld(8)*t)+sin(2*PI*ld(8)*pow(2,ld(3)/12)*t)+sin(2*PI*ld(8)*1.4983*t))"
music_expr=${music_expr//$'\n'/}

ffmpeg -nostdin -hide_banner -loglevel error -y \
	-filter_complex "$bg_graph" -map '[v]' \
	-c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -f mp4 "$tmp_bg"
ffmpeg -nostdin -hide_banner -loglevel error -y \
	-f lavfi -i "aevalsrc=exprs='$music_expr':s=48000:d=$dur" \
	-af "afade=t=in:d=0.05,afade=t=out:st=$((dur - 1)):d=1" \
	-c:a flac -f flac "$tmp_mu"
mv -f "$tmp_bg" "$dir/media/background.mp4"
mv -f "$tmp_mu" "$dir/media/music.flac"

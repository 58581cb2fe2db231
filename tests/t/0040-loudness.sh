#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Loudness of the shipped greetings (issue 21), measured with ffmpeg's
# ebur128 filter (EBU R 128 / ITU-R BS.1770: K-weighted, gated; true peak
# with peak=true, 4x oversampled): every video, rendered by scripts/render.sh
# from the shipped HD template as greetbotd runs it (as tests/t/0020 does),
# at -16 LUFS integrated within 1 LU with its true peak at or below
# -1 dBTP, and the voice preview (OGG/Opus) at -16 LUFS within 1 LU too.
#
# The voice against the music around it: the integrated loudness of the
# video's sound while the voice speaks (from name_start + voice_offset for
# as long as the preview lasts: what the parent hears there, the voice over
# the ducked music) against that of the music bed alone (the render's
# cached bed.m4a: what plays where no voice is) from 1.5 s before the voice
# to 0.5 s after it. The voice must be at least 6 LU louder.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# render DIR NAME TEMPLATE [VAR=VALUE...]: render.sh with the contract's
# environment in the fresh work dir DIR; rc is set.
render() {
	local w=$1 name=$2 tpl=$3
	shift 3
	mkdir -p "$w"
	rc=0
	(cd "$w" && env -i PATH="$PATH" HOME="$w" LANG=C.UTF-8 GREETBOT_NAME="$name" \
		GREETBOT_TEMPLATE_DIR="$tpl" GREETBOT_CACHE_DIR="$T/cache-${tpl##*/}" \
		GREETBOT_OUTPUT="$w/out.mp4" GREETBOT_THUMB="$w/thumb.jpg" GREETBOT_MODE=video "$@" \
		"$TOP/scripts/render.sh" >"$w/stdout" 2>"$w/stderr") || rc=$?
}

conf_value() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$2/template.conf"; }

# r128 FILE [START END]: "I TP", the integrated loudness (LUFS) and true
# peak (dBTP) of FILE's sound, or of the stretch from START to END (s).
r128() {
	local trim=''
	[ -z "${2:-}" ] || trim="atrim=start=$2:end=$3,asetpts=PTS-STARTPTS,"
	ffmpeg -nostdin -hide_banner -nostats -i "$1" -map 0:a:0 -af "${trim}ebur128=peak=true" \
		-f null - 2>&1 | awk '
		/Integrated loudness:/ { s = "i" } /True peak:/ { s = "p" }
		$1 == "I:" && s == "i" { i = $2 } $1 == "Peak:" && s == "p" { p = $2 }
		END { if (i == "" || p == "") exit 1; print i, p }'
}

# within X LO HI: LO <= X <= HI (decimals).
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

for c in "ru-birthday:Маша" "ru-birthday:Александра-Виктория" "en-birthday:Emma"; do
	id=${c%%:*} name=${c#*:}
	tpl=$TOP/templates/$id
	# The media come from `make media`; without it, generate them in a copy.
	if [ ! -f "$tpl/media/background.mp4" ] || [ ! -f "$tpl/media/music.flac" ]; then
		[ -d "$T/$id" ] || { cp -R "$tpl" "$T/$id" && "$TOP/scripts/gen-media.sh" "$T/$id"; }
		tpl=$T/$id
	fi
	w=$T/$id-$name
	render "$w" "$name" "$tpl"
	if [ "$rc" -ne 0 ]; then
		t_fail "$id renders $name (exit $rc)"
		t_show "$w/stderr"
		continue
	fi
	read -r i tp < <(r128 "$w/out.mp4") || true
	t_check "$id, $name: the video at -16 LUFS within 1 LU (${i:-?} LUFS)" within "${i:--99}" -17 -15
	t_check "$id, $name: its true peak at most -1 dBTP (${tp:-?} dBTP)" within "${tp:-99}" -99 -1

	render "$w/p" "$name" "$tpl" GREETBOT_MODE=preview GREETBOT_OUTPUT="$w/p/voice.ogg"
	read -r pi ptp < <(r128 "$w/p/voice.ogg") || true
	t_check "$id, $name: the preview at -16 LUFS within 1 LU (${pi:-?} LUFS, ${ptp:-?} dBTP)" \
		within "${pi:--99}" -17 -15

	# The voice against the music around it (see the top of this file).
	len=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$w/p/voice.ogg")
	read -r vs ve ms me < <(awk -v s="$(conf_value name_start "$tpl")" -v o="$(conf_value voice_offset "$tpl")" \
		-v l="${len:-0}" 'BEGIN { v = s + o; printf "%.3f %.3f %.3f %.3f\n", v, v + l, v - 1.5, v + l + 0.5 }')
	bed=$(find "$T/cache-${tpl##*/}" -path '*/static-*/bed.m4a' | head -n 1)
	read -r lv _ < <(r128 "$w/out.mp4" "$vs" "$ve") || true
	read -r lm _ < <(r128 "$bed" "$ms" "$me") || true
	t_check "$id, $name: the voice ${lv:-?} LUFS, at least 6 LU above the music around it (${lm:-?} LUFS)" \
		awk -v v="${lv:--99}" -v m="${lm:-0}" 'BEGIN { exit !(v - m >= 6) }'
done
t_done

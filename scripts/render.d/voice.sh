# shellcheck shell=bash
# scripts/render.d/voice.sh: the espeak-ng voice, the spoken phrase, the preview.
# Sourced by scripts/render.sh (the variables it uses are set there and in
# the other parts).
# shellcheck disable=SC2034,SC2154

# ---------------------------------------------------------------------------
# Voice: the template's voice, then its fallbacks, then the language's
# default voice (the voice name up to the first "-" or "+"). A candidate
# "lang+variant" needs both the voice and the variant to be installed.
# The choice is cached (voice-<candidates> in the cache directory), so that
# espeak-ng lists its voices once per template version rather than per
# name; a cached voice that espeak-ng rejects is chosen again.

declare -A voices=()

# Fill voices[] with every name espeak-ng accepts: language codes, voice
# names, voice files, and the "other languages" a voice also speaks.
voices_load() {
	local name
	while read -r name; do
		voices[$name]=1
	done < <(cat <(espeak-ng --voices 2>/dev/null) \
		<(espeak-ng --voices=variant 2>/dev/null) | awk '
		$1 == "Pty" { next }
		$2 == "variant" {
			sub(/^!v\//, "", $5); print "+" tolower($5); print "+" tolower($4)
			next
		}
		{
			print tolower($2); print tolower($4); print tolower($5)
			for (i = 6; i <= NF; i++) if ($i ~ /^\(/) print tolower(substr($i, 2))
		}')
}

# voice_pick [fresh]: set voice to the first available candidate, from the
# cache unless "fresh" is given.
voice_pick() {
	local c base variant lang file='' key
	local -a cands ok=()
	read -r -a cands <<<"${conf[voice]} ${conf[voice_fallbacks]}"
	lang=${cands[0]%%[-+]*}
	cands+=("$lang")
	for c in "${cands[@]}"; do
		[[ $c =~ ^[A-Za-z0-9_/-]+(\+[A-Za-z0-9_]+)?$ ]] && ok+=("$c")
	done
	voice_cached=''
	if [ -n "$cache" ] && [ "${#ok[@]}" -gt 0 ]; then
		key=${ok[*]}
		key=${key//\//%}
		file=$cache/voice-${key// /,}
		if [ -z "${1:-}" ] && [ -f "$file" ] && IFS= read -r voice <"$file" &&
			[ -n "$voice" ]; then
			voice_cached=$file
			[ "$voice" = "${cands[0]}" ] || printf 'render.sh: voice %s unavailable, using %s\n' \
				"${cands[0]}" "$voice" >&2
			return 0
		fi
	fi
	voices_load
	for c in "${ok[@]}"; do
		base=${c%%+*}
		base=${base,,}
		[ -n "${voices[$base]:-}" ] || continue
		if [[ $c == *+* ]]; then
			variant=${c#*+}
			[ -n "${voices[+${variant,,}]:-}" ] || continue
		fi
		voice=$c
		[ "$c" = "${cands[0]}" ] || printf 'render.sh: voice %s unavailable, using %s\n' \
			"${cands[0]}" "$c" >&2
		if [ -n "$file" ]; then
			# Written aside and renamed: readers see all of it or nothing.
			{ printf '%s\n' "$c" >"$file.$$" && mv -f "$file.$$" "$file"; } 2>/dev/null ||
				rm -f "$file.$$"
		fi
		return 0
	done
	die $EX_CONFIG "no usable espeak-ng voice among: ${cands[*]}"
}


# ---------------------------------------------------------------------------
# Per name.

# wav_header FILE: set rate (bytes per second) and size (of the samples,
# in bytes) from FILE's header, when it is the plain 44-byte one. Read in
# bash, as starting od would cost more than the whole parse: "read -d ''"
# stops at each NUL byte and drops it, so every chunk shorter than asked
# for was followed by a 0.
wav_header() {
	local LC_ALL=C chunk n c i=0 j
	local -a b=()
	while [ "$i" -lt 44 ]; do
		n=$((44 - i))
		IFS= read -r -d '' -n "$n" chunk || [ -n "$chunk" ] || break
		for ((j = 0; j < ${#chunk}; j++)); do
			printf -v c '%d' "'${chunk:j:1}"
			b[i++]=$((c & 255))
		done
		[ "${#chunk}" -eq "$n" ] || b[i++]=0
	done <"$1"
	# "RIFF" at 0, "WAVE" at 8, "data" at 36.
	[ "$i" -ge 44 ] && [ "${b[*]:0:4} ${b[*]:8:4} ${b[*]:36:4}" = '82 73 70 70 87 65 86 69 100 97 116 97' ] ||
		return 1
	rate=$((b[28] | b[29] << 8 | b[30] << 16 | b[31] << 24))
	size=$((b[40] | b[41] << 8 | b[42] << 16 | b[43] << 24))
}

# speak: the phrase with the name, spoken by espeak-ng into voice.wav;
# sets voice_at (when it starts), voice_ms (its length) and tempo (an
# atempo factor, or empty).
speak() {
	local rate size room f
	put_name "${conf[phrase]}"
	printf '%s' "$REPLY" >phrase.txt
	if ! espeak-ng -b 1 -v "$voice" -s "${conf[voice_rate]}" -p "${conf[voice_pitch]}" \
		-w voice.wav -f phrase.txt >/dev/null 2>espeak.log; then
		if [ -n "$voice_cached" ]; then
			# The cached choice may be stale (voices removed): choose again.
			rm -f "$voice_cached"
			voice_pick fresh
			speak
			return
		fi
		cat espeak.log >&2
		die $EX_TEMPFAIL "espeak-ng failed"
	fi
	# Length from the plain 44-byte WAV header espeak-ng writes.
	if ! wav_header voice.wav || [ "$rate" -le 0 ] || [ "$size" -le 0 ]; then
		die $EX_TEMPFAIL "espeak-ng wrote no usable audio"
	fi
	voice_ms=$((size * 1000 / rate))
	# The voice may run past the window, but not past the end of the video:
	# then it is sped up (pitch kept) to fit, by at most 2x; beyond that
	# its end is cut off under the final fade.
	voice_at=$((t_start + m[voice_offset]))
	room=$((t_total - voice_at - 150))
	tempo=''
	if [ "$room" -le 0 ]; then
		die $EX_CONFIG "template.conf: the voice starts after the end"
	elif [ "$voice_ms" -gt "$room" ]; then
		f=$((voice_ms * 1000 / room))
		[ "$f" -le 2000 ] || f=2000
		dec tempo "$f"
		voice_ms=$((voice_ms * 1000 / f))
		printf 'render.sh: phrase too long, tempo x%s\n' "$tempo" >&2
	fi
}

# voice_chain: set REPLY to the filters applied to the spoken phrase in
# both modes.
voice_chain() {
	REPLY="aresample=$AR,aformat=sample_fmts=fltp:channel_layouts=mono"
	[ -z "$tempo" ] || REPLY+=",atempo=$tempo"
	REPLY+=",volume=${conf[voice_volume]}"
}

# preview: the spoken phrase alone as OGG/Opus (mono, 48 kHz).
preview() {
	voice_chain
	ff preview 1 -i voice.wav -af "$REPLY" -ac 1 -ar $AR \
		-c:a libopus -b:a 48k -f ogg out.ogg
	mv -f out.ogg "$out_path"
}

# video_graph: set vg to the personalised window, the name drawn over the
# cached lossless background ([v]), and the thumbnail from two thirds into

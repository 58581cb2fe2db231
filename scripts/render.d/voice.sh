# shellcheck shell=bash
# SPDX-License-Identifier: ISC
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
		# Data from the shared cache: used only when it is one of the
		# candidates (which passed the pattern above).
		if [ -z "${1:-}" ] && [ -f "$file" ] && IFS= read -r voice <"$file" &&
			[[ " ${ok[*]} " == *" $voice "* ]] && [[ $voice != *" "* ]]; then
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
# Stress. espeak-ng 1.51 has no mark for "stress this vowel" in text (an
# accent splits the word; a capital starts a new one), but it reads
# phonemes between [[ and ]]. So for a part of the name (a word, or a part
# of a hyphenated word) whose stress is to move, the script asks espeak-ng
# for the part's phonemes (-x), moves the primary stress mark to the vowel
# wanted, gives that vowel its full quality and the one that lost the
# stress its reduced one (Russian о/а/е/я change when unstressed), and has
# that read as phonemes. A part whose phonemes it cannot line up with its
# letters (a vowel count that differs) is spoken as it is, and says so.
#
# Which vowel: GREETBOT_STRESS (per part, the 1-based index of the vowel
# among the part's Cyrillic vowels, 0 for none: "2", "0,2"), else the
# template's stresses file (one name per line with its stressed vowel as a
# capital, МарИя, or with U+0301 after it, Мари́я), else espeak-ng's own.
# Given a GREETBOT_STRESS, the script prints "stress S" on stdout: S is
# that with every part whose sound it does not change (the vowel the
# unmarked name has anyway, or a part it could not move) set to 0,
# trailing zeros dropped: what makes the sound, so that the caller can
# tell two marks apart cheaply.

readonly VOWELS=аеёиоуыэюя
declare -A known_stress=()

# is_vowel C: C is a Russian vowel letter (lower case).
is_vowel() { [ "${#1}" -eq 1 ] && [[ $VOWELS == *"$1"* ]]; }

# part_mark PART: set REPLY to the vowel PART marks (acute after it, or the
# one capital vowel of a part otherwise in lower case, first letter aside),
# 0 for none; set lc to PART in lower case without the accent.
part_mark() {
	local p=$1 c l i v=0 acute=0 caps=0 capv=0
	lc=''
	for ((i = 0; i < ${#p}; i++)); do
		c=${p:i:1}
		if [ "$c" = $'\u0301' ]; then
			acute=$v
			continue
		fi
		l=${c,,}
		lc+=$l
		is_vowel "$l" && v=$((v + 1))
		if [ "$i" -gt 0 ] && [ "$l" != "$c" ]; then
			caps=$((caps + 1))
			if is_vowel "$l"; then capv=$v; else capv=0; fi
		fi
	done
	if [ "$acute" -gt 0 ]; then
		REPLY=$acute
	elif [ "$caps" -eq 1 ]; then
		REPLY=$capv
	else
		REPLY=0
	fi
}

# stress_load FILE...: read the known stresses of the name's words from
# each FILE in turn (a later one wins) into known_stress (part in lower
# case -> vowel index). Lines starting with # are comments. Only the lines
# naming a part of this name are looked at closely (name_parts), so that
# a list of hundreds of names costs a few milliseconds per name.
stress_load() {
	local f line p l
	local -A name_parts=()
	line=${name//-/ }
	for p in $line; do
		l=${p,,}
		l=${l//$'\u0301'/}
		[ -z "$l" ] || name_parts[$l]=1
	done
	for f; do
		readable "$f" || continue
		while IFS= read -r line || [ -n "$line" ]; do
			[[ $line == '#'* ]] && continue
			line=${line//-/ }
			for p in $line; do
				l=${p,,}
				l=${l//$'\u0301'/}
				[ -n "$l" ] && [ -n "${name_parts[$l]:-}" ] || continue
				part_mark "$p"
				[ "$REPLY" -eq 0 ] || known_stress[$lc]=$REPLY
			done
		done <"$f"
	done
}

# vowel_tok TOKEN: TOKEN (an espeak-ng phoneme, stress marks stripped) is
# a vowel of the Russian voice.
vowel_tok() { [[ $1 =~ ^(a#?|A|V#?|@|I[#23]?|i|e|E[#23]?|o|O|u[#\"]?|ju|ja|8|y|Y)$ ]]; }

# phonemes_of WORD: set toks to espeak-ng's phonemes of WORD (one per
# element), vpos to the indexes of its vowels, and dflt to the 1-based
# vowel that carries the primary stress (0: none).
phonemes_of() {
	local i t
	printf '%s' "$1" >part.txt
	read -r -a toks < <(espeak-ng -q -x --sep=' ' -v "$voice" -f part.txt 2>/dev/null) || true
	vpos=() dflt=0
	for ((i = 0; i < ${#toks[@]}; i++)); do
		t=${toks[i]#[\',]}
		vowel_tok "$t" || continue
		vpos+=("$i")
		[[ ${toks[i]} != "'"* ]] || dflt=${#vpos[@]}
	done
}

# full LETTER TOKEN PREV FIRST: set REPLY to the stressed phoneme of a vowel
# letter that espeak-ng spoke as TOKEN after PREV (FIRST: it starts the word).
full() {
	case $1 in
	а) REPLY=A ;;
	о) REPLY=o ;;
	е | э) if [[ $2 == E* || $3 =~ ^(Z|S|ts)$ || $1 == э ]]; then REPLY=E; else REPLY=e; fi ;;
	ё) if [[ $2 =~ ^(8|O)$ ]]; then REPLY=$2; else REPLY=8; fi ;;
	и) if [ "$2" = y ]; then REPLY=y; elif [ "$2" = I ] && [ "$4" = 1 ]; then REPLY=I; else REPLY=i; fi ;;
	ы) REPLY=y ;;
	у) if [[ $2 =~ ^u[#\"]?$ ]]; then REPLY=$2; else REPLY=u; fi ;;
	ю) if [[ $2 =~ ^(ju|u\")$ ]]; then REPLY=$2; else REPLY=u\"; fi ;;
	я) if [ "$2" = ja ]; then REPLY=ja; else REPLY=A; fi ;;
	*) REPLY=$2 ;;
	esac
}

# reduced LETTER TOKEN PREV FIRST LAST: the unstressed phoneme.
reduced() {
	case $1 in
	а) if [ "$4" = 1 ]; then REPLY=a; elif [ "$5" = 1 ]; then REPLY=a#; else REPLY=V; fi ;;
	о | ё) REPLY=V ;;
	е) if [[ $3 =~ ^(Z|S|ts)$ ]]; then REPLY=y; elif [ "$3" = j ] || [ "$4" = 1 ]; then REPLY=I; else REPLY=i; fi ;;
	э) REPLY=E# ;;
	я) if [ "$2" = ja ]; then REPLY=ja; else REPLY=V; fi ;;
	*) REPLY=$2 ;;
	esac
}

# stress_move WORD TO: set REPLY to WORD's phonemes with the stress on vowel
# TO (as "[[...]]"), or fail when they do not line up with its letters.
stress_move() {
	local w=$1 to=$2 i c k=0 t idx prev last
	local -a letters=()
	for ((i = 0; i < ${#w}; i++)); do
		c=${w:i:1}
		is_vowel "$c" && letters+=("$c")
	done
	[ "${#letters[@]}" -eq "${#vpos[@]}" ] && [ "$to" -le "${#vpos[@]}" ] || return 1
	last=$((${#toks[@]} - 1))
	for ((k = 0; k < ${#vpos[@]}; k++)); do
		idx=${vpos[k]}
		t=${toks[idx]#[\',]}
		prev=''
		[ "$idx" -eq 0 ] || prev=${toks[idx - 1]}
		if [ $((k + 1)) -eq "$to" ]; then
			full "${letters[k]}" "$t" "$prev" $((idx == 0))
			toks[idx]="'$REPLY"
		elif [ $((k + 1)) -eq "$dflt" ]; then
			reduced "${letters[k]}" "$t" "$prev" $((idx == 0)) $((idx == last))
			toks[idx]=$REPLY
		fi
	done
	REPLY=''
	for t in "${toks[@]}"; do REPLY+=$t; done
	[[ $REPLY != *[][]* ]] || return 1
	# Read back: the stress must now be where it was asked for.
	phonemes_of "[[$REPLY]]"
	[ "$dflt" -eq "$to" ] && [ "${#vpos[@]}" -eq "${#letters[@]}" ] || return 1
	REPLY="[[$REPLY]]"
}

# try_stress WORD TO: like stress_move on the phonemes phonemes_of gave
# (saved in t0, v0, d0), which it leaves as they were. REPLY is WORD
# itself when TO is the vowel espeak-ng stresses anyway.
try_stress() {
	toks=("${t0[@]}") vpos=("${v0[@]}") dflt=$d0
	if [ "$2" -eq "$d0" ]; then
		REPLY=$1
		return 0
	fi
	stress_move "$1" "$2"
}

# spoken_name: set spoken (the name as espeak-ng is to read it) and
# stress_out (the stress that makes a difference, see above).
spoken_name() {
	local want=${GREETBOT_STRESS:-} rest=$name p sep mark file text c i=0 lang
	local eff_m eff_f d0
	local -a marks=() t0 v0
	spoken=$name stress_out=''
	if [ -n "$want" ] && [[ ! $want =~ ^[0-9]{1,2}(,[0-9]{1,2})*$ ]]; then
		printf 'render.sh: GREETBOT_STRESS "%s" ignored: not vowel numbers\n' "$want" >&2
		want=''
	fi
	IFS=, read -r -a marks <<<"$want"
	# The list shared by the templates of the language (render.d/), then
	# the template's own.
	lang=${conf[language]:-ru}
	[[ $lang =~ ^[a-z]{2,3}$ ]] || lang=''
	stress_load ${lang:+"$parts/stresses-$lang.txt"} "$tdir/stresses"
	[ -n "$want" ] || [ "${#known_stress[@]}" -gt 0 ] || return 0
	spoken=''
	while [ -n "$rest" ]; do
		# The next part and the separator after it.
		p=${rest%%[ -]*}
		rest=${rest:${#p}}
		sep=${rest:0:1}
		rest=${rest:1}
		mark=$((10#${marks[i]:-0}))
		lc=${p,,}
		file=${known_stress[$lc]:-0}
		text=$p c=0
		if [ "$mark" -gt 0 ] || [ "$file" -gt 0 ]; then
			phonemes_of "$lc"
			t0=("${toks[@]}") v0=("${vpos[@]}") d0=$dflt
			# What each choice sounds like: the vowel it stresses, or
			# espeak-ng's own when the stress cannot be moved.
			eff_f=$d0 eff_m=$d0
			if [ "$file" -gt 0 ] && try_stress "$lc" "$file"; then
				eff_f=$file text=$REPLY
			fi
			if [ "$mark" -gt 0 ]; then
				text=$p
				if try_stress "$lc" "$mark"; then
					eff_m=$mark text=$REPLY
				fi
				[ "$eff_m" -eq "$eff_f" ] || c=$mark
			fi
			[ "$text" != "$lc" ] || text=$p
			if [ "$eff_m" -ne "$mark" ] && [ "$mark" -gt 0 ] ||
				{ [ "$eff_f" -ne "$file" ] && [ "$file" -gt 0 ]; }; then
				printf 'render.sh: cannot move the stress of "%s": phonemes %s\n' \
					"$p" "${t0[*]}" >&2
			fi
		fi
		[ "$i" -eq 0 ] || stress_out+=,
		stress_out+=$c
		spoken+=$text$sep
		i=$((i + 1))
	done
	while [[ $stress_out == *,0 ]]; do stress_out=${stress_out%,0}; done
	[ "$stress_out" != 0 ] || stress_out=''
	[ "$spoken" = "$name" ] || printf 'render.sh: spoken "%s" as %s\n' "$name" "$spoken" >&2
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
	local rate size room f shown=$name
	spoken_name
	[ -z "${GREETBOT_STRESS:-}" ] || printf 'stress %s\n' "$stress_out"
	name=$spoken
	put_name "${conf[phrase]}"
	name=$shown
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
	# Shaped voices are brought to their loudness: the preview's or the
	# video's.
	if [ -n "${m[voice_loudness]}" ]; then
		if [ "$mode" = preview ]; then
			voice_level "${m[preview_loudness]}"
		else
			voice_level "${m[voice_loudness]}"
		fi
	fi
}

# The shaping of a voice with voice_loudness: warmer and steadier than
# espeak-ng's bare output. Rumble off (high-pass 110 Hz), body (+3 dB shelf
# at 200 Hz), less buzz (-4 dB at 2.8 kHz, a low-pass at 7.5 kHz), a little
# presence (+2 dB at 1.4 kHz), firm compression (so that every name comes
# out about as loud: 8:1 over -34 dBFS, soft knee), and a little room (three
# early reflections, 17-53 ms, gone within the 250 ms the ducking lasts
# after the voice).
readonly VOICE_SHAPE='highpass=f=110,bass=g=3:f=200:w=0.8,equalizer=f=2800:t=q:w=1.2:g=-4,equalizer=f=1400:t=q:w=1.5:g=2,lowpass=f=7500,acompressor=threshold=0.02:ratio=8:attack=2:release=80:knee=4,aecho=1:1:17|31|53:0.22|0.14|0.08'
# Its peaks are held at -3 dBFS (-3.1), in time (latency compensated), so
# that the voice over the ducked music stays under -1 dBTP.
readonly VOICE_LIMIT='alimiter=limit=0.7:level=0:attack=2:release=40:latency=1'

# voice_filters: set REPLY to the filters of the spoken phrase before its
# level: format, tempo and, with voice_loudness, the shaping.
voice_filters() {
	REPLY="aresample=$AR,aformat=sample_fmts=fltp:channel_layouts=mono"
	[ -z "$tempo" ] || REPLY+=",atempo=$tempo"
	[ -z "${m[voice_loudness]}" ] || REPLY+=",$VOICE_SHAPE"
}

# voice_level TARGET: set vgain to the gain (dB, a decimal) that brings the
# shaped voice to TARGET (thousandths of a LUFS below 0): ffmpeg's ebur128
# measures it (one short ffmpeg, about 0.08 s of CPU). Aimed 0.5 LU higher,
# which the limiter after it takes back on the average phrase. A voice too
# quiet to measure (silence) gets at most +50 dB.
voice_level() {
	local line i='' g
	voice_filters
	# ebur128's running integrated loudness, printed per 100 ms: the last
	# is the phrase's.
	ff loudness 1 -i voice.wav \
		-af "$REPLY,ebur128=metadata=1,ametadata=mode=print:key=lavfi.r128.I:file=loudness.txt" \
		-f null -
	while IFS= read -r line; do
		[[ $line != lavfi.r128.I=* ]] || i=${line#*=}
	done <loudness.txt
	[[ $i =~ ^-([0-9]{1,3})\.([0-9])[0-9]*$ ]] ||
		die $EX_TEMPFAIL "could not measure the voice's loudness (${i:-nothing})"
	# Thousandths of a dB: -TARGET + 500 - I.
	g=$((500 - $1 + 10#${BASH_REMATCH[1]} * 1000 + 10#${BASH_REMATCH[2]} * 100))
	[ "$g" -le 50000 ] || g=50000
	if [ "$g" -lt 0 ]; then
		dec vgain $((-g))
		vgain=-$vgain
	else
		dec vgain "$g"
	fi
}

# voice_chain: set REPLY to the filters applied to the spoken phrase in
# both modes: voice_filters, then its level (vgain and the limiter with
# voice_loudness, else voice_volume).
voice_chain() {
	voice_filters
	if [ -n "${m[voice_loudness]}" ]; then
		REPLY+=",volume=${vgain}dB,$VOICE_LIMIT"
	else
		REPLY+=",volume=${conf[voice_volume]}"
	fi
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

# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# scripts/render.d/name.sh: the name: checks, substitution, layout.
# Sourced by scripts/render.sh (the variables it uses are set there and in
# the other parts).
# shellcheck disable=SC2034,SC2154

# ---------------------------------------------------------------------------
# The name.

# utf8 STRING: STRING is valid UTF-8. In a UTF-8 locale, glibc's regex "."
# matches no invalid sequence (stray or overlong bytes, truncated
# characters) except encoded surrogates (U+D800-DFFF) and code points past
# U+10FFFF (lead bytes F4 90.. and F5..FF), checked bytewise.
utf8() {
	[[ $1 =~ ^.*$ ]] || return 1
	local LC_ALL=C
	[[ $1 != *$'\xed'[$'\xa0'-$'\xbf']* && $1 != *$'\xf4'[$'\x90'-$'\xbf']* &&
		$1 != *[$'\xf5'-$'\xff']* ]]
}

# name_check: reject what cannot be rendered (65): empty, control
# characters, invalid UTF-8, absurd length, and "[[", with which espeak-ng
# would read what follows as phonemes (the voice would say something else
# than the screen shows). Everything else, quotes and shell or ffmpeg
# metacharacters included, is just text here.
name_check() {
	name=${GREETBOT_NAME-}
	utf8 "$name" || die $EX_DATAERR "name is not valid UTF-8"
	[[ $name =~ ^[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] ||
		die $EX_DATAERR "empty name"
	name=${BASH_REMATCH[1]}
	[[ ! $name =~ [[:cntrl:]] ]] || die $EX_DATAERR "name has control characters"
	[ "${#name}" -le $MAX_NAME_CHARS ] || die $EX_DATAERR "name too long"
	[[ $name != *'[['* ]] || die $EX_DATAERR "name has '[[' (espeak-ng phoneme input)"
}

# put_name TEMPLATE: set REPLY to TEMPLATE with "\n" made a newline and
# every {name} replaced by the name, literally (no pattern or & semantics).
put_name() {
	local rest=${1//'\n'/$'\n'} out=''
	while [[ $rest == *'{name}'* ]]; do
		out+=${rest%%'{name}'*}$name
		rest=${rest#*'{name}'}
	done
	REPLY=$out$rest
}

# widths_load FILE: fill fw (code point -> advance), fw_upem and fw_max
# from the cached table fontwidths.pl wrote. It is data from the shared
# cache, so it is parsed, never sourced: two lines of decimal numbers
# ("UPEM MAX", then "CP:ADV ..."), checked whole before any is used (an
# indexed or arithmetic context would evaluate anything else); a file
# that does not parse is a broken cache entry (75, retried).
widths_load() {
	local head list p
	local -a pairs
	declare -gA fw=()
	{ IFS= read -r head && IFS= read -r list; } <"$1" 2>/dev/null ||
		die $EX_TEMPFAIL "cannot read the cached font widths $1"
	[[ $head =~ ^([1-9][0-9]{0,5})\ ([0-9]{1,6})$ ]] &&
		[[ $list =~ ^[0-9]{1,7}:[0-9]{1,6}(\ [0-9]{1,7}:[0-9]{1,6})*$ ]] ||
		die $EX_TEMPFAIL "the cached font widths $1 do not parse"
	fw_upem=$((10#${head% *})) fw_max=$((10#${head#* }))
	read -r -a pairs <<<"$list"
	for p in "${pairs[@]}"; do
		fw[$((10#${p%%:*}))]=$((10#${p#*:}))
	done
}

# text_width TEXT: set REPLY to TEXT's width in font units: the sum of its
# characters' advances (fw, from the cached table that fontwidths.pl made;
# a character outside it counts as the font's widest).
text_width() {
	local s=$1 i c u=0
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		u=$((u + ${fw[$c]:-$fw_max}))
	done
	REPLY=$u
}

# size_for N UNITS: set REPLY to the largest font size at which N lines,
# the widest UNITS font units wide, fit the frame at the peak of the
# entrance (x1.1 when text_pop is on): the widest line with its border
# inside the width of text_area (90% of the frame's by default), the lines
# (1.2 em apart) inside its height (40% of the frame's); at most
# text_size, at least 8.
size_for() {
	local n=$1 u=$2 peak=100 s a
	[ "${m[text_pop]}" -eq 0 ] || peak=110
	a=$((area_px[2] - 2 * conf[text_border_width]))
	s=$((a * fw_upem * 100 / ((u > 0 ? u : 1) * peak)))
	a=$((area_px[3] * 100 * 10 / (n * 12 * peak)))
	[ "$a" -ge "$s" ] || s=$a
	[ "${conf[text_size]}" -ge "$s" ] || s=${conf[text_size]}
	[ "$s" -ge 8 ] || s=8
	REPLY=$s
}

# layout: set lines (the text with the name, one line per element) and
# text_px (their font size), measured with the font's own advances. A
# one-line text that does not fit at text_size is broken in two at the
# space (or after the hyphen) that makes the wider half narrowest, when
# two lines can then be drawn larger.
layout() {
	local text one best=-1 i c l r wl wr s
	put_name "${conf[text]}"
	text=$REPLY
	widths_load "$sdir/widths"
	IFS=$'\n' read -r -d '' -a lines <<<"$text" || true
	[ "${#lines[@]}" -gt 0 ] || lines=("$text")
	local wide=0
	for l in "${lines[@]}"; do
		text_width "$l"
		[ "$REPLY" -le "$wide" ] || wide=$REPLY
	done
	size_for "${#lines[@]}" "$wide"
	text_px=$REPLY
	[ "${#lines[@]}" -eq 1 ] && [ "$text_px" -lt "${conf[text_size]}" ] || return 0
	one=${lines[0]}
	for ((i = 1; i < ${#one}; i++)); do
		c=${one:i:1}
		if [ "$c" = ' ' ]; then
			l=${one:0:i} r=${one:i+1}
		elif [ "$c" = - ]; then
			l=${one:0:i+1} r=${one:i+1}
		else
			continue
		fi
		[ -n "$r" ] && [ -n "${l// /}" ] || continue
		text_width "$l"
		wl=$REPLY
		text_width "$r"
		wr=$REPLY
		[ "$wl" -ge "$wr" ] || wl=$wr
		if [ "$best" -lt 0 ] || [ "$wl" -lt "$best" ]; then
			best=$wl
			lines=("$l" "$r")
		fi
	done
	[ "$best" -ge 0 ] || return 0
	size_for 2 "$best"
	s=$REPLY
	# Two lines only when that draws the name at least 10% larger.
	if [ $((s * 10)) -ge $((text_px * 11)) ]; then
		text_px=$s
	else
		lines=("$one")
	fi
}

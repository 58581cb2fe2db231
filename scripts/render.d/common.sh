# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# scripts/render.d/common.sh: constants, errors, progress, decimals.
# Sourced by scripts/render.sh (the variables it uses are set there and in
# the other parts).
# shellcheck disable=SC2034,SC2154

# Bump when what is cached changes shape, so old cache entries are ignored.
readonly RENDER_VERSION=7
readonly EX_USAGE=64 EX_DATAERR=65 EX_TEMPFAIL=75 EX_CONFIG=78
readonly MAX_NAME_CHARS=128
# Audio: sample rate, and the AAC frame length in samples.
readonly AR=48000 AF=1024

die() {
	local code=$1
	shift
	printf 'render.sh: %s\n' "$*" >&2
	exit "$code"
}

progress() { printf 'progress %s\n' "$1"; }

# in_range N MIN MAX: integer N lies in [MIN, MAX].
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# abspath PATH: set REPLY to PATH made absolute against the current
# directory. (Helpers on the per-name path set REPLY rather than print:
# a command substitution costs a fork.)
abspath() {
	case $1 in
	/*) REPLY=$1 ;;
	*) REPLY=$PWD/$1 ;;
	esac
}

# readable PATH: PATH is a readable regular file.
readable() { [ -f "$1" ] && [ -r "$1" ]; }

# ---------------------------------------------------------------------------
# Decimals: template times and gains are decimals with at most three
# fractional digits, handled as integer thousandths ("milli") so that bash
# arithmetic is enough.

# milli VALUE: set REPLY to VALUE * 1000; fail when VALUE is not a decimal.
milli() {
	[[ $1 =~ ^([0-9]{1,6})(\.([0-9]{1,3}))?$ ]] || return 1
	local frac=${BASH_REMATCH[3]}000
	REPLY=$((10#${BASH_REMATCH[1]} * 1000 + 10#${frac:0:3}))
}

# dec VAR MILLI: set VAR to a non-negative thousandths value as a decimal
# (no fork, as a command substitution would cost).
dec() { printf -v "$1" '%d.%03d' $(($2 / 1000)) $(($2 % 1000)); }

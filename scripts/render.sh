#!/bin/bash
# SPDX-License-Identifier: ISC
# scripts/render.sh: render one personalised greeting video (or, in preview
# mode, the spoken phrase alone) for the name in $GREETBOT_NAME with the
# template in $GREETBOT_TEMPLATE_DIR. The contract with greetbotd
# (environment, progress lines, exit codes) is "Render script contract" in
# docs/ARCHITECTURE.md; the template format is templates/README.md.
#
# This file is the order of the steps; the steps are in scripts/render.d/
# (in a template snapshot, .render.d/ beside the script, which greetbotd
# copies and hashes into the template version with it):
#
#   common.sh    constants, errors, progress, decimals
#   conf.sh      template.conf: reading, defaults, validation
#   name.sh      the name: checks, {name}, measuring and line breaks
#   voice.sh     the espeak-ng voice, the spoken phrase, preview mode
#   ffmpeg.sh    running ffmpeg (exit codes), the shared encoder settings
#   static.sh    the cache: the parts made once per template version
#   personal.sh  per name: the window with the name, the sound around
#                the voice, the thumbnail (one ffmpeg)
#   join.sh      the MP4 from cached and new parts
#   mp4join.pl   the MP4 joiner (perl, no decoding), run by join.sh
#   fontwidths.pl  a font's advance widths, for measuring the name
#   stresses-ru.txt  the stresses of common Russian names (voice.sh)
#
# Speed: a new name costs one espeak-ng, one ffmpeg and one small perl
# (with voice_loudness, one more short ffmpeg measuring the voice).
# Once per template version, $GREETBOT_CACHE_DIR receives the video before
# and after the personalised window (encoded), the window's background
# (raw) and the music bed (PCM and AAC). Per name, the one ffmpeg encodes
# only the window (same x264 settings) with its thumbnail, and only the
# stretch of audio that the voice changes; the perl joiner then writes the
# MP4 from the cached and the new samples without decoding anything.
#
# Safety: the name is never part of a command line that a shell parses, nor
# of an ffmpeg filter string. It is written to files with printf '%s' and
# read from there by espeak-ng (-f) and drawtext (textfile=). Template
# values that do reach filter strings are validated against strict
# patterns first, and every file path is reached through a symlink in the
# work directory (or, for the font, spelled out when it is made only of
# letters, digits and "_./-"), so no path in a filter needs quoting.
set -eu
shopt -u patsub_replacement 2>/dev/null || true
export LC_ALL=C.UTF-8

parts=${BASH_SOURCE[0]%.sh}.d
case $parts in /*) ;; *) parts=$PWD/$parts ;; esac
if [ ! -f "$parts/common.sh" ]; then
	printf 'render.sh: its parts are missing: no %s\n' "$parts/common.sh" >&2
	exit 78
fi
# shellcheck source=scripts/render.d/common.sh
. "$parts/common.sh"
# shellcheck source=scripts/render.d/conf.sh
. "$parts/conf.sh"
# shellcheck source=scripts/render.d/name.sh
. "$parts/name.sh"
# shellcheck source=scripts/render.d/voice.sh
. "$parts/voice.sh"
# shellcheck source=scripts/render.d/ffmpeg.sh
. "$parts/ffmpeg.sh"
# shellcheck source=scripts/render.d/static.sh
. "$parts/static.sh"
# shellcheck source=scripts/render.d/personal.sh
. "$parts/personal.sh"
# shellcheck source=scripts/render.d/join.sh
. "$parts/join.sh"

# ---------------------------------------------------------------------------

# A half-built cache entry is removed however the script ends; SIGTERM
# (greetbotd's timeout) is turned into an exit so that this still runs.
cleanup_dir=''
# shellcheck disable=SC2034 # read by render.d/static.sh
redone=''
trap '[ -z "$cleanup_dir" ] || rm -rf "$cleanup_dir"' EXIT
trap 'exit 143' TERM INT

mode=${GREETBOT_MODE:-video}
case $mode in video | preview) ;; *) die $EX_USAGE "GREETBOT_MODE must be video or preview" ;; esac
[ -n "${GREETBOT_OUTPUT:-}" ] || die $EX_USAGE "GREETBOT_OUTPUT is not set"
[ "$mode" = preview ] || [ -n "${GREETBOT_THUMB:-}" ] ||
	die $EX_USAGE "GREETBOT_THUMB is not set"
[ -d "${GREETBOT_TEMPLATE_DIR:-}" ] ||
	die $EX_CONFIG "template dir '${GREETBOT_TEMPLATE_DIR:-}' not found"
abspath "$GREETBOT_TEMPLATE_DIR"
tdir=${REPLY%/}
# Our own files live in a private subdirectory of the work directory, so
# that no name of ours can collide with the output paths.
abspath "$GREETBOT_OUTPUT"
# shellcheck disable=SC2034 # read by render.d/join.sh
out_path=$REPLY
abspath "${GREETBOT_THUMB:-thumb.jpg}"
# shellcheck disable=SC2034 # read by render.d/join.sh
thumb_path=$REPLY
wdir=$PWD/.render.$$
mkdir "$wdir"
cd "$wdir"

progress 0.01
name_check
conf_load "$tdir/template.conf"
conf_check
# The sound's length, and where its fade-out starts, in samples.
# shellcheck disable=SC2154 # t_total is set by render.d/conf.sh
a_total=$((t_total * AR / 1000))
# shellcheck disable=SC2034 # read by render.d/personal.sh
a_fade=$((a_total - AR / 2))
cache_init
voice_pick
progress 0.05
speak
progress 0.15
if [ "$mode" = preview ]; then
	preview
else
	# The fonts are named in filter strings: by their paths when those are
	# plain, else through symlinks.
	# (The paths are set by render.d/conf.sh; the refs are read by
	# render.d/personal.sh and static.sh.)
	# shellcheck disable=SC2154
	font_link "$font_path" font.ttf
	# shellcheck disable=SC2034
	font_ref=$REPLY
	# shellcheck disable=SC2154
	font_link "$title_font_path" title-font.ttf
	# shellcheck disable=SC2034
	title_ref=$REPLY
	# shellcheck disable=SC2154
	font_link "$outro_font_path" outro-font.ttf
	# shellcheck disable=SC2034
	outro_ref=$REPLY
	static_get
	progress 0.45
	encode
	progress 0.80
	join
fi
# Kept on failure, for a look at the logs.
if [ -d "$wdir" ]; then
	cd ..
	rm -rf "$wdir"
fi
progress 1.00

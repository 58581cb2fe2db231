#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A render script that fails once with EX_TEMPFAIL (75), then makes a small
# valid video: for the retry tests. The marker lives in FLAKY_DIR, which
# the wrapper t_flaky_render makes (tests/lib.sh): the render cache is
# read-only to renders.
set -eu
[ "${GREETBOT_MODE:-video}" = preview ] && exit 1
marker="${FLAKY_DIR:?}/failed-once-$(printf '%s' "$GREETBOT_NAME" | od -An -tx1 | tr -d ' \n')"
if [ ! -e "$marker" ]; then
	: >"$marker"
	echo "temporary trouble" >&2
	exit 75
fi
ffmpeg -v error -f lavfi -i "color=c=navy:s=320x180:d=6" -f lavfi -i "sine=d=6" \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -y "$GREETBOT_OUTPUT"

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A render script that takes a few seconds, reporting progress, then makes a
# small valid video: long enough to kill its greetbotd in the middle
# (reclaim test) or to watch the parent's progress message (progress test).
set -eu
[ "${GREETBOT_MODE:-video}" = preview ] && exit 1	# the bot asks in text
for p in 0.20 0.40 0.60 0.80; do
	echo "progress $p"
	sleep 1.5
done
ffmpeg -v error -f lavfi -i "color=c=teal:s=320x180:d=6" -f lavfi -i "sine=d=6" \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -y "$GREETBOT_OUTPUT"

#!/usr/bin/env bash
# A render script that takes a few seconds, then makes a small valid video:
# long enough to kill its greetbotd in the middle (reclaim test).
set -eu
sleep 3
ffmpeg -v error -f lavfi -i "color=c=teal:s=320x180:d=6" -f lavfi -i "sine=d=6" \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -y "$GREETBOT_OUTPUT"

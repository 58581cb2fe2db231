#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# sendVideo says the video's frame size and duration (Telegram shows the
# player at the right shape and the length before the video plays): the
# values ffprobe read when it validated the render, kept with the asset,
# on the upload and on every later send by file_id.
. "$(dirname "$0")/../lib.sh"

sim_start
gb_start

# probe FILE: "WIDTH HEIGHT SECONDS" of the MP4 a chat received, seconds
# rounded as the Bot API's Integer.
probe() {
	ffprobe -v error -select_streams v:0 -show_entries stream=width,height \
		-show_entries format=duration -of json "$1" |
		jq -r '"\(.streams[0].width) \(.streams[0].height) \(.format.duration | tonumber | round)"'
}

# said MESSAGE: what the call said, "WIDTH HEIGHT DURATION".
said() { jq -r '"\(.params.width) \(.params.height) \(.params.duration)"' <<<"$1"; }

parent_confirm 4401 "Нина"
first=$(sim_expect 4401 '.method == "sendVideo"' 120) || first=""
t_check "the first parent gets the video, uploaded" \
	t_jq '.params.video | type == "object"' <<<"$first"
path=$(jq -r '.video.path' <<<"$first")
real=$(probe "$path") || real=""
t_check "the video is the test template's frame, 320x180 ($real)" test "${real% *}" = "320 180"
t_check "the upload says its width, height and duration ($(said "$first"), the file: $real)" \
	test "$(said "$first")" = "$real"

parent_confirm 4402 "нина"
again=$(sim_expect 4402 '.method == "sendVideo"' 60) || again=""
t_check "the second parent gets it by file_id" t_jq '.params.video | type == "string"' <<<"$again"
t_check "the send by file_id says the same ($(said "$again"))" test "$(said "$again")" = "$real"
t_done

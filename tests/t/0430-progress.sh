#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The parent's "order accepted" message shows the render's progress while
# it runs and gives way to the video when it is ready.
. "$(dirname "$0")/../lib.sh"

sim_start
GB_RENDER_SCRIPT=$TOP/tests/scripts/slow-render.sh gb_start
video=$(parent_order 4301 "Вова") || video=""
t_check "the parent gets the video" test -s "$video"
chat=$(sim_wait 4301 0 1 0)
accepted=$(jq -r '[.messages[] | select(.text != null and (.text | startswith("Заказ принят")))][0].message_id' <<<"$chat")
t_check "the order-accepted message was edited with a progress bar" \
	t_jq --argjson m "$accepted" '[.messages[] | select(.method == "editMessageText" and
		.message_id == $m and (.text | test("Вова.*\n.* [0-9]+%")))] | length > 0' <<<"$chat"
t_check "and removed once the video was there" \
	sim_expect 4301 ".method == \"deleteMessage\" and .message_id == $accepted" 15
t_done

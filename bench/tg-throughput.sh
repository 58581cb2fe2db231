#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# bench/tg-throughput.sh: how close greetbot-tg's sender comes to the flood
# limit it is configured for, without being refused.
#
# tgsim enforces 30 sends/s overall and 1/s per chat and delays every call
# to each of 500 chats by 100 ms (latency fault); greetbot-tg alone runs
# with the same limits (rate_global=30, rate_chat=1). 4 /help messages per
# chat (2,000 updates) are injected before the bot starts; each gets one
# reply. The achieved rate is measured from the first to the last reply as
# tgsim receives them (its sendMessage count less the refused ones, polled
# every 50 ms; every call is carried out 100 ms after it arrives, so the
# window is the same), and compared with the limit. provoked_429 is tgsim's
# rate_limited count. Target: ratio >= 0.9 with provoked_429 = 0.
#
# Two phases, each on a fresh tgsim and bot: "grouped" (each chat's
# messages one after the other: rate, ratio, provoked_429) and
# "interleaved" (round after round over all chats: interleaved_*).
# Knobs (environment): BENCH_CHATS (500), BENCH_PER_CHAT (4).
. "$(dirname "$0")/lib/common.sh"

chats=${BENCH_CHATS:-500}
per_chat=${BENCH_PER_CHAT:-4}
limit=30
chat_rate=1
latency_ms=100
total=$((chats * per_chat))
base_chat=700000

# msg_block CHAT: one /help message for CHAT (a curl config block).
msg_block() {
	printf 'url = "%s/message"\ndata = "chat_id=%d&text=%%2Fhelp&language_code=en&first_name=P"\noutput = "/dev/null"\nnext\n' \
		"$url" $((base_chat + $1))
}

# sent STATS: sendMessage calls that tgsim did not refuse.
sent() { jq '(.calls.sendMessage // 0) - .rate_limited' <<<"$1"; }

# phase ORDER: one measurement on a fresh tgsim and bot; sets p_rate,
# p_window and p_provoked.
phase() {
	local order=$1 cfg injected deadline t t_first='' t_last='' n=0 stats wrong c r
	# shellcheck disable=SC2034 # read by scripts/sim.sh
	SIM_DIR=$B/$order
	mkdir -p "$SIM_DIR"
	sim_start --global-rate "$limit" --chat-rate "$chat_rate"
	url=http://$SIM_ADDR/control

	# One curl for all the control calls of a step: the latency faults,
	# then the messages in update order.
	cfg=$SIM_DIR/faults.curl
	for ((c = 1; c <= chats; c++)); do
		printf 'url = "%s/fault"\ndata = "chat_id=%d&kind=latency&ms=%d&count=0"\noutput = "/dev/null"\nnext\n' \
			"$url" $((base_chat + c)) "$latency_ms"
	done >"$cfg"
	b_curl_batch "$cfg"
	cfg=$SIM_DIR/messages.curl
	if [ "$order" = grouped ]; then
		for ((c = 1; c <= chats; c++)); do
			for ((r = 0; r < per_chat; r++)); do msg_block "$c"; done
		done >"$cfg"
	else
		for ((r = 0; r < per_chat; r++)); do
			for ((c = 1; c <= chats; c++)); do msg_block "$c"; done
		done >"$cfg"
	fi
	b_curl_batch "$cfg"
	injected=$(b_stats | jq '.updates.injected')
	[ "$injected" -eq "$total" ] || b_fail "tgsim holds $injected updates, expected $total"
	b_log "$order: $total /help updates for $chats chats injected; starting greetbot-tg"

	GREETBOT_RATE_GLOBAL=$limit GREETBOT_RATE_CHAT=$chat_rate GREETBOT_LOG_LEVEL=warn \
		bot_start
	deadline=$((SECONDS + 60 + 4 * total / limit))
	while [ "$SECONDS" -lt "$deadline" ]; do
		t=$(b_now)
		stats=$(b_stats)
		n=$(sent "$stats")
		[ -n "$t_first" ] || [ "$n" -lt 1 ] || t_first=$t
		if [ "$n" -ge "$total" ]; then
			t_last=$t
			break
		fi
		sleep 0.05
	done
	[ -n "$t_last" ] || b_fail "$order: only $n of $total replies before the deadline"
	p_provoked=$(jq '.rate_limited' <<<"$stats")

	# Every chat got exactly its replies (after the last call's latency).
	cfg=$SIM_DIR/check.curl
	for ((c = 1; c <= chats; c++)); do
		printf 'url = "%s/chat?chat_id=%d&since=0&count=%d&wait=5"\nnext\n' \
			"$url" $((base_chat + c)) "$per_chat"
	done >"$cfg"
	wrong=$(b_curl_batch "$cfg" | jq -s --argjson n "$per_chat" \
		'[.[] | select([.messages[] | select(.method == "sendMessage")] | length != $n)] | length')
	[ "$wrong" -eq 0 ] || b_fail "$order: $wrong chats did not get exactly $per_chat replies"
	sim_stop

	p_window=$(b_calc "$t_last - $t_first")
	p_rate=$(b_calc "($total - 1) / $p_window")
	b_log "$order: $total replies in ${p_window}s: $p_rate/s of $limit/s, $p_provoked 429s"
}

# Grouped: each chat's 4 messages one after the other (what 4 /help from
# one parent look like), so the per-chat limit binds as well as the global
# one. Interleaved: round after round over all chats, where only the
# global limit binds.
phase grouped
rate=$p_rate window=$p_window provoked=$p_provoked
phase interleaved
printf '{"bench":"tg-throughput","limit":%d,"rate":%s,"ratio":%s,"provoked_429":%d,"messages":%d,"chats":%d,"window_s":%s,"interleaved_rate":%s,"interleaved_ratio":%s,"interleaved_provoked_429":%d}\n' \
	"$limit" "$rate" "$(b_calc "$rate / $limit")" "$provoked" "$total" "$chats" "$window" \
	"$p_rate" "$(b_calc "$p_rate / $limit")" "$p_provoked"

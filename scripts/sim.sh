# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# scripts/sim.sh: start tgsim and greetbotd on a private state directory and
# play simulated parents through tgsim's control interface. Sourced by
# scripts/run-demo.sh (make run) and tests/lib.sh. Needs curl and jq.
#
# Variables: BIN (the binaries), TOP (the source tree), SIM_DIR (state).
# Set by sim_start: SIM_ADDR, SIM_PID, SIM_TOKEN; by gb_start: GB_PID and
# GB_HTTP (greetbotd's /health and /metrics address).

SIM_TOKEN=${SIM_TOKEN:-123456:simulated-token}

# Start tgsim on a free loopback port; returns once it listens.
sim_start() {
	local ready="${SIM_DIR:?}/tgsim.ready"
	mkdir -p "$SIM_DIR/tgsim-media"
	rm -f "$ready"
	mkfifo "$ready"
	"$BIN/tgsim" --listen 127.0.0.1:0 --spec "$TOP/data/bot-api-10.1.min.json" \
		--media-dir "$SIM_DIR/tgsim-media" --token "$SIM_TOKEN" \
		--ready-fd 3 "$@" 3>"$ready" 2>>"$SIM_DIR/tgsim.log" &
	SIM_PID=$!
	read -r SIM_ADDR <"$ready" || true
	rm -f "$ready"
	if [ -z "${SIM_ADDR:-}" ]; then
		echo "tgsim did not start; see $SIM_DIR/tgsim.log" >&2
		return 1
	fi
}

# Start greetbotd against tgsim; returns once it reports ready. GB_NAME
# (default greetbotd) names its log and GB_STATE (default $SIM_DIR/state)
# its state directory, so that a test can run several nodes.
gb_start() {
	local name=${GB_NAME:-greetbotd}
	local ready="$SIM_DIR/$name.ready"
	rm -f "$ready"
	mkfifo "$ready"
	GREETBOT_TELEGRAM_TOKEN=$SIM_TOKEN \
	GREETBOT_TELEGRAM_API_URL="http://$SIM_ADDR" \
	GREETBOT_STATE_DIR="${GB_STATE:-$SIM_DIR/state}" \
	GREETBOT_TEMPLATES_DIR="${GB_TEMPLATES_DIR:-$TOP/templates}" \
	GREETBOT_RENDER_SCRIPT="${GB_RENDER_SCRIPT:-$TOP/scripts/render.sh}" \
	GREETBOT_MESSAGES_DIR="${GB_MESSAGES_DIR:-$TOP/messages}" \
	GREETBOT_HTTP_LISTEN=127.0.0.1:0 \
	GREETBOT_POLL_TIMEOUT=${GREETBOT_POLL_TIMEOUT:-20} \
		"$BIN/greetbotd" --ready-fd 3 "$@" 3>"$ready" 2>>"$SIM_DIR/$name.log" &
	GB_PID=$!
	local line=""
	# Ready within 2 minutes (a first start may build the template's
	# cache), or never: a test that waits for ever helps nobody.
	read -r -t 120 line <"$ready" || true
	rm -f "$ready"
	# shellcheck disable=SC2034 # read by the tests
	GB_HTTP=${line#ready http=}
	if [ "${line%% *}" != ready ]; then
		echo "greetbotd did not become ready; see $SIM_DIR/$name.log" >&2
		kill "$GB_PID" 2>/dev/null || true
		return 1
	fi
}

# Start greetbot-tg alone (no greetbotd, no Redis): enough for the
# conversation. Sets BOT_PID.
bot_start() {
	GREETBOT_TELEGRAM_TOKEN=$SIM_TOKEN \
	GREETBOT_TELEGRAM_API_URL="http://$SIM_ADDR" \
	GREETBOT_STATE_DIR="${SIM_DIR:?}/state" \
	GREETBOT_TEMPLATES_DIR="${GB_TEMPLATES_DIR:-$TOP/templates}" \
	GREETBOT_RENDER_SCRIPT="${GB_RENDER_SCRIPT:-$TOP/scripts/render.sh}" \
	GREETBOT_MESSAGES_DIR="${GB_MESSAGES_DIR:-$TOP/messages}" \
	GREETBOT_POLL_TIMEOUT=${GREETBOT_POLL_TIMEOUT:-20} \
		"$BIN/greetbot-tg" "$@" 2>>"$SIM_DIR/greetbot-tg.log" &
	BOT_PID=$!
}

# Stop greetbotd (it drains and stops its children), greetbot-tg when
# started alone, and tgsim.
sim_stop() {
	if [ -n "${BOT_PID:-}" ]; then
		kill -TERM "$BOT_PID" 2>/dev/null || true
		wait "$BOT_PID" 2>/dev/null || true
		BOT_PID=
	fi
	if [ -n "${GB_PID:-}" ]; then
		kill -TERM "$GB_PID" 2>/dev/null || true
		wait "$GB_PID" 2>/dev/null || true
		GB_PID=
	fi
	if [ -n "${SIM_PID:-}" ]; then
		kill -TERM "$SIM_PID" 2>/dev/null || true
		wait "$SIM_PID" 2>/dev/null || true
		SIM_PID=
	fi
}

# sim_post ENDPOINT key=value...: a control call, JSON reply on stdout.
sim_post() {
	local ep=$1 kv args=()
	shift
	for kv in "$@"; do
		args+=(--data-urlencode "$kv")
	done
	curl -fsS "http://$SIM_ADDR/control/$ep" "${args[@]}"
}

# sim_wait CHAT SINCE [COUNT] [WAIT]: what the bot sent to CHAT after seq
# SINCE, waiting (long poll, no sleeping) until COUNT messages arrived.
sim_wait() {
	curl -fsS -G "http://$SIM_ADDR/control/chat" --data-urlencode "chat_id=$1" \
		--data-urlencode "since=$2" --data-urlencode "count=${3:-1}" \
		--data-urlencode "wait=${4:-60}"
}

# sim_expect CHAT JQ-FILTER [WAIT]: wait for the first message after
# $SIM_SEQ matching the filter; print it and advance SIM_SEQ past it.
sim_expect() {
	local chat=$1 filter=$2 deadline=$((SECONDS + ${3:-60})) reply msg n
	n=1
	while [ "$SECONDS" -lt "$deadline" ]; do
		reply=$(sim_wait "$chat" "${SIM_SEQ:-0}" "$n" "$((deadline - SECONDS))") || return 1
		msg=$(jq -c "[.messages[] | select($filter)][0] // empty" <<<"$reply")
		if [ -n "$msg" ]; then
			SIM_SEQ=$(jq -r '.seq' <<<"$msg")
			echo "$msg"
			return 0
		fi
		n=$(($(jq '.messages | length' <<<"$reply") + 1))
	done
	echo "no message matching $filter in chat $chat" >&2
	return 1
}

# parent_confirm CHAT NAME [LANG]: one parent through the conversation up
# to pressing Confirm (the preview may come as voice or, when it cannot be
# made, as text).
parent_confirm() {
	local chat=$1 name=$2 lang=${3:-ru} msg mid data
	SIM_SEQ=0
	sim_post message chat_id="$chat" text=/start first_name=Parent \
		language_code="$lang" >/dev/null
	sim_expect "$chat" '.reply_markup.keyboard[0][0].request_contact == true' >/dev/null
	sim_post contact chat_id="$chat" phone_number="7900$chat" first_name=Parent \
		language_code="$lang" >/dev/null
	sim_expect "$chat" '.method == "sendMessage"' >/dev/null
	sim_post message chat_id="$chat" text="$name" language_code="$lang" >/dev/null
	msg=$(sim_expect "$chat" '.reply_markup.inline_keyboard != null') || return 1
	mid=$(jq -r '.message_id' <<<"$msg")
	data=$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$msg")
	sim_post callback chat_id="$chat" message_id="$mid" data="$data" >/dev/null
}

# parent_order CHAT NAME [LANG]: prints the path of the MP4 the chat received.
parent_order() {
	local msg
	parent_confirm "$@" || return 1
	msg=$(sim_expect "$1" '.method == "sendVideo"' "${PARENT_WAIT:-120}") || return 1
	jq -r '.video.path' <<<"$msg"
}

# parent_failed CHAT NAME [LANG]: prints the failure notice with its retry
# button that the parent received.
parent_failed() {
	parent_confirm "$@" || return 1
	sim_expect "$1" '.reply_markup.inline_keyboard[0][0].callback_data // "" |
		startswith("retry:")' "${PARENT_WAIT:-90}"
}

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# 0011-tgsim-faults.sh: tgsim's injected faults (403, 500, timeout,
# latency, per chat, counted) and its flood limits (429 with retry_after).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

TOKEN=123456:TEST-token

# start NAME [TGSIM-ARGS...]: start a tgsim; sets addr, api, ctl, pid.
start() {
	local name=$1
	shift
	mkfifo "$T/$name.ready"
	"$BIN/tgsim" --listen 127.0.0.1:0 --spec "$TOP/data/bot-api-10.1.min.json" \
		--media-dir "$T/$name-media" --token "$TOKEN" --ready-fd 3 "$@" \
		3>"$T/$name.ready" 2>"$T/$name.log" &
	pid=$!
	t_track "$pid"
	addr=
	read -r addr <"$T/$name.ready" || true
	api="http://$addr/bot$TOKEN"
	ctl="http://$addr/control"
	[ -n "$addr" ]
}

# send CHAT TEXT: sendMessage's answer.
send() { curl -sS "$api/sendMessage" -d chat_id="$1" --data-urlencode text="$2"; }

# fault CHAT KIND [KEY=VALUE...]: arm a fault.
fault() {
	local chat=$1 kind=$2
	shift 2
	curl -sS "$ctl/fault" -d chat_id="$chat" -d kind="$kind" "${@/#/-d}" >/dev/null
}

# is JSON FILTER: FILTER (a jq expression) holds for JSON.
is() { printf '%s' "$1" | t_jq "$2" >/dev/null; }

# logged CHAT: how many entries the chat log of CHAT has.
logged() { curl -sS "$ctl/chat?chat_id=$1" | jq '.messages | length'; }

# held N: wait, by asking tgsim, until N requests are held.
held() {
	local i
	for i in $(seq 1 500); do
		is "$(curl -sS "$ctl/stats")" ".waiting == $1" && return 0
		: "$i"
	done
	return 1
}

## Faults
if ! start faults; then
	t_fail "tgsim starts"
	t_show "$T/faults.log"
	t_done || exit 1
fi
fault 10 403 count=2
t_check "a 403 fault answers Forbidden" is "$(send 10 a)" \
	'.ok == false and .error_code == 403 and .description == "Forbidden: bot was blocked by the user"'
t_check "... count times" is "$(send 10 b)" '.error_code == 403'
t_check "... and then calls go through" is "$(send 10 c)" '.ok and .result.text == "c"'
t_check "faulted calls have no effect" [ "$(logged 10)" = 1 ]
t_check "other chats are not affected" is "$(send 9 x)" '.ok'

fault 11 500 count=0
t_check "a 500 fault answers Internal Server Error" is "$(send 11 a)" \
	'.error_code == 500 and .description == "Internal Server Error"'
t_check "count=0 keeps failing" is "$(send 11 b)" '.error_code == 500'
fault 11 clear
t_check "kind=clear ends it" is "$(send 11 c)" '.ok'

fault 12 latency ms=400
start_ns=$(date +%s%N)
t_check "a latency fault still carries the call out" is "$(send 12 slow)" '.ok and .result.text == "slow"'
t_check "... after ms" [ $(( ($(date +%s%N) - start_ns) / 1000000 )) -ge 400 ]

fault 13 timeout ms=200
rc=0
curl -sS -m 10 "$api/sendMessage" -d chat_id=13 -d text=lost >/dev/null 2>&1 || rc=$?
t_check "a timeout fault closes without an answer (curl exit $rc)" [ "$rc" -eq 52 ]
t_check "... and the call has no effect" [ "$(logged 13)" = 0 ]
fault 14 timeout
curl -sS -m 1 "$api/sendMessage" -d chat_id=14 -d text=lost >/dev/null 2>&1 || true
t_check "a hung call is let go when the client gives up" held 0

r=$(curl -sS "$ctl/callback" -d chat_id=15 -d message_id=1 -d data=forged)
cq=$(printf '%s' "$r" | jq -r .callback_query_id)
fault 15 403
t_check "faults reach answerCallbackQuery through the query's chat" \
	is "$(curl -sS "$api/answerCallbackQuery" -d callback_query_id="$cq")" '.error_code == 403'
t_check "a forged callback names an inaccessible message" \
	is "$(curl -sS "$api/getUpdates")" '.result[-1].callback_query.message.date == 0'
t_check "a bad fault kind is refused" \
	is "$(curl -sS "$ctl/fault" -d chat_id=1 -d kind=418)" '.ok == false and .error_code == 400'
t_check "stats count the faults" is "$(curl -sS "$ctl/stats")" '.faults == 8'

## Flood limits
if ! start flood --chat-rate 1 --global-rate 2; then
	t_fail "tgsim starts with flood limits"
	t_show "$T/flood.log"
	t_done || exit 1
fi
t_check "the first message to a chat goes through" is "$(send 1 one)" '.ok'
r=$(send 1 two)
t_check "the second within a second gets 429 with retry_after" is "$r" \
	'.ok == false and .error_code == 429 and .parameters.retry_after >= 1 and (.description | startswith("Too Many Requests: retry after"))'
t_check "a refused call has no effect" [ "$(logged 1)" = 1 ]
n429=0
for chat in 2 3 4 5 6; do
	is "$(send "$chat" hi)" '.error_code == 429' && n429=$((n429 + 1))
done
t_check "the global limit refuses a burst to many chats ($n429 of 5)" [ "$n429" -ge 2 ]
t_check "getUpdates is not limited" is "$(curl -sS "$api/getUpdates")" '.ok'
# Waiting retry_after is what a client must do; here it is the point.
sleep "$(printf '%s' "$r" | jq .parameters.retry_after)"
t_check "after retry_after the call goes through" is "$(send 1 three)" '.ok'
t_check "stats count the 429s" is "$(curl -sS "$ctl/stats")" ".rate_limited == $((n429 + 1))"
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# bench/updates.sh: updates per second through greetbot-tg with SQLite
# persistence, against the rate tgsim alone serves the same updates.
#
# N sticker messages (a kind whose only effect is a hint reply; the replies
# stay in the outbox behind the default 30/s flood limit, so sending costs
# little) over many private chats are injected into tgsim before
# greetbot-tg starts. The bot's rate is N over the time from its start until
# the `updates` table holds N rows (one sqlite3 polled every 5 ms): each
# update is one transaction (user row, outbox row, update id, offset).
# The baseline, in the same run, is a fresh tgsim holding the same N
# updates, drained by a plain curl loop with the bot's batch size (limit
# 100, offset = last update_id + 1, as the bot confirms them).
# keepalive_rate: the same updates fetched by one curl over one kept-alive
# connection, as the bot fetches them (offsets known in advance).
# Target: rate >= 2,000/s. Knobs: BENCH_UPDATES (10000), BENCH_CHATS (1000).
. "$(dirname "$0")/lib/common.sh"

n=${BENCH_UPDATES:-10000}
chats=${BENCH_CHATS:-1000}
batch=100
base_chat=800000


# inject: N sticker updates into the running tgsim, chats round-robin,
# through one curl (a config block per update).
inject() {
	local cfg=$SIM_DIR/updates.curl i chat
	for ((i = 0; i < n; i++)); do
		chat=$((base_chat + i % chats))
		printf 'url = "http://%s/control/update"\nheader = "Content-Type: application/json"\n' "$SIM_ADDR"
		printf 'data = "{\\"message\\":{\\"chat\\":{\\"id\\":%d,\\"type\\":\\"private\\"},' "$chat"
		printf '\\"from\\":{\\"id\\":%d,\\"is_bot\\":false,\\"first_name\\":\\"P\\",\\"language_code\\":\\"en\\"},' "$chat"
		printf '\\"sticker\\":{\\"file_id\\":\\"stk%d\\",\\"file_unique_id\\":\\"u%d\\",\\"type\\":\\"regular\\",' "$i" "$i"
		printf '\\"width\\":512,\\"height\\":512,\\"is_animated\\":false,\\"is_video\\":false}}}"\n'
		printf 'output = "/dev/null"\nnext\n'
	done >"$cfg"
	b_curl_batch "$cfg"
	local got
	got=$(b_stats | jq '.updates.pending')
	[ "$got" -eq "$n" ] || b_fail "tgsim holds $got pending updates, expected $n"
}

# --- greetbot-tg --------------------------------------------------------
# shellcheck disable=SC2034 # read by scripts/sim.sh
SIM_DIR=$B/bot
mkdir -p "$SIM_DIR"
sim_start
inject
b_log "$n sticker updates over $chats chats injected; starting greetbot-tg"
db=$SIM_DIR/state/greetbot.db
t0=$(b_now)
GREETBOT_LOG_LEVEL=warn bot_start
deadline=$((SECONDS + 120))
# Poll with one long-lived sqlite3 (a process per poll would cost the
# machine more than the poll is worth): a query, then a sentinel line.
while [ ! -s "$db" ] && [ "$SECONDS" -lt "$deadline" ]; do b_sleep 0.005; done
coproc SQ { exec sqlite3 -batch "$db" 2>/dev/null; }
b_track "$SQ_PID"
done_n=0
while [ "$SECONDS" -lt "$deadline" ]; do
	printf ".timeout 1000\nSELECT count(*) FROM updates;\nSELECT 'end';\n" >&"${SQ[1]}"
	while read -r line <&"${SQ[0]}" && [ "$line" != end ]; do done_n=$line; done
	[ "$done_n" -lt "$n" ] || break
	b_sleep 0.005
done
t1=$(b_now)
[ "$done_n" -ge "$n" ] || b_fail "only $done_n of $n updates recorded before the deadline"
bot_cpu=$(b_cpu "$BOT_PID")
sim_cpu=$(b_cpu "$SIM_PID")
outbox=$(sqlite3 "$db" 'SELECT count(*) FROM outbox')
sent=$(sqlite3 "$db" "SELECT count(*) FROM outbox WHERE state = 'SENT'")
sim_stop
window=$(b_calc "$t1 - $t0")
rate=$(b_calc "$n / $window")
b_log "greetbot-tg: $n updates in ${window}s = $rate/s, bot cpu ${bot_cpu}s, tgsim cpu ${sim_cpu}s ($outbox replies queued, $sent sent meanwhile)"

# --- baseline: tgsim and curl -------------------------------------------
SIM_DIR=$B/baseline
mkdir -p "$SIM_DIR"
sim_start
inject
b_log "baseline: draining $n updates with curl, limit $batch"
api=http://$SIM_ADDR/bot$SIM_TOKEN/getUpdates
offset=0
got=0
t0=$(b_now)
while [ "$got" -lt "$n" ] && [ "$SECONDS" -lt "$deadline" ]; do
	resp=$(curl -fsS "$api?offset=$offset&limit=$batch&timeout=0")
	# The batch's first and (greedy match) last update_id; ids are
	# consecutive.
	[[ $resp =~ \"update_id\":([0-9]+) ]] || b_fail "getUpdates answered no update"
	first=${BASH_REMATCH[1]}
	[[ $resp =~ .*\"update_id\":([0-9]+) ]]
	offset=$((BASH_REMATCH[1] + 1))
	got=$((got + offset - first))
done
t1=$(b_now)
[ "$got" -ge "$n" ] || b_fail "baseline: only $got of $n updates served before the deadline"
sim_stop
bwindow=$(b_calc "$t1 - $t0")
baseline_rate=$(b_calc "$n / $bwindow")
b_log "baseline: $n updates in ${bwindow}s = $baseline_rate/s"

# --- the same over one kept-alive connection -----------------------------
# As the bot does it: one curl, sequential requests on one connection, the
# offsets known in advance (update ids are consecutive), then one request
# that confirms the last batch.
SIM_DIR=$B/keepalive
mkdir -p "$SIM_DIR"
sim_start
inject
api=http://$SIM_ADDR/bot$SIM_TOKEN/getUpdates
resp=$(curl -fsS "$api?limit=1&timeout=0")
[[ $resp =~ \"update_id\":([0-9]+) ]] || b_fail "getUpdates answered no update"
first=${BASH_REMATCH[1]}
cfg=$SIM_DIR/keepalive.curl
for ((o = first; o <= first + n; o += batch)); do
	printf 'url = "%s"\nheader = "Content-Type: application/json"\n' "$api"
	printf 'data = "{\\"offset\\":%d,\\"limit\\":%d,\\"timeout\\":0}"\n' "$o" "$batch"
	printf 'output = "/dev/null"\nnext\n'
done >"$cfg"
t0=$(b_now)
b_curl_batch "$cfg"
t1=$(b_now)
left=$(b_stats | jq '.updates.pending')
[ "$left" -eq 0 ] || b_fail "keep-alive baseline: $left updates left"
sim_stop
kwindow=$(b_calc "$t1 - $t0")
keepalive_rate=$(b_calc "$n / $kwindow")
b_log "keep-alive: $n updates in ${kwindow}s = $keepalive_rate/s"

printf '{"bench":"updates","updates":%d,"rate":%s,"baseline_rate":%s,"ratio":%s,"keepalive_rate":%s,"window_s":%s,"baseline_window_s":%s,"bot_cpu_s":%s,"batch":%d,"chats":%d}\n' \
	"$n" "$rate" "$baseline_rate" "$(b_calc "$rate / $baseline_rate")" "$keepalive_rate" \
	"$window" "$bwindow" "$bot_cpu" "$batch" "$chats"

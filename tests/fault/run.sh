#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# tests/fault/run.sh (make fault): nothing is lost under fire.
#
# FAULT_ORDERS parents (default 1000) order over FAULT_NAMES distinct names
# (default 200) through tgsim, each through the whole conversation (/start,
# own contact, the name, Confirm on the voice preview, then the sendVideo),
# played by bench/lib/parents.c (built here), FAULT_CONCURRENCY at a time.
# The names are Latin and the template en-birthday: real espeak-ng + ffmpeg
# renders by scripts/render.sh, at a FAULT_FRAME of 640x360 by default (a
# copy of the template with width, height and the text sizes scaled: a
# quarter of the area, a quarter of the per-name cost; "shipped" renders
# the template as it is). greetbotd runs against a redis-server started
# here on a unix socket (AOF on, so a kill keeps its data, as a supervised
# Redis would).
#
# Meanwhile, at seeded random moments (FAULT_SEED, printed; the same seed
# gives the same plan), one at a time:
# - greetbotd is SIGKILLed; then the harness does what a supervisor with
#   the service's process tree (a cgroup) does: it waits for what is left
#   of the tree (greetbot-tg and the renderers get their parent-death
#   signals; the bot finishes its calls in flight), kills what is still
#   there after 10 s, and starts greetbotd again (gb_start: back once it
#   reports ready);
# - greetbot-tg is SIGKILLed (greetbotd restarts it itself);
# - a render.sh process group greetbotd forked is SIGKILLed (the attempt
#   fails with signal 9 and is retried);
# - redis-server is SIGKILLed and started again on its data; and once
#   (FAULT_EMPTY_REDIS) it comes back EMPTY (its AOF deleted): greetbotd
#   must find the stream gone and republish every unfinished job.
# A moment is a point of progress: (requests created + requests completed)
# / (2 x orders) crossing a seeded threshold in 0.05..0.9, then a seeded
# delay under a second; a renderer kill waits (up to 30 s) for a render to
# run, a greetbot-tg kill for the bot to run; one that finds none is
# skipped. Counts per kind: FAULT_KILLS (default 20) split over the four,
# or FAULT_KILL_GREETBOTD, FAULT_KILL_BOT, FAULT_KILL_RENDERER,
# FAULT_KILL_REDIS. max_attempts is set above what the kills can use up:
# a render killed every time is the injection, not a failure to deliver.
#
# Then, once everything settles (the driver is done or progress stalled
# for FAULT_STALL s; then a poll of the database until no request, job or
# outbox row is pending, at most FAULT_SETTLE s), it checks what the
# parents saw and what SQLite says:
# - lost: parents without a COMPLETED request or without a sendVideo in
#   their chat (a job lost between SQLite and Redis, an outbox row never
#   sent, a conversation broken by a restart);
# - duplicates: sendVideo entries in a chat beyond its requests (tgsim's
#   /control/chat), i.e. a video sent twice for one request (two video
#   rows for a request, a send repeated after a restart), less those
#   resent_in_flight: right after each SIGKILL of greetbot-tg (greetbotd
#   held with SIGSTOP meanwhile, so that no new bot runs) the chats whose
#   sendVideo tgsim already logged while the request is still PENDING in
#   SQLite: the bot died between the send and its answer, and the row goes
#   again after the restart (sends are at-least-once, ARCHITECTURE.md:
#   Telegram gives no way to ask whether a send arrived). A bot stopped
#   with SIGTERM (greetbotd killed) finishes its calls first, so nothing
#   excuses a repeat then;
# - wrong_videos: a sendVideo whose caption does not name the chat's name;
# - renders: attempts with status ok; extra_renders: renders beyond one per
#   distinct name (an asset rendered twice); killed_attempts: attempts that
#   did not end ok (each should be a kill: the bound is renders <= names +
#   killed_attempts, and killed_attempts <= renderer kills + (workers + 1) x
#   greetbotd kills: a speculative render being stopped for a confirmed
#   one still runs beside it; failed_attempts counts the rest: none
#   expected);
#   preempted: speculative renders stopped for a confirmed job (no kill,
#   left out of both).
# - sanitizer_reports: logs with an ASan/UBSan report (BUILD=build-asan).
# One JSON line on stdout: {"orders","kills","lost","duplicates",
# "extra_renders","seconds",...}; progress on stderr. Exit 1 when lost,
# duplicates, wrong_videos or sanitizer_reports is not 0 (the temp dir is
# then kept and named on stderr), 2 on a setup error.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# The JSON line is the only thing on stdout.
trap 't_cleanup >&2' EXIT

orders=${FAULT_ORDERS:-1000}
names=${FAULT_NAMES:-200}
seed=${FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
kills=${FAULT_KILLS:-20}
k_gbd=${FAULT_KILL_GREETBOTD:-$(((kills + 3) / 4))}
k_bot=${FAULT_KILL_BOT:-$(((kills + 2) / 4))}
k_ren=${FAULT_KILL_RENDERER:-$(((kills + 1) / 4))}
k_red=${FAULT_KILL_REDIS:-$((kills / 4))}
k_empty=${FAULT_EMPTY_REDIS:-1}
conc=${FAULT_CONCURRENCY:-100}
stall=${FAULT_STALL:-240}
settle=${FAULT_SETTLE:-120}
frame=${FAULT_FRAME:-640x360}
base_chat=7000000
workers=2

f_log() { printf 'fault: %s\n' "$*" >&2; }
f_fatal() {
	f_log "$*"
	GREETBOT_KEEP=1
	exit 2
}
[ "$names" -ge 1 ] && [ "$names" -le "$orders" ] || f_fatal "need 1 <= FAULT_NAMES <= FAULT_ORDERS"
f_log "seed $seed (FAULT_SEED=$seed plays the same plan): $orders orders, $names names;" \
	"kills: greetbotd $k_gbd, greetbot-tg $k_bot, renderer $k_ren, redis $k_red + $k_empty empty"

if [ "$frame" != shipped ]; then
	[[ $frame =~ ^([0-9]+)x([0-9]+)$ ]] || f_fatal "FAULT_FRAME is WIDTHxHEIGHT or shipped"
	mkdir -p "$T/templates"
	cp -R "$TOP/templates/en-birthday" "$T/templates/"
	awk -v w="${BASH_REMATCH[1]}" -v h="${BASH_REMATCH[2]}" '
		BEGIN { FS = OFS = " = " }
		$1 == "width" { ow = $2; $2 = w }
		$1 == "height" { $2 = h }
		{ line[NR] = $0; key[NR] = $1; val[NR] = $2 }
		END {
			for (i = 1; i <= NR; i++) {
				if (key[i] ~ /_size$/ || key[i] == "text_border_width")
					line[i] = key[i] " = " int(val[i] * w / ow + 0.5)
				print line[i]
			}
		}' "$TOP/templates/en-birthday/template.conf" >"$T/templates/en-birthday/template.conf"
	chmod -R a+rX "$T/templates"
	export GB_TEMPLATES_DIR=$T/templates
else
	export GB_TEMPLATES_DIR=$TOP/templates	# not tests/lib.sh's small copies
fi

drv=$T/parents
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$drv" "$TOP/bench/lib/parents.c" \
	-lcurl -lcjson || f_fatal "cannot build bench/lib/parents.c"

db=$T/state/greetbot.db
q() { sqlite3 -cmd '.timeout 10000' "$db" "$1"; }
now() { printf '%s' "$EPOCHREALTIME"; }
klog() { printf '%s %s\n' "$(now)" "$*" >>"$T/kills.log"; }

# --- redis-server: ours, so that it can be killed and come back ------------
redis_pid=
redis_starts=0
redis_start() {
	mkdir -p "$T/redis"
	redis-server --port 0 --unixsocket "$T/redis.sock" --unixsocketperm 700 \
		--dir "$T/redis" --save "" --appendonly yes --daemonize no \
		--maxmemory-policy noeviction >>"$T/redis.log" 2>&1 &
	redis_pid=$!
	t_track "$redis_pid"
	redis_starts=$((redis_starts + 1))
	t_wait_log "$T/redis.log" '[Rr]eady to accept connections' 30 "$redis_starts" ||
		f_fatal "redis-server did not start; see $T/redis.log"
	t_redis_service "$T/redis.sock"
}

# --- greetbotd -----------------------------------------------------------
export GREETBOT_REDIS_URL="unix:$T/redis.sock" GREETBOT_DEFAULT_TEMPLATE=en-birthday \
	GREETBOT_RATE_GLOBAL=300 GREETBOT_DRAIN_GRACE=0 GREETBOT_WORKERS=$workers \
	GREETBOT_MAX_ATTEMPTS=$((k_ren + k_gbd + 3 > 100 ? 100 : k_ren + k_gbd + 3))

# gb_start, with a watchdog: a greetbotd that never reports ready is a
# finding, not a reason to hang.
gbd_start() {
	local flag=$T/gbd.starting wd rc=0
	: >"$flag"
	(
		for _ in $(seq 240); do
			[ -e "$flag" ] || exit 0
			sleep 0.5
		done
		f_log "greetbotd not ready after 120 s: killing it"
		p=$(pgrep -P $$ -x greetbotd) && kill -KILL "$p"
	) &
	wd=$!
	gb_start || rc=$?
	rm -f "$flag"
	wait "$wd" || true
	return "$rc"
}

# The pids and render sessions below PID, and whatever a process tree
# snapshot (ps) says about them: "PID SID STAT" lines for leftovers.
tree_of() {
	ps -e -o pid=,ppid=,sid= | awk -v root="$1" -v self="$2" '
		{ pp[$1] = $2; sid[$1] = $3 }
		END {
			d[root] = 1
			for (more = 1; more;) {
				more = 0
				for (p in pp)
					if (!(p in d) && (pp[p] in d)) { d[p] = 1; more = 1 }
			}
			for (p in d)
				if (p != root) {
					printf "pid %s\n", p
					if (sid[p] != self && sid[p] != sid[root]) printf "sid %s\n", sid[p]
				}
		}'
}
leftovers() {
	ps -e -o pid=,sid=,stat= | awk 'NR == FNR { k[$1 " " $2] = 1; next }
		$3 !~ /^Z/ && (("pid " $1) in k || ("sid " $2) in k) { print $1 }' "$1" -
}

my_sid=$(ps -o sid= -p $$ | tr -d ' ')

# --- the kinds of fire -----------------------------------------------------
n_gbd=0 n_bot=0 n_ren=0 n_red=0 n_empty=0 n_skip=0

kill_greetbotd() {
	local pid=$GB_PID left deadline sigkilled=0
	# Stopped, it forks nothing while its tree is read.
	kill -STOP "$pid"
	tree_of "$pid" "$my_sid" | sort -u >"$T/tree"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	GB_PID=
	n_gbd=$((n_gbd + 1))
	klog "greetbotd $pid ($(grep -c . "$T/tree") in its tree)"
	# The supervisor: the rest of the service goes before the restart.
	# (greetbot-tg gets STOP_WAIT, 5 s, for its calls in flight.)
	deadline=$((SECONDS + 10))
	while left=$(leftovers "$T/tree") && [ -n "$left" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			klog "greetbotd leftovers killed: $(echo $left)"
			# shellcheck disable=SC2086 # a list of pids
			kill -KILL $left 2>/dev/null || true
			deadline=$((SECONDS + 10))
			sigkilled=1
		fi
		sleep 0.05
	done
	[ "$sigkilled" = 0 ] || in_flight_videos
	sleep "$1"
	gbd_start || f_fatal "greetbotd did not come back; see $T/greetbotd.log"
}

# greetbotd's children: the bot by name, the renderers as the session
# leaders among them (each render runs in a session of its own; the script
# is a snapshot, .render, run by its interpreter; its ffprobe and the
# render that builds a template's cache are sessions of their own too).
children() {
	if [ "$1" = bot ]; then
		pgrep -P "$GB_PID" -x greetbot-tg
	else
		ps -o pid=,sid= --ppid "$GB_PID" | awk '$1 == $2 { print $1; n++ } END { exit !n }'
	fi
}

# wait_child bot|renderer SECONDS: their pids, waiting up to SECONDS for one.
wait_child() {
	local deadline=$((SECONDS + $2)) p
	while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$drv_pid" 2>/dev/null; do
		if p=$(children "$1"); then
			echo "$p"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

kill_bot() {
	local pid
	if ! pid=$(wait_child bot 30); then
		n_skip=$((n_skip + 1))
		klog "greetbot-tg: none running, skipped"
		return 0
	fi
	# greetbotd stopped meanwhile: it restarts no bot before the count.
	kill -STOP "$GB_PID"
	kill -KILL "$pid"
	while ps -o stat= -p "$pid" | grep -q '^[^Z]'; do
		sleep 0.01
	done
	n_bot=$((n_bot + 1))
	klog "greetbot-tg $pid"
	in_flight_videos
	kill -CONT "$GB_PID"
}

# After a SIGKILL of greetbot-tg: the chats whose video Telegram (tgsim)
# already has while SQLite still has the request PENDING. The bot died
# between the send and reading its answer; the row goes again after the
# restart (at-least-once: Telegram gives no way to ask whether a send
# arrived), so one more video in each of these chats is explained.
in_flight_videos() {
	local c n=0
	for c in $(q "SELECT DISTINCT r.chat_id FROM requests r JOIN outbox o ON
		o.request_id = r.id WHERE r.state = 'PENDING' AND o.kind = 'video' AND
		o.state = 'PENDING' AND r.chat_id BETWEEN $base_chat AND
		$((base_chat + orders - 1))"); do
		if sim_wait "$c" 0 1 0 | jq -e '[.messages[] | select(.method ==
			"sendVideo")] | length > 0' >/dev/null; then
			echo "$c" >>"$T/in-flight"
			n=$((n + 1))
		fi
	done
	[ "$n" -eq 0 ] || klog "$n videos were in flight: sent again after the restart"
}

kill_renderer() {
	local pids pick
	if ! pids=$(wait_child renderer 30); then
		n_skip=$((n_skip + 1))
		klog "renderer: none running, skipped"
		return 0
	fi
	read -ra pids <<<"$(echo $pids)"
	pick=${pids[$(($1 % ${#pids[@]}))]}
	# Its own session and process group (setsid): the whole render.
	kill -KILL -- "-$pick" 2>/dev/null || true
	n_ren=$((n_ren + 1))
	klog "renderer group $pick (of ${#pids[@]})"
}

kill_redis() {
	kill -KILL "$redis_pid"
	wait "$redis_pid" 2>/dev/null || true
	n_red=$((n_red + 1))
	sleep "$1"
	if [ "$2" = empty ]; then
		rm -rf "$T/redis"
		n_empty=$((n_empty + 1))
		klog "redis-server $redis_pid; back EMPTY"
	else
		klog "redis-server $redis_pid; back with its data"
	fi
	redis_start
}

# --- the plan: "THRESHOLD KIND DELAY_MS DOWN_MS PICK", by threshold --------
awk -v seed="$seed" -v g="$k_gbd" -v b="$k_bot" -v r="$k_ren" -v x="$k_red" -v e="$k_empty" '
	function ev(kind) {
		printf "%.4f %s %d %d %d\n", 0.05 + 0.85 * rand(), kind, int(1000 * rand()),
			int(1000 * rand()), int(1000000 * rand())
	}
	BEGIN {
		srand(seed)
		for (i = 0; i < g; i++) ev("greetbotd")
		for (i = 0; i < b; i++) ev("bot")
		for (i = 0; i < r; i++) ev("renderer")
		for (i = 0; i < x; i++) ev("redis")
		for (i = 0; i < e; i++) ev("redis_empty")
	}' | sort -n >"$T/plan"
mapfile -t plan <"$T/plan"

# --- run ---------------------------------------------------------------------
sim_start
redis_start
gbd_start || f_fatal "greetbotd did not start; see $T/greetbotd.log"
t0=$(now)
deadline_s=$((600 + orders + 10 * names))
"$drv" burst "$SIM_ADDR" "$base_chat" "$orders" "$names" "$conc" "$deadline_s" \
	>"$T/burst.out" 2>"$T/parents.log" &
drv_pid=$!
t_track "$drv_pid"

# Progress in units of 1/(2 x orders); stalled once it has not moved for
# $stall seconds.
last_p=-1
moved=$SECONDS
stalled=0
progress() {
	local p
	p=$(q "SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM requests
		WHERE state = 'COMPLETED')") || p=$last_p
	if [ "$p" != "$last_p" ]; then
		last_p=$p
		moved=$SECONDS
	elif [ $((SECONDS - moved)) -ge "$stall" ]; then
		stalled=1
	fi
}

fired=0
for ev in "${plan[@]}"; do
	read -r at kind delay down pick <<<"$ev"
	target=$(awk -v a="$at" -v n="$orders" 'BEGIN { printf "%d", a * 2 * n }')
	while kill -0 "$drv_pid" 2>/dev/null; do
		progress
		[ "$last_p" -lt "$target" ] && [ "$stalled" = 0 ] || break
		sleep 0.2
	done
	kill -0 "$drv_pid" 2>/dev/null && [ "$stalled" = 0 ] || break
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	down=$(awk -v d="$down" 'BEGIN { printf "%.3f", d / 1000 }')
	f_log "at $last_p/$((2 * orders)): $kind"
	case $kind in
	greetbotd) kill_greetbotd "$down" ;;
	bot) kill_bot ;;
	renderer) kill_renderer "$pick" ;;
	redis) kill_redis "$down" data ;;
	redis_empty) kill_redis "$down" empty ;;
	esac
	fired=$((fired + 1))
done
not_fired=$((${#plan[@]} - fired))
[ "$not_fired" -eq 0 ] || f_log "$not_fired planned kills did not fire (the run ended or stalled first)"

# The parents finish (each got its video) or progress stalls.
while kill -0 "$drv_pid" 2>/dev/null; do
	progress
	if [ "$stalled" = 1 ]; then
		f_log "no progress for $stall s: stopping the parents"
		kill -TERM "$drv_pid" 2>/dev/null || true
		break
	fi
	sleep 0.5
done
wait "$drv_pid" 2>/dev/null || true
f_log "parents done: $(grep -c '^video' "$T/burst.out" || true) got a video; settling"

# Settle: nothing pending in SQLite (a poll with a deadline).
end=$((SECONDS + settle))
pending=1
while [ "$SECONDS" -lt "$end" ]; do
	pending=$(q "SELECT (SELECT count(*) FROM requests WHERE state = 'PENDING') +
		(SELECT count(*) FROM outbox WHERE state = 'PENDING') +
		(SELECT count(*) FROM jobs WHERE state NOT IN ('DONE', 'FAILED'))") || pending=1
	[ "$pending" -gt 0 ] || break
	sleep 0.5
done
[ "$pending" -eq 0 ] || f_log "still pending after $settle s: $pending rows"
seconds=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')

# --- what the parents saw, what SQLite says ---------------------------------
"$drv" count "$SIM_ADDR" "$base_chat" "$orders" "$names" >"$T/count.out" 2>>"$T/parents.log" ||
	f_fatal "cannot read the chats from tgsim"
q "SELECT chat_id, count(*), sum(state = 'COMPLETED') FROM requests WHERE chat_id BETWEEN
	$base_chat AND $((base_chat + orders - 1)) GROUP BY chat_id" | tr '|' ' ' >"$T/requests"
touch "$T/in-flight"
read -r lost duplicates resent wrong < <(awk -v first="$base_chat" -v n="$orders" '
	FILENAME ~ /in-flight$/ { flight[$1]++; next }
	FILENAME ~ /requests$/ { req[$1] = $2; done[$1] = $3; next }
	$1 == "videos" { vid[$2] = $3; wrong += $4 }
	END {
		for (c = first; c < first + n; c++) {
			if (!(done[c] > 0) || !(vid[c] > 0)) lost++
			extra = vid[c] > req[c] ? vid[c] - req[c] : 0
			ok = extra < flight[c] ? extra : flight[c]
			resent += ok
			dup += extra - ok
		}
		printf "%d %d %d %d\n", lost, dup, resent, wrong
	}' "$T/in-flight" "$T/requests" "$T/count.out")
not_completed=$(q "SELECT count(*) FROM requests WHERE state != 'COMPLETED'")
renders=$(q "SELECT count(*) FROM attempts WHERE status = 'ok'")
assets=$(q "SELECT count(*) FROM assets")
# Speculative renders stopped for a confirmed job (preempted) are no kill.
preempted=$(q "SELECT count(*) FROM attempts WHERE status = 'preempted'")
killed_attempts=$(q "SELECT count(*) FROM attempts WHERE status NOT IN ('ok', 'preempted')")
failed_attempts=$(q "SELECT count(*) FROM attempts WHERE status NOT IN ('ok', 'preempted')
	AND NOT (status = 'interrupted' OR (status = 'limit' AND signal = 9) OR (status = 'limit'
	AND exit_code = 137))")
extra=$((renders > names ? renders - names : 0))
kills_total=$((n_gbd + n_bot + n_ren + n_red))
bound_ok=true
[ "$renders" -le $((names + killed_attempts)) ] &&
	[ "$killed_attempts" -le $((n_ren + (workers + 1) * n_gbd)) ] || bound_ok=false
# Stopped now (greetbotd drains), so that a sanitizer build's exit reports
# are in the logs: any is a failure too (make asan).
sim_stop
sanitizer=$(grep -lE 'Sanitizer|runtime error:' "$T"/*.log | wc -l || true)

printf '{"orders":%d,"kills":%d,"lost":%d,"duplicates":%d,"extra_renders":%d,"seconds":%s,"seed":%d,"names":%d,"assets":%d,"renders":%d,"killed_attempts":%d,"preempted":%d,"failed_attempts":%d,"renders_bound_ok":%s,"wrong_videos":%d,"resent_in_flight":%d,"not_completed":%d,"kills_greetbotd":%d,"kills_bot":%d,"kills_renderer":%d,"kills_redis":%d,"redis_emptied":%d,"skipped":%d,"not_fired":%d,"sanitizer_reports":%d}\n' \
	"$orders" "$kills_total" "$lost" "$duplicates" "$extra" "$seconds" "$seed" "$names" \
	"$assets" "$renders" "$killed_attempts" "$preempted" "$failed_attempts" "$bound_ok" "$wrong" \
	"$resent" "$not_completed" "$n_gbd" "$n_bot" "$n_ren" "$n_red" "$n_empty" "$n_skip" "$not_fired" "$sanitizer"
if [ "$lost" -ne 0 ] || [ "$duplicates" -ne 0 ] || [ "$wrong" -ne 0 ] || [ "$sanitizer" -ne 0 ]; then
	# shellcheck disable=SC2034 # read by tests/lib.sh's t_cleanup
	GREETBOT_KEEP=1
	f_log "FAILED: lost $lost, duplicates $duplicates, wrong videos $wrong," \
		"sanitizer reports in $sanitizer logs; logs in $T" \
		"(kills.log, greetbotd.log, parents.log, burst.out, count.out)"
	exit 1
fi

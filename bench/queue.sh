#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# bench/queue.sh: jobs per second through greetbotd's whole job path with
# no-op renders, against the bare cost of running the same script.
#
# A template in a temp dir whose render script only copies a tiny valid MP4
# (made once here with ffmpeg lavfi) to $GREETBOT_OUTPUT. N assets + jobs
# rows (QUEUED, published_at NULL) are inserted into SQLite in one
# transaction while greetbotd runs with GREETBOT_WORKERS=2 against tgsim;
# each job then goes relay -> Redis stream -> claim -> fork/exec with
# rlimits -> outcome committed -> XACK, with render_validate = 0 (no
# ffprobe: the issue's "validation off for the benchmark"). rate is N
# over the time from the first job published (the relay looks once a
# second or when the bot pokes it, so the wait for the first tick is left
# out and reported as relay_wait_s) to the last job DONE, both read from
# greetbotd's own log lines (their ts= has milliseconds: "job state ...
# cause=published", "... to=DONE"). The harness only looks every 100 ms
# whether all are DONE: a poll every few milliseconds (as it did) took a
# fifth of the machine's CPU from the path it measured, and nothing from
# the raw runs beside it.
# raw_rate, same run: the same script with greetbotd's environment run N
# times, 2 at a time, by a small C program (fork + execve + waitpid; no
# rlimits, no user switch); raw_probe_rate adds the ffprobe greetbotd runs
# on each output when validation is on, to show what validation costs.
# supervisor_rss_kb is greetbotd's VmHWM at the end (the privileged parent:
# it spawns the renders), jobs_rss_kb its jobs process's (the database,
# Redis, the runner); supervisor_cpu_s is both's CPU time.
# remote_rate, same run: the same N jobs with a fresh greetbotd that renders
# nothing (render_enabled = 0) and a render node without a database on the
# same machine, sharing only greetbotd's Redis: each outcome and its MP4 go
# back through Redis (<prefix>:results) and are committed by greetbotd.
# remote_ratio = remote_rate / rate: what the trip through Redis costs.
# Targets: ratio = rate/raw_rate >= 0.8 (the median of BENCH_ROUNDS rounds,
# each a raw run and a greetbotd run back to back), supervisor_rss_kb <=
# 8192 (and jobs_rss_kb). Knobs: BENCH_JOBS (150), BENCH_ROUNDS (3), BENCH_REMOTE (1; 0 leaves
# out remote_rate) and BENCH_PROBE (1; 0 leaves out raw_probe_rate, which at
# 25 ffprobes a second takes 40 s of 1,000 jobs): both null then.
. "$(dirname "$0")/lib/common.sh"

n=${BENCH_JOBS:-150}
rounds=${BENCH_ROUNDS:-3}
workers=2

# The no-op template: template.conf, the tiny MP4, the script.
tdir=$B/templates/bench
mkdir -p "$tdir"
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i color=c=navy:s=64x64:r=10:d=2 \
	-f lavfi -i sine=d=2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac \
	-shortest "$tdir/tiny.mp4"
printf 'language = en\nmin_duration = 1\nmax_duration = 10\n' >"$tdir/template.conf"
script=$B/copy-render.sh
printf '#!/bin/sh\nexec cp "$GREETBOT_TEMPLATE_DIR/tiny.mp4" "$GREETBOT_OUTPUT"\n' >"$script"
chmod 755 "$script"
chmod -R a+rX "$B/templates"

# jobs_state: "published done bad" from the long-lived sqlite3.
jobs_state() {
	local line out=''
	printf '%s\n' ".timeout 2000" "SELECT sum(published_at IS NOT NULL) || ' ' || \
sum(state = 'DONE') || ' ' || sum(state IN ('FAILED', 'RETRY_WAIT')) FROM jobs;" \
		"SELECT 'end';" >&"${SQ[1]}"
	while read -r line <&"${SQ[0]}" && [ "$line" != end ]; do out=$line; done
	printf '%s' "$out"
}

# log_time LOG REGEX head|tail: the ts= of the first (head) or last (tail)
# line matching REGEX, as seconds since the epoch with milliseconds.
log_time() {
	local ts
	ts=$(grep -E -- "$2" "$1" | "$3" -n 1 | sed -n 's/^ts=\([^ ]*\)Z .*/\1/p')
	[ -n "$ts" ] || return 0
	date -u -d "${ts/T/ } UTC" +%s.%3N
}

# run_path local|remote: start greetbotd on a fresh state dir (remote: it
# renders nothing and a render node without a database, sharing only its
# Redis, renders and returns results through Redis), insert N jobs, time
# them to DONE. Sets rate, window, relay_wait, rss, gb_cpu.
run_path() {
	local path=$1 run=$1-${2:-1} state db version t_ins t_pub t_done ok bad deadline okays
	state=$B/state-$run
	GB_NAME=greetbotd-$run GB_STATE=$state GREETBOT_WORKERS=$workers \
		GREETBOT_RENDER_ENABLED=$([ "$path" = local ] && echo 1 || echo 0) \
		GREETBOT_DEFAULT_TEMPLATE=bench GB_TEMPLATES_DIR=$B/templates \
		GREETBOT_RENDER_VALIDATE=0 GB_RENDER_SCRIPT=$script gb_start
	db=$state/greetbot.db
	version=bench
	if [ "$path" = remote ]; then
		# The render node takes only jobs of its own template version.
		version=$(sed -n 's/.*msg=started .*version=\([0-9a-f]*\).*/\1/p' \
			"$B/greetbotd-$run.log" | tail -1)
		local ready=$B/node.ready line
		rm -f "$ready"
		mkfifo "$ready"
		# Its own render uids (as root): one block per greetbotd on a machine.
		# greetbotd's service user (render_uid_base - 1): its jobs process
		# reaches greetbotd's private Redis.
		local base=${GREETBOT_RENDER_UID_BASE:-65600}
		GREETBOT_SERVICE_USER=$((base - 1)) GREETBOT_RENDER_UID_BASE=$((base + 300)) \
			GREETBOT_BOT_ENABLED=0 GREETBOT_DB_PATH='' GREETBOT_NODE_NAME=render-node \
			GREETBOT_REDIS_URL="unix:$state/redis/redis.sock" GREETBOT_STATE_DIR=$B/node \
			GREETBOT_WORKERS=$workers GREETBOT_DEFAULT_TEMPLATE=bench \
			GREETBOT_TEMPLATES_DIR=$B/templates GREETBOT_RENDER_SCRIPT=$script \
			GREETBOT_RENDER_VALIDATE=0 GREETBOT_MESSAGES_DIR="$TOP/messages" \
			GREETBOT_HTTP_LISTEN=127.0.0.1:0 \
			"$BIN/greetbotd" --ready-fd 3 3>"$ready" 2>>"$B/node.log" &
		node_pid=$!
		b_track "$node_pid"
		read -r line <"$ready" || true
		[ "${line%% *}" = ready ] || b_fail "the render node did not start; see $B/node.log"
	fi
	coproc SQ { exec sqlite3 -batch "$db" 2>/dev/null; }
	b_track "$SQ_PID"
	b_log "$path: inserting $n jobs; $workers workers"
	t_ins=$(b_now)
	sqlite3 -cmd '.timeout 5000' "$db" "BEGIN;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
INSERT INTO assets (bot_id, template_id, template_version, name_key, display_name,
	state, created_at, updated_at)
	SELECT 'main', 'bench', '$version', 'bench' || i, 'Bench ' || i, 'PENDING',
	unixepoch(), unixepoch() FROM k;
INSERT INTO jobs (asset_id, state, created_at, updated_at)
	SELECT id, 'QUEUED', unixepoch(), unixepoch() FROM assets WHERE template_id = 'bench';
COMMIT;"
	deadline=$((SECONDS + 60 + n))
	t_done=''
	while [ "$SECONDS" -lt "$deadline" ]; do
		read -r _ ok bad <<<"$(jobs_state)"
		[ "${bad:-0}" -eq 0 ] || b_fail "$bad jobs failed; see the logs and the attempts table"
		if [ "${ok:-0}" -ge "$n" ]; then
			t_done=1
			break
		fi
		b_sleep 0.1
	done
	[ -n "$t_done" ] || b_fail "$path: only ${ok:-0} of $n jobs DONE before the deadline"
	rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$GB_PID/status")
	jobs_pid=$(pgrep -P "$GB_PID" -x greetbotd-jobs) || b_fail "$path: no jobs process"
	jrss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$jobs_pid/status")
	gb_cpu=$(b_calc "$(b_cpu "$GB_PID") + $(b_cpu "$jobs_pid")")
	okays=$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'")
	[ "$okays" -eq "$n" ] || b_fail "$path: $okays ok attempts for $n jobs"
	kill "$SQ_PID" 2>/dev/null || true
	wait "$SQ_PID" 2>/dev/null || true
	kill -TERM "$GB_PID"
	wait "$GB_PID" || true
	GB_PID=
	if [ "$path" = remote ]; then
		kill -TERM "$node_pid"
		wait "$node_pid" || true
	fi
	# The first publish and the last DONE, by greetbotd's clock.
	t_pub=$(log_time "$B/greetbotd-$run.log" 'msg="job state" .*cause=published' head)
	t_done=$(log_time "$B/greetbotd-$run.log" 'msg="job state" .*to=DONE' tail)
	if [ -z "$t_pub" ] || [ -z "$t_done" ]; then
		b_fail "$path: no publish or DONE line in the log"
	fi
	window=$(b_calc "$t_done - $t_pub")
	rate=$(b_calc "$n / $window")
	relay_wait=$(b_calc "$t_pub - $t_ins")
	b_log "$path: $n jobs in ${window}s = $rate/s (relay wait ${relay_wait}s, greetbotd cpu ${gb_cpu}s, VmHWM ${rss} kB, its jobs process's ${jrss} kB)"
}

# --- raw fork + execve + waitpid ---------------------------------------------
lanes=$B/lanes
cc -O2 -o "$lanes" "$TOP/bench/lib/lanes.c"

# raw_run DIR PROBE: the raw rate of N runs, 2 at a time.
raw_run() {
	local s
	mkdir -p "$1"
	s=$("$lanes" "$script" "$n" "$workers" "$1" "$tdir" "$2")
	b_calc "$n / $s"
}

# Rounds of raw then local, each pair side by side in time: this machine's
# speed drifts (a shared host, its disk), so a ratio is taken per round and
# the median reported, with every round's in "ratios".
sim_start
ratios=() rates=() raws=() cpus=() rsss=() jrsss=() windows=() waits=()
for r in $(seq 1 "$rounds"); do
	raws+=("$(raw_run "$B/raw-$r" 0)")
	run_path local "$r"
	rates+=("$rate") cpus+=("$gb_cpu") rsss+=("$rss") jrsss+=("$jrss") windows+=("$window")
	waits+=("$relay_wait")
	ratios+=("$(b_calc "$rate / ${raws[-1]}")")
	b_log "round $r: raw ${raws[-1]}/s, greetbotd $rate/s: ratio ${ratios[-1]}"
done
r_rate=null r_ratio=null probe_rate=null probe_ratio=null
ratio=$(b_median "${ratios[@]}")
rate=$(b_median "${rates[@]}")
raw_rate=$(b_median "${raws[@]}")
if [ "${BENCH_REMOTE:-1}" != 0 ]; then
	run_path remote
	r_rate=$rate
	rate=$(b_median "${rates[@]}")
	r_ratio=$(b_calc "$r_rate / $rate")
fi
sim_stop
if [ "${BENCH_PROBE:-1}" != 0 ]; then
	probe_rate=$(raw_run "$B/raw-probe" 1)
	b_log "raw with ffprobe: $probe_rate/s"
	probe_ratio=$(b_calc "$rate / $probe_rate")
fi

printf '{"bench":"queue","jobs":%d,"workers":%d,"rounds":%d,"rate":%s,"raw_rate":%s,"ratio":%s,"ratios":[%s],"supervisor_rss_kb":%d,"jobs_rss_kb":%d,"raw_probe_rate":%s,"ratio_probe":%s,"window_s":%s,"relay_wait_s":%s,"supervisor_cpu_s":%s,"remote_rate":%s,"remote_ratio":%s}\n' \
	"$n" "$workers" "$rounds" "$rate" "$raw_rate" "$ratio" "$(IFS=,; echo "${ratios[*]}")" \
	"$(b_median "${rsss[@]}")" "$(b_median "${jrsss[@]}")" "$probe_rate" "$probe_ratio" \
	"$(b_median "${windows[@]}")" "$(b_median "${waits[@]}")" "$(b_median "${cpus[@]}")" \
	"$r_rate" "$r_ratio"

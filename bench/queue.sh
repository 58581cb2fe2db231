#!/usr/bin/env bash
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
# out and reported as relay_wait_s) to the last job DONE, polled every 5 ms
# with one sqlite3.
# raw_rate, same run: the same script with greetbotd's environment run N
# times, 2 at a time, by a small C program (fork + execve + waitpid; no
# rlimits, no user switch); raw_probe_rate adds the ffprobe greetbotd runs
# on each output when validation is on, to show what validation costs.
# supervisor_rss_kb is greetbotd's VmHWM at the end.
# remote_rate, same run: the same N jobs with a fresh greetbotd that renders
# nothing (render_enabled = 0) and a render node without a database on the
# same machine, sharing only greetbotd's Redis: each outcome and its MP4 go
# back through Redis (<prefix>:results) and are committed by greetbotd.
# remote_ratio = remote_rate / rate: what the trip through Redis costs.
# Targets: ratio = rate/raw_rate >= 0.8, supervisor_rss_kb <= 8192.
# Knob: BENCH_JOBS (150).
. "$(dirname "$0")/lib/common.sh"

n=${BENCH_JOBS:-150}
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

# run_path local|remote: start greetbotd on a fresh state dir (remote: it
# renders nothing and a render node without a database, sharing only its
# Redis, renders and returns results through Redis), insert N jobs, time
# them to DONE. Sets rate, window, relay_wait, rss, gb_cpu.
run_path() {
	local path=$1 state=$B/state-$1 db version t_ins t_pub t_done t pub ok bad deadline okays
	GB_NAME=greetbotd-$path GB_STATE=$state GREETBOT_WORKERS=$workers \
		GREETBOT_RENDER_ENABLED=$([ "$path" = local ] && echo 1 || echo 0) \
		GREETBOT_DEFAULT_TEMPLATE=bench GB_TEMPLATES_DIR=$B/templates \
		GREETBOT_RENDER_VALIDATE=0 GB_RENDER_SCRIPT=$script gb_start
	db=$state/greetbot.db
	version=bench
	if [ "$path" = remote ]; then
		# The render node takes only jobs of its own template version.
		version=$(sed -n 's/.*msg=started .*version=\([0-9a-f]*\).*/\1/p' \
			"$B/greetbotd-$path.log" | tail -1)
		local ready=$B/node.ready line
		rm -f "$ready"
		mkfifo "$ready"
		GREETBOT_BOT_ENABLED=0 GREETBOT_DB_PATH='' GREETBOT_NODE_NAME=render-node \
			GREETBOT_REDIS_URL="unix:$state/redis.sock" GREETBOT_STATE_DIR=$B/node \
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
	t_pub=''
	t_done=''
	while [ "$SECONDS" -lt "$deadline" ]; do
		read -r pub ok bad <<<"$(jobs_state)"
		t=$(b_now)
		[ -n "$t_pub" ] || [ "${pub:-0}" -eq 0 ] || t_pub=$t
		[ "${bad:-0}" -eq 0 ] || b_fail "$bad jobs failed; see the logs and the attempts table"
		if [ "${ok:-0}" -ge "$n" ]; then
			t_done=$t
			break
		fi
		b_sleep 0.005
	done
	[ -n "$t_done" ] || b_fail "$path: only ${ok:-0} of $n jobs DONE before the deadline"
	rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$GB_PID/status")
	gb_cpu=$(b_cpu "$GB_PID")
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
	window=$(b_calc "$t_done - $t_pub")
	rate=$(b_calc "$n / $window")
	relay_wait=$(b_calc "$t_pub - $t_ins")
	b_log "$path: $n jobs in ${window}s = $rate/s (relay wait ${relay_wait}s, greetbotd cpu ${gb_cpu}s, VmHWM ${rss} kB)"
}

sim_start
run_path local
l_rate=$rate l_window=$window l_wait=$relay_wait l_rss=$rss l_cpu=$gb_cpu
run_path remote
r_rate=$rate
rate=$l_rate window=$l_window rss=$l_rss gb_cpu=$l_cpu
sim_stop

# --- raw fork + execve + waitpid ---------------------------------------------
lanes=$B/lanes
cc -O2 -o "$lanes" "$TOP/bench/lib/lanes.c"
mkdir -p "$B/raw" "$B/raw-probe"
raw_s=$("$lanes" "$script" "$n" "$workers" "$B/raw" "$tdir" 0)
raw_rate=$(b_calc "$n / $raw_s")
probe_s=$("$lanes" "$script" "$n" "$workers" "$B/raw-probe" "$tdir" 1)
probe_rate=$(b_calc "$n / $probe_s")
b_log "raw: $raw_rate/s; raw with ffprobe: $probe_rate/s"

printf '{"bench":"queue","jobs":%d,"workers":%d,"rate":%s,"raw_rate":%s,"ratio":%s,"supervisor_rss_kb":%d,"raw_probe_rate":%s,"ratio_probe":%s,"window_s":%s,"relay_wait_s":%s,"supervisor_cpu_s":%s,"remote_rate":%s,"remote_ratio":%s}\n' \
	"$n" "$workers" "$rate" "$raw_rate" "$(b_calc "$rate / $raw_rate")" "$rss" \
	"$probe_rate" "$(b_calc "$rate / $probe_rate")" "$window" "$l_wait" \
	"$gb_cpu" "$r_rate" "$(b_calc "$r_rate / $rate")"

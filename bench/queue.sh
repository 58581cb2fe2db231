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

# --- greetbotd ---------------------------------------------------------------
sim_start
GREETBOT_WORKERS=$workers GREETBOT_DEFAULT_TEMPLATE=bench GB_TEMPLATES_DIR=$B/templates \
	GREETBOT_RENDER_VALIDATE=0 GB_RENDER_SCRIPT=$script gb_start
db=$B/state/greetbot.db
coproc SQ { exec sqlite3 -batch "$db" 2>/dev/null; }
b_track "$SQ_PID"

# jobs_state: "published done bad" from the long-lived sqlite3.
jobs_state() {
	local line out=''
	printf '%s\n' ".timeout 2000" "SELECT sum(published_at IS NOT NULL) || ' ' || \
sum(state = 'DONE') || ' ' || sum(state IN ('FAILED', 'RETRY_WAIT')) FROM jobs;" \
		"SELECT 'end';" >&"${SQ[1]}"
	while read -r line <&"${SQ[0]}" && [ "$line" != end ]; do out=$line; done
	printf '%s' "$out"
}

b_log "inserting $n jobs; greetbotd runs $workers workers"
t_ins=$(b_now)
sqlite3 -cmd '.timeout 5000' "$db" "BEGIN;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
INSERT INTO assets (bot_id, template_id, template_version, name_key, display_name,
	state, created_at, updated_at)
	SELECT 'main', 'bench', 'bench', 'bench' || i, 'Bench ' || i, 'PENDING',
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
	[ "${bad:-0}" -eq 0 ] || b_fail "$bad jobs failed; see greetbotd.log and the attempts table"
	if [ "${ok:-0}" -ge "$n" ]; then
		t_done=$t
		break
	fi
	b_sleep 0.005
done
[ -n "$t_done" ] || b_fail "only ${ok:-0} of $n jobs DONE before the deadline"
rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$GB_PID/status")
gb_cpu=$(b_cpu "$GB_PID")
okays=$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'")
[ "$okays" -eq "$n" ] || b_fail "$okays ok attempts for $n jobs"
sim_stop
window=$(b_calc "$t_done - $t_pub")
rate=$(b_calc "$n / $window")
b_log "greetbotd: $n jobs in ${window}s = $rate/s (relay wait $(b_calc "$t_pub - $t_ins")s, greetbotd cpu ${gb_cpu}s, VmHWM ${rss} kB)"

# --- raw fork + execve + waitpid ---------------------------------------------
lanes=$B/lanes
cc -O2 -o "$lanes" "$TOP/bench/lib/lanes.c"
mkdir -p "$B/raw" "$B/raw-probe"
raw_s=$("$lanes" "$script" "$n" "$workers" "$B/raw" "$tdir" 0)
raw_rate=$(b_calc "$n / $raw_s")
probe_s=$("$lanes" "$script" "$n" "$workers" "$B/raw-probe" "$tdir" 1)
probe_rate=$(b_calc "$n / $probe_s")
b_log "raw: $raw_rate/s; raw with ffprobe: $probe_rate/s"

printf '{"bench":"queue","jobs":%d,"workers":%d,"rate":%s,"raw_rate":%s,"ratio":%s,"supervisor_rss_kb":%d,"raw_probe_rate":%s,"ratio_probe":%s,"window_s":%s,"relay_wait_s":%s,"supervisor_cpu_s":%s}\n' \
	"$n" "$workers" "$rate" "$raw_rate" "$(b_calc "$rate / $raw_rate")" "$rss" \
	"$probe_rate" "$(b_calc "$rate / $probe_rate")" "$window" "$(b_calc "$t_pub - $t_ins")" \
	"$gb_cpu"

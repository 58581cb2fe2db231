#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Hostile render scripts: each is contained by the rlimits, the timeout and
# the process-group kill, classified and recorded; greetbotd stays
# responsive and no process is left behind.
# run: alone
. "$(dirname "$0")/../lib.sh"

export GREETBOT_MAX_ATTEMPTS=1 GREETBOT_RENDER_TIMEOUT=8 GREETBOT_RENDER_GRACE=1 \
	GREETBOT_RENDER_CPU=2 GREETBOT_RENDER_MEMORY_MB=256 GREETBOT_RENDER_FSIZE_MB=8 \
	GREETBOT_RENDER_NPROC=64
sim_start
GB_RENDER_SCRIPT=$TOP/tests/scripts/hostile-render.sh gb_start
db=$T/state/greetbot.db
# The fork bomb goes last, alone, so that the others' outcomes do not
# depend on the CPU it takes (each worker slot has its own uid, so its
# RLIMIT_NPROC starves no other render: tests/t/0320 shows that).
names=(Loop Sleeper Stubborn Hog Filler Orphan Noisy)

i=0
for n in "${names[@]}"; do
	i=$((i + 1))
	(parent_failed $((7000 + i)) "$n" >"$T/notice.$n" 2>&1) &
	t_track $!
done
# While the hostile scripts run, greetbotd answers.
t_wait_log "$T/greetbotd.log" 'msg="render started"' 60
t_check "/health answers within 2 s while hostile renders run" \
	curl -fsS -m 2 "http://$GB_HTTP/health"
t_wait_tracked
parent_failed 7100 Bomb >"$T/notice.Bomb" 2>&1 || true
names+=(Bomb)

for n in "${names[@]}"; do
	t_check "$n: the parent is told it failed, with a retry button" \
		t_jq '.text | length > 0' <"$T/notice.$n"
done
status() {
	sqlite3 "$db" "SELECT t.status || ':' || coalesce(t.signal, 0) FROM attempts t
		JOIN assets a ON a.id = t.asset_id WHERE a.display_name = '$1'"
}
t_check "an infinite loop is stopped by RLIMIT_CPU (SIGXCPU or SIGKILL)" \
	grep -Eq '^limit:(24|9)$' <<<"$(status Loop)"
t_check "a script that never ends times out" grep -q '^timeout:' <<<"$(status Sleeper)"
t_check "one that ignores SIGTERM times out and is SIGKILLed" \
	test "$(status Stubborn)" = timeout:9
t_check "a memory hog is stopped by RLIMIT_AS (not by the timeout)" \
	grep -Eq '^(failed|crashed|limit):' <<<"$(status Hog)"
t_check "a fork bomb is contained and recorded" grep -Eq '^(invalid_output|limit|timeout):' <<<"$(status Bomb)"
t_check "a disk filler is stopped by RLIMIT_FSIZE (SIGXFSZ)" \
	grep -q 'file size limit' <<<"$(sqlite3 "$db" "SELECT status || cause FROM attempts t
		JOIN assets a ON a.id = t.asset_id WHERE a.display_name = 'Filler'")"
t_check "a script that leaves a grandchild fails" test "$(status Orphan)" = failed:0
t_check "100 MB on stderr: recorded, tail kept small" \
	test "$(sqlite3 "$db" "SELECT status || ':' || (length(stderr_tail) <= 2048) FROM attempts t
		JOIN assets a ON a.id = t.asset_id WHERE a.display_name = 'Noisy'")" = failed:1
t_check "every attempt has CPU time, RSS and duration recorded" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE duration IS NULL OR cpu_seconds IS NULL OR max_rss_kb IS NULL")" = 0
# ([s] keeps pgrep from finding the shell that runs it.)
t_check "the grandchild that escaped with setsid was killed" sh -c '! pgrep -f "[s]leep 3007"'
t_check "no process of any render is left (no sleep 1000, no bomb)" \
	sh -c "! pgrep -f '[s]leep 1000|[h]ostile-render[.]sh'"
t_check "every asset is FAILED, every request FAILED" \
	test "$(sqlite3 "$db" "SELECT group_concat(DISTINCT state) FROM assets") $(sqlite3 "$db" "SELECT group_concat(DISTINCT state) FROM requests")" = "FAILED FAILED"
t_done

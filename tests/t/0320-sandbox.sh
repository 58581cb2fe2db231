#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Renderers where a sysadmin puts greetbotd, run as root: the start-up
# check names the directory renderers cannot search and the fix (greetctl
# template check says the same; after a SIGHUP /health is 503 and no job
# is taken until it is fixed); a hostile script reaches no network, no
# database, no token and no state file, and the attempt records each
# refusal; a fork bomb in one worker slot starves no other render (each
# slot has its own uid); previews and videos work in the systemd unit's
# layout (state_dir in /var/lib, mode 0711).
# run: alone
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip "renderers change uid and network namespace only as root"
	exit 0
fi
export GREETBOT_WORKERS=2
sim_start
# The environment greetbotd gets from gb_start, for runs that must fail.
gb_env=(GREETBOT_TELEGRAM_TOKEN="$SIM_TOKEN" GREETBOT_TELEGRAM_API_URL="http://$SIM_ADDR"
	GREETBOT_TEMPLATES_DIR="$TOP/templates" GREETBOT_RENDER_SCRIPT="$TOP/scripts/render.sh"
	GREETBOT_MESSAGES_DIR="$TOP/messages" GREETBOT_HTTP_LISTEN=127.0.0.1:0)

# --- a state_dir below a directory only root may enter (mktemp -d, /root)
mkdir -m 700 "$T/locked"
rc=0
out=$(env "${gb_env[@]}" GREETBOT_STATE_DIR="$T/locked/state" \
	timeout 30 "$BIN/greetbotd" 2>&1) || rc=$?
t_check "greetbotd refuses to start (exit $rc) when renderers cannot reach state_dir" \
	test "$rc" -ne 0 -a "$rc" -ne 124
t_check "the message names the directory that stops them and its mode" \
	grep -q "cannot search $T/locked: it is mode 0700, owner root" <<<"$out"
t_check "the message says how to fix it" \
	grep -qF "chmod o+x $T/locked" <<<"$out"
t_check "it never said ready" bash -c '! grep -q msg=ready <<<"$1"' _ "$out"
rc=0
ctl=$(env "${gb_env[@]}" GREETBOT_STATE_DIR="$T/locked/state" \
	"$BIN/greetctl" template check --no-render ru-birthday 2>&1) || rc=$?
t_check "greetctl template check fails the same way (exit $rc)" test "$rc" = 1
t_check "greetctl names the same directory and fix" \
	grep -qF "error: renderers (uid $((GREETBOT_RENDER_UID_BASE + 5)), group nogroup) cannot search $T/locked" <<<"$ctl"

# --- fixed while running: after SIGHUP, no job is taken and /health is 503
mkdir -m 711 "$T/box"
GB_NAME=box GB_STATE=$T/box/state gb_start
t_check "/health is 200 while renderers can start" curl -fsS -m 5 "http://$GB_HTTP/health"
# Closed while the bot runs (it has the database open: a bot started now
# could not open it, as the service user, and says so).
t_wait_log "$T/box.log" 'proc=greetbot-tg msg=started' 60
chmod 700 "$T/box"
kill -HUP "$GB_PID"
t_check "after SIGHUP greetbotd says renderers cannot start" \
	t_wait_log "$T/box.log" 'renderers cannot start, no jobs taken' 30
code=$(curl -s -o "$T/health.json" -w '%{http_code}' -m 5 "http://$GB_HTTP/health")
t_check "/health is 503 (got $code) with the reason" \
	sh -c "[ $code = 503 ] && grep -qF 'cannot search $T/box' '$T/health.json'"
t_check "/health/render is 503 too" \
	test "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://$GB_HTTP/health/render")" = 503
parent_confirm 3201 Маша
t_check "a confirmed job is published while renderers cannot start" \
	t_wait_log "$T/box.log" 'msg="job state" job=[0-9]+ from=QUEUED to=QUEUED cause=published' 30
t_check "... but not started" sh -c "! grep -q 'msg=\"render started\"' '$T/box.log'"
chmod 711 "$T/box"
t_check "once the directory is fixed, greetbotd sees it by itself" \
	t_wait_log "$T/box.log" 'renderers can start again' 30
video=$(sim_expect 3201 '.method == "sendVideo"' 120 | jq -r '.video.path') || video=
t_check "and the waiting parent gets the video" test -s "$video"
t_check "with one attempt: none was spent while renderers could not start" \
	test "$(sqlite3 "$T/box/state/greetbot.db" "SELECT count(*) || status FROM attempts")" = 1ok
kill -TERM "$GB_PID"
wait "$GB_PID" || true
GB_PID=

# --- a hostile render script, and a fork bomb beside a normal render
printf '%s\n' "$SIM_TOKEN" >"$T/token"
chmod 600 "$T/token"
sed -e "s|@RENDER@|$(t_render_copy)|" -e "s|@LISTENER@|$SIM_ADDR|" \
	-e "s|@TOKEN@|$T/token|" "$TOP/tests/scripts/sandbox-render.sh" >"$T/sandbox-render.sh"
chmod 755 "$T/sandbox-render.sh"
export GREETBOT_MAX_ATTEMPTS=1 GREETBOT_RENDER_TIMEOUT=25 GREETBOT_RENDER_GRACE=1 \
	GREETBOT_RENDER_NPROC=64 GREETBOT_TELEGRAM_TOKEN_FILE=$T/token
GB_RENDER_SCRIPT=$T/sandbox-render.sh gb_start
db=$T/state/greetbot.db
parent_failed 3202 Spy >/dev/null
tail_of() {
	sqlite3 "$db" "SELECT t.stderr_tail FROM attempts t JOIN assets a ON
		a.id = t.asset_id WHERE a.display_name = '$1'"
}
spy=$(tail_of Spy)
t_check "the test itself can connect to the listener the script tries" \
	bash -c "exec 3<>/dev/tcp/${SIM_ADDR%:*}/${SIM_ADDR#*:}"
t_check "a renderer cannot open a TCP connection to a local listener" \
	grep -q "^refused: tcp $SIM_ADDR: Network is unreachable" <<<"$spy"
t_check "nor read the database" grep -q '^refused: database: Permission denied' <<<"$spy"
t_check "nor its WAL" grep -q '^refused: database wal:' <<<"$spy"
t_check "nor the token file" grep -q '^refused: token file: Permission denied' <<<"$spy"
t_check "nor list the state dir" grep -q '^refused: state dir listing:' <<<"$spy"
t_check "nor read state_dir/http.addr" grep -q '^refused: http.addr: Permission denied' <<<"$spy"
t_check "nor talk to the private Redis" grep -q '^refused: redis socket:' <<<"$spy"
t_check "nothing was reached" bash -c '! grep -q REACHED <<<"$1"' _ "$spy"
t_check "the attempt records the script's failure" \
	test "$(sqlite3 "$db" "SELECT t.status || ':' || t.exit_code FROM attempts t JOIN
		assets a ON a.id = t.asset_id WHERE a.display_name = 'Spy'")" = failed:3

(parent_failed 3203 Bomb >/dev/null) &
t_track $!
t_wait_log "$T/greetbotd.log" 'msg="render started"' 30 2
video=$(PARENT_WAIT=60 parent_order 3204 Маша) || video=
t_check "a render beside a fork bomb delivers its video" test -s "$video"
t_check "on its first attempt" \
	test "$(sqlite3 "$db" "SELECT count(*) || t.status FROM attempts t JOIN assets a ON
		a.id = t.asset_id WHERE a.display_name = 'Маша'")" = 1ok
t_check "while the bomb was still running" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts t JOIN assets a ON
		a.id = t.asset_id WHERE a.display_name = 'Bomb' AND t.finished_at IS NULL")" = 1
uids=$(grep -o 'render started.*uid=[0-9]*' "$T/greetbotd.log" | grep -o '[0-9]*$' |
	sort -u | tr '\n' ' ')
t_check "the two renders ran as two uids ($uids)" test "$(wc -w <<<"$uids")" -ge 2
t_wait_tracked
t_check "the bomb is contained and recorded" \
	grep -Eq '^(limit|timeout|failed|crashed):' <<<"$(sqlite3 "$db" "SELECT t.status ||
		':' FROM attempts t JOIN assets a ON a.id = t.asset_id WHERE
		a.display_name = 'Bomb'")"
kill -TERM "$GB_PID"
wait "$GB_PID" || true
GB_PID=
unset GREETBOT_TELEGRAM_TOKEN_FILE GREETBOT_MAX_ATTEMPTS GREETBOT_RENDER_NPROC

# --- the systemd unit's layout: StateDirectory=greetbot, mode 0711
vl=$(mktemp -d /var/lib/greetbot-test.XXXXXX)
trap 't_cleanup; rm -rf "$vl"' EXIT
chmod 711 "$vl"
GB_NAME=unit GB_STATE=$vl gb_start
parent_confirm 3205 Маша
t_check "in /var/lib the parent hears a voice preview" \
	t_jq '[.messages[] | select(.method == "sendVoice")] | length == 1' \
	< <(sim_wait 3205 0 1 0)
video=$(sim_expect 3205 '.method == "sendVideo"' 120 | jq -r '.video.path') || video=
t_check "and gets the video" test -s "$video"
t_check "rendered as an unprivileged slot uid" \
	grep -Eq "msg=\"render started\".* uid=$((GREETBOT_RENDER_UID_BASE + 5))( |\$)" "$T/unit.log"
t_done

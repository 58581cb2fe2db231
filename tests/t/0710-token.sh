#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The bot token is a password to the bot: it must not appear anywhere an
# operator, a log collector or another user of the machine can read, on any
# error path (0100 checks the files after an order that went well). With
# logging at debug level: tgsim answering 500, timing out and 403 on
# replies while an order is rendered and delivered; the API gone (tgsim stopped: a closed
# loopback port, a long poll cut); a token the API does not accept (401 on
# getUpdates and on sends); an API that quotes the request (the token in the
# path, raw and percent-encoded) in its error descriptions. Then the token, and its secret part after the
# colon alone (as it would look URL-encoded or cut), is in no log line, no
# greetctl output (status, users, requests, assets, attempts; tables and
# --json), no /health or /metrics body, no greetbot process's command line
# and no file under the test's directory.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

SIM_TOKEN=7012345678:AAH-s3cretPartOfTheBotToken_xyz
secret=${SIM_TOKEN#*:}
# The patterns go to grep from a file: on a command line they would be in
# /proc/*/cmdline themselves.
printf '%s\n%s\n' "$SIM_TOKEN" "$secret" >"$T/secrets"
export GREETBOT_LOG_LEVEL=debug
G=$BIN/greetctl
export GREETBOT_STATE_DIR=$T/state GREETBOT_TEMPLATES_DIR=$TOP/templates \
	GREETBOT_RENDER_SCRIPT=$TOP/scripts/render.sh GREETBOT_MESSAGES_DIR=$TOP/messages \
	GREETBOT_TELEGRAM_TOKEN=$SIM_TOKEN GREETBOT_HTTP_LISTEN=127.0.0.1:0
log=$T/greetbotd.log
mkdir "$T/out"

# clean DESC FILE...: none of the files holds the token or its secret part.
clean() {
	local desc=$1 hits
	shift
	hits=$(grep -lF -f "$T/secrets" "$@" 2>/dev/null || true)
	if [ -z "$hits" ]; then
		t_ok "$desc"
	else
		t_fail "$desc"
		grep -hF -f "$T/secrets" "$@" | t_show /dev/stdin 10
	fi
}
# seen DESC PATTERN: greetbotd's log has a line for that error path (so
# that the log checked below did go through it).
seen() { t_check "$1" t_wait_log "$log" "$2" 30; }

# --- 500, timeout, 403 ---------------------------------------------------------
sim_start --log-level debug
gb_start
sim_post fault chat_id=8001 kind=500 count=1 >/dev/null
# Until the bot gives up: curl sends a request again by itself when a
# reused connection closes without an answer.
sim_post fault chat_id=8002 kind=timeout ms=300 count=0 >/dev/null
sim_post fault chat_id=8003 kind=403 count=1 >/dev/null
for c in 8001 8002 8003; do
	sim_post message chat_id=$c text=/help language_code=en >/dev/null
done
seen "the timeout was logged as a transport error" \
	'msg="tg call failed" method=sendMessage status=0 .*transport=1'
sim_post fault chat_id=8002 kind=clear >/dev/null
export SIM_SEQ=0
video=$(parent_order 8004 "Маша") || video=""
t_check "after a 500 the reply arrives" t_jq '.messages | length == 1' < <(sim_wait 8001 0 1 30)
t_check "after a timeout the reply arrives" t_jq '.messages | length == 1' < <(sim_wait 8002 0 1 30)
t_check "an order meanwhile gets its video" test -s "$video"
seen "the 403 was logged" 'msg="tg call failed" method=sendMessage status=403'

# --- the API gone: its port closed, a long poll cut ------------------------------
n=$(grep -c 'msg="getUpdates failed"' "$log" || true)
kill -TERM "$SIM_PID"
wait "$SIM_PID" || true
SIM_PID=
t_check "tgsim's port is closed now" sh -c '! curl -s -m 2 -o /dev/null "$1"' sh "http://$SIM_ADDR/"
"$G" send 8001 "the API is gone" >/dev/null
t_check "getUpdates failed against the closed port" \
	t_wait_log "$log" 'msg="getUpdates failed"' 30 $((n + 1))
seen "a send failed: connection refused" 'msg="tg call failed" method=sendMessage status=0 .*Failed to connect'
sim_stop

# --- a token the API does not accept -----------------------------------------------
SIM_TOKEN=1111111111:AAAnotTheBotsToken sim_start --log-level debug
gb_start
"$G" send 8001 "wrong token" >/dev/null
seen "getUpdates got a 401" 'msg="getUpdates failed" status=401'
seen "the bot said the token is not accepted" 'msg="the bot token is not accepted'
seen "a send got a 401" 'msg="tg call failed" method=sendMessage status=401'

# --- an API that quotes the request in its errors ------------------------------------
# A wrong telegram_api_url, or a proxy in front of the API, may answer in the
# Bot API's shape with the request line in the description: as it came, and
# percent-encoded (the colon as %3A, so the whole token is not in it, only
# its secret part). A few lines of perl (perl-base, which render.sh needs).
sim_stop
mkfifo "$T/echo.ready"
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
	    Listen => 16, ReuseAddr => 1) or die "listen: $!";
	open(my $r, ">", $ARGV[0]) or die; print $r "127.0.0.1:", $s->sockport, "\n"; close $r;
	while (my $c = $s->accept) {
		my ($m, $p) = split " ", scalar(<$c> // "");
		my $len = 0;
		while (my $h = <$c>) {
			last if $h =~ /^\r?\n$/;
			$len = $1 if $h =~ /^content-length:\s*(\d+)/i;
		}
		read($c, my $body, $len) if $len;
		(my $enc = $p // "") =~ s/([^A-Za-z0-9\/_.~-])/sprintf("%%%02X", ord $1)/ge;
		my $j = "{\"ok\":false,\"error_code\":404,\"description\":" .
		    "\"Not Found: $m $p (that is $enc)\"}";
		print $c "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n",
		    "Content-Length: ", length($j), "\r\nConnection: close\r\n\r\n", $j;
		close $c;
	}' "$T/echo.ready" 2>>"$T/echo.log" &
t_track $!
read -r echo_addr <"$T/echo.ready"
t_check "the echoing API quotes the token (raw and encoded) in its answer" \
	sh -c 'curl -s "$1" | grep -qF -f "$2"' sh "http://$echo_addr/bot$SIM_TOKEN/getMe" "$T/secrets"
SIM_ADDR=$echo_addr gb_start
"$G" send 8001 "an API that quotes" >/dev/null
seen "getUpdates got its 404" 'msg="getUpdates failed" status=404'
seen "a send got its 404, with the quoting description" \
	'msg="tg call failed" method=sendMessage status=404 .*description="Not Found: POST'

# --- what an operator reads -----------------------------------------------------------
asset=$("$G" --json assets | jq -r '.[0].id')
for cmd in status users requests assets "attempts $asset"; do
	# shellcheck disable=SC2086 # the command and its argument
	"$G" $cmd >"$T/out/${cmd%% *}.txt" 2>&1 || true
	# shellcheck disable=SC2086
	"$G" --json $cmd >"$T/out/${cmd%% *}.json" 2>&1 || true
done
t_check "greetctl's outputs are there (status: healthy, the order COMPLETED)" \
	sh -c 'grep -q "^greetbotd *healthy" "$1/status.txt" && grep -q COMPLETED "$1/requests.txt"' sh "$T/out"
clean "no greetctl output holds the token" "$T"/out/*.txt "$T"/out/*.json
for ep in health health/bot health/db health/redis metrics; do
	curl -sS -m 5 "http://$GB_HTTP/$ep" >"$T/out/http-${ep//\//-}" || true
done
t_check "/metrics counts the failed calls (401, 5xx, network)" \
	grep -qE 'greetbot_telegram_calls_total\{.*result="(400|5xx|network)"' "$T/out/http-metrics"
clean "no /health or /metrics body holds the token" "$T"/out/http-*
cmdlines=()
while read -r p; do
	cmdlines+=("/proc/$p/cmdline")
done < <(echo "$GB_PID"; pgrep -P "$GB_PID")
t_check "greetbotd runs its children (${#cmdlines[@]} processes)" test "${#cmdlines[@]}" -ge 3
clean "no greetbot process has the token on its command line (every user can read it)" \
	"${cmdlines[@]}"
sim_stop

# --- every log line, every file -----------------------------------------------------
t_check "greetbotd's log holds lines of greetbot-tg and redis-server too" \
	sh -c 'grep -q "proc=greetbot-tg" "$1" && grep -q "child=redis" "$1"' sh "$log"
clean "no line of greetbotd's log (its children's included) holds the token" "$log"
clean "no line of tgsim's log holds it (the bot's token is not tgsim's in the end)" "$T/tgsim.log"
files=()
while IFS= read -r -d '' f; do
	files+=("$f")
done < <(find "$T" -type f ! -path "$T/secrets" -print0)
clean "no file (database, WAL, state, caches, media: ${#files[@]} files) holds the token" "${files[@]}"
t_done

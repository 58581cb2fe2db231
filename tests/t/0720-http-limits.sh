#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The limits of both HTTP servers, greetbotd's (/health, /metrics) and
# greetbot-tg's webhook (SPEC 1, Privileges; lib/httplimit.h): a 100 MB
# body and a 100 MB header, a request one byte at a time, 2,000 idle
# connections are each refused or cut within the server's deadline, while
# /health answers, no process grows past 32 MB and the log by less than
# 1 MB. Out of file descriptors, accepting pauses (one line, no spin) and
# comes back. A child that floods its output is rate-limited in the log.
. "$(dirname "$0")/../lib.sh"

# The servers' deadlines (jobs/health.c, bot/webhook.c), and what a
# check allows beyond one (a loaded machine).
http_deadline=5
hook_deadline=10
slack=3
hook_path=/telegram/t0720
secret=s0720_$RANDOM$RANDOM-$RANDOM
printf '%s\n' "$secret" >"$T/webhook.secret"
chmod 600 "$T/webhook.secret"


# The clients, in Perl (the shell has no select()):
#   client.pl idle HOST PORT N WAIT: open N connections, send nothing,
#     wait up to WAIT s for the server to close each; prints
#     "connected=C failed=F open=O max=S", S the longest one lived.
#   client.pl send HOST PORT HEADFILE N STEP: send HEADFILE, then N
#     times 1 MB (STEP 0) or one byte every STEP s, until the server
#     answers or closes; prints "reply=CODE seconds=S" (CODE "-" when it
#     only closed).
cat >"$T/client.pl" <<'EOF'
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
$SIG{PIPE} = 'IGNORE';
my ($mode, $host, $port, @a) = @ARGV;
if ($mode eq 'idle') {
	my ($n, $wait) = @a;
	my %t;
	my ($failed, $max) = (0, 0);
	my $sel = IO::Select->new;
	for (1 .. $n) {
		my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Timeout => 10);
		if (!$s) { $failed++; next; }
		$t{fileno $s} = time;
		$sel->add($s);
	}
	my $end = time + $wait;
	while ($sel->count && time < $end) {
		for my $s ($sel->can_read($end - time)) {
			my $buf;
			my $r = sysread($s, $buf, 4096);
			next if defined $r && $r > 0;
			my $d = time - $t{fileno $s};
			$max = $d if $d > $max;
			$sel->remove($s);
			close $s;
		}
	}
	printf "connected=%d failed=%d open=%d max=%.1f\n", $n - $failed, $failed,
	    $sel->count, $max;
	exit 0;
}
my ($headfile, $n, $step) = @a;
my $t0 = time;
my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Timeout => 10)
    or die "connect: $!";
my $sel = IO::Select->new($s);
open(my $fh, '<', $headfile) or die "$headfile: $!";
my $head = do { local $/; <$fh> };
syswrite($s, $head);
my $chunk = $step > 0 ? 'a' : 'a' x (1024 * 1024);
for (1 .. $n) {
	last if $sel->can_read($step);
	last if !defined syswrite($s, $chunk);
}
my $reply = '-';
if ($sel->can_read(2 * ($step + 1))) {
	my $buf = '';
	sysread($s, $buf, 4096);
	$reply = $1 if defined $buf && $buf =~ m{^HTTP/1\.[01] (\d+)};
}
printf "reply=%s seconds=%.1f\n", $reply, time - $t0;
EOF

# within FILE LIMIT: the "seconds=" or "max=" in FILE is at most LIMIT.
within() {
	awk -v l="$2" '{ for (i = 1; i <= NF; i++) if ($i ~ /^(seconds|max)=/) {
		split($i, kv, "="); if (kv[2] + 0 > l + 0) bad = 1; n++ } }
		END { exit bad || !n }' "$1"
}
# cut_at FILE DEADLINE: the connection was closed without a reply, at
# DEADLINE seconds (not before, and not much after).
cut_at() {
	grep -q '^reply=- ' "$1" && within "$1" $(($2 + slack)) && ! within "$1" $(($2 - 1))
}
# refused FILE: the reply in FILE is an error (4xx), or there was none.
refused() { grep -Eq '^reply=(4[0-9][0-9]|-) ' "$1"; }
# vmhwm PID: the process's peak resident memory in kB.
vmhwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# cpu PID: the process's CPU time in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
logsize() { stat -c %s "$T/greetbotd.log"; }

sim_start
port=$(t_free_port)
hook=http://127.0.0.1:$port$hook_path
export GREETBOT_TELEGRAM_MODE=webhook GREETBOT_WEBHOOK_URL=$hook \
	GREETBOT_WEBHOOK_LISTEN=127.0.0.1:$port GREETBOT_WEBHOOK_PATH=$hook_path \
	GREETBOT_WEBHOOK_SECRET_FILE=$T/webhook.secret GREETBOT_WEBHOOK_MAX_CONNECTIONS=7
gb_start
t_check "greetbot-tg sets the webhook" \
	t_wait_log "$T/greetbotd.log" 'msg="webhook call done" method=setWebhook' 30
bot=$(pgrep -P "$GB_PID" -x greetbot-tg)
jobs=$(pgrep -P "$GB_PID" -x greetbotd-jobs)	# /health and /metrics
http_host=${GB_HTTP%:*}
http_port=${GB_HTTP##*:}
log0=$(logsize)

# /health, every 0.2 s while the others attack.
: >"$T/health.codes"
(
	while [ ! -e "$T/health.stop" ]; do
		curl -sS -m 1 -o /dev/null -w '%{http_code}\n' "http://$GB_HTTP/health" \
			>>"$T/health.codes" 2>/dev/null || echo fail >>"$T/health.codes"
		sleep 0.2
	done
) &
watcher=$!
t_track "$watcher"

# The attacks, side by side; each writes its outcome to $T/out.NAME.
truncate -s 100M "$T/big"
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ' >"$T/head.http-header"
printf 'POST %s HTTP/1.1\r\nHost: x\r\nX-Big: ' "$hook_path" >"$T/head.hook-header"
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ' >"$T/head.http-trickle"
printf 'POST %s HTTP/1.1\r\nHost: x\r\nX-Telegram-Bot-Api-Secret-Token: %s\r\nContent-Length: 100\r\n\r\n' \
	"$hook_path" "$secret" >"$T/head.hook-trickle"
# post NAME URL [curl args]: a 100 MB body.
post() {
	local name=$1 url=$2
	shift 2
	curl -sS -m 30 -o /dev/null -w 'reply=%{http_code} seconds=%{time_total}\n' \
		--data-binary @"$T/big" "$@" "$url" >"$T/out.$name" 2>/dev/null || true
	sed -i 's/^reply=000 /reply=- /' "$T/out.$name"
}
pids=()
post http-body "http://$GB_HTTP/metrics" & pids+=($!)
post http-get-body "http://$GB_HTTP/metrics" -X GET & pids+=($!)
post hook-body "$hook" -H "X-Telegram-Bot-Api-Secret-Token: $secret" & pids+=($!)
post hook-body-nosecret "$hook" & pids+=($!)
post hook-body-chunked "$hook" -H 'Transfer-Encoding: chunked' & pids+=($!)
perl "$T/client.pl" send "$http_host" "$http_port" "$T/head.http-header" 100 0 \
	>"$T/out.http-header" & pids+=($!)
perl "$T/client.pl" send 127.0.0.1 "$port" "$T/head.hook-header" 100 0 \
	>"$T/out.hook-header" & pids+=($!)
perl "$T/client.pl" send "$http_host" "$http_port" "$T/head.http-trickle" 100 2 \
	>"$T/out.http-trickle" & pids+=($!)
perl "$T/client.pl" send 127.0.0.1 "$port" "$T/head.hook-trickle" 100 2 \
	>"$T/out.hook-trickle" & pids+=($!)
wait "${pids[@]}"
# Then idle connections: they would have pushed out the trickles (over
# the cap, the oldest connection goes).
pids=()
idle=0
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 4200 ]; then
	idle=1
	(ulimit -n 4200 && exec perl "$T/client.pl" idle "$http_host" "$http_port" 2000 \
		$((http_deadline + slack + 10))) >"$T/out.http-idle" & pids+=($!)
	(ulimit -n 4200 && exec perl "$T/client.pl" idle 127.0.0.1 "$port" 2000 \
		$((hook_deadline + slack + 10))) >"$T/out.hook-idle" & pids+=($!)
fi
[ "$idle" = 0 ] || wait "${pids[@]}"
touch "$T/health.stop"
wait "$watcher" || true

for f in http-body http-get-body hook-body hook-body-nosecret hook-body-chunked; do
	t_check "a 100 MB body ($f) is refused 413 unread ($(cat "$T/out.$f"))" \
		grep -Eq '^reply=(413|-) ' "$T/out.$f"
	t_check "at once" within "$T/out.$f" "$http_deadline"
done
t_check "greetbotd refuses a 100 MB header ($(cat "$T/out.http-header"))" refused "$T/out.http-header"
t_check "and within its deadline" within "$T/out.http-header" "$http_deadline"
t_check "the webhook refuses a 100 MB header ($(cat "$T/out.hook-header"))" refused "$T/out.hook-header"
t_check "and within its deadline" within "$T/out.hook-header" "$hook_deadline"
t_check "greetbotd cuts a request sent a byte every 2 s at its deadline ($(cat "$T/out.http-trickle"))" \
	cut_at "$T/out.http-trickle" "$http_deadline"
t_check "so does the webhook ($(cat "$T/out.hook-trickle"))" \
	cut_at "$T/out.hook-trickle" "$hook_deadline"
if [ "$idle" = 1 ]; then
	t_check "greetbotd closes 2,000 idle connections, each within its deadline ($(cat "$T/out.http-idle"))" \
		sh -c "grep -q ' open=0 ' '$T/out.http-idle' && ! grep -q 'connected=0 ' '$T/out.http-idle'"
	t_check "(the longest lived at most ${http_deadline} s and some)" \
		within "$T/out.http-idle" $((http_deadline + slack))
	t_check "so does the webhook ($(cat "$T/out.hook-idle"))" \
		sh -c "grep -q ' open=0 ' '$T/out.hook-idle' && ! grep -q 'connected=0 ' '$T/out.hook-idle'"
	t_check "(at most ${hook_deadline} s and some)" within "$T/out.hook-idle" $((hook_deadline + slack))
else
	t_skip "2,000 idle connections: this shell may not open 4,200 files ($(ulimit -Hn))"
	t_skip "2,000 idle connections to the webhook"
fi
n=$(grep -c . "$T/health.codes")
t_check "/health answered 200 all along ($n tries: $(sort "$T/health.codes" | uniq -c | tr -s ' \n' ' '))" \
	sh -c "[ '$n' -ge 10 ] && ! grep -vqx 200 '$T/health.codes'"
# Under AddressSanitizer (make asan) shadow memory and the quarantine that
# holds freed blocks back (256 MB by default) add tens of MB to any
# process: the bound is then 80 MB, still under what reading one of the
# 100 MB requests whole would take.
mb=32
case ${ASAN_OPTIONS:-} in ?*) mb=80 ;; esac
t_check "greetbotd's jobs process (its HTTP server) stayed under $mb MB ($(vmhwm "$jobs") kB at most)" \
	test "$(vmhwm "$jobs")" -lt $((mb * 1024))
t_check "greetbotd stayed under $mb MB ($(vmhwm "$GB_PID") kB at most)" \
	test "$(vmhwm "$GB_PID")" -lt $((mb * 1024))
t_check "greetbot-tg stayed under $mb MB ($(vmhwm "$bot") kB at most)" \
	test "$(vmhwm "$bot")" -lt $((mb * 1024))
grown=$(($(logsize) - log0))
t_check "the log grew by less than 1 MB ($grown bytes)" test "$grown" -lt 1048576
t_check "cut connections are logged, a few lines in all ($(grep -c 'msg="http connection' "$T/greetbotd.log"))" \
	sh -c "n=\$(grep -c 'msg=\"http connection' '$T/greetbotd.log'); [ \"\$n\" -ge 2 ] && [ \"\$n\" -le 20 ]"
t_check "/health answers after it all" curl -fsS -m 2 -o /dev/null "http://$GB_HTTP/health"
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -H "X-Telegram-Bot-Api-Secret-Token: $secret" \
	-H 'Content-Type: application/json' -d '{"update_id":0}' "$hook" || true)
t_check "the webhook takes an update after it all ($code)" test "$code" = 200

# Out of descriptors: each server gets three more than it has open. The
# connections beyond fail to be accepted: the listener pauses (one line,
# no spin) and accepts again once the others have gone.
nb=$(find "/proc/$bot/fd" -mindepth 1 | wc -l)
ng=$(find "/proc/$jobs/fd" -mindepth 1 | wc -l)
log1=$(logsize)
# As the service user both run as (as root; a process's own uid may change
# its soft limits without CAP_SYS_RESOURCE, which root may lack here).
svc_prlimit() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid="$(awk '/^Uid:/ { print $2 }' "/proc/$2/status")" \
			--regid="$(awk '/^Gid:/ { print $2 }' "/proc/$2/status")" --clear-groups prlimit "$@"
	else
		prlimit "$@"
	fi
}
if svc_prlimit --pid "$bot" --nofile=$((nb + 3)): && svc_prlimit --pid "$jobs" --nofile=$((ng + 3)):; then
	c0=$(cpu "$bot")
	g0=$(cpu "$jobs")
	perl "$T/client.pl" idle 127.0.0.1 "$port" 40 3 >"$T/out.hook-fds" & p1=$!
	perl "$T/client.pl" idle "$http_host" "$http_port" 40 3 >"$T/out.http-fds" & p2=$!
	wait "$p1" "$p2"
	t_check "out of descriptors, the webhook pauses accepting" \
		t_wait_log "$T/greetbotd.log" 'msg="accept paused" error="Too many open files" server=webhook' 5
	t_check "so does greetbotd's (its jobs process's)" \
		t_wait_log "$T/greetbotd.log" 'msg="accept paused" error="Too many open files" server=http' 5
	t_check "neither spins meanwhile ($(($(cpu "$bot") - c0)) and $(($(cpu "$jobs") - g0)) ticks in 3 s)" \
		test $(($(cpu "$bot") - c0 + $(cpu "$jobs") - g0)) -lt 60
	t_check "the webhook accepts again once they are gone" \
		t_wait_log "$T/greetbotd.log" 'msg="accepting again" server=webhook failures=[1-9]' 30
	t_check "so does greetbotd" \
		t_wait_log "$T/greetbotd.log" 'msg="accepting again" server=http failures=[1-9]' 30
	t_check "one line each when the pause starts" \
		test "$(grep -c 'msg="accept paused"' "$T/greetbotd.log")" = 2
	t_check "the log grew by a few lines ($(($(logsize) - log1)) bytes)" \
		test $(($(logsize) - log1)) -lt 4096
	svc_prlimit --pid "$bot" --nofile=4096: || true
	svc_prlimit --pid "$jobs" --nofile=4096: || true
	t_check "/health answers again" curl -fsS -m 2 -o /dev/null "http://$GB_HTTP/health"
else
	t_skip "prlimit cannot lower the processes' descriptors here"
fi

# A child that floods its output (a million lines before redis-server
# starts; greetbot-tg writes its own log, rate-limited by itself): greetbotd
# logs some, then one line with the count, and notices Redis's ready line.
kill -TERM "$GB_PID"
wait "$GB_PID" || true
GB_PID=
cat >"$T/flood-redis" <<EOF
#!/bin/sh
yes 'a line of a flood' | head -n 1000000
exec redis-server "\$@"
EOF
chmod 755 "$T/flood-redis"
log2=$(logsize)
GREETBOT_REDIS_SERVER=$T/flood-redis gb_start
t_check "a flood of a child's output is dropped, and counted in one line" \
	t_wait_log "$T/greetbotd.log" 'msg="child output dropped" child=redis-server lines=[0-9]{6}' 30
flood=$(grep -c 'line="a line of a flood"' "$T/greetbotd.log")
t_check "a thousand or so of its lines are logged ($flood)" test "$flood" -le 2000
grown=$(($(logsize) - log2))
t_check "the log grew by less than 1 MB ($grown bytes)" test "$grown" -lt 1048576
code=$(curl -sS -m 5 --retry 10 --retry-connrefused --retry-delay 1 -o /dev/null -w '%{http_code}' \
	-H "X-Telegram-Bot-Api-Secret-Token: $secret" -H 'Content-Type: application/json' \
	-d '{"update_id":0}' "$hook" || true)
t_check "greetbotd became ready past the flood, and the bot answers ($code)" test "$code" = 200
t_check "greetbotd's log is under 1 MB after it all ($(logsize) bytes)" test "$(logsize)" -lt 1048576
t_done

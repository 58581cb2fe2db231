#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# greetbotd is SIGKILLed in the middle of a render: nothing it started
# outlives it once the next greetbotd is up (its redis-server, its
# greetbot-tg, the renderer and what the renderer left behind with setsid),
# greetbot-tg's log lines are not lost with it, and the order completes.
# (As root: renderers run as uids of their own.)
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip "renderers run as slot uids (and are killed as such) only as root"
	t_done
	exit 0
fi
real=$(t_render_copy)
mkdir -p "$T/gate"
cat >"$T/stubborn-render.sh" <<SH
#!/usr/bin/env bash
# A render that leaves a process behind in a session of its own, then
# waits for its gate (not the one that builds the template's cache).
if [ "\${GREETBOT_MODE:-video}" = video ] && [ -z "\${GREETBOT_CACHE_BUILD:-}" ]; then
	setsid sleep 600 </dev/null >/dev/null 2>&1 &
	echo \$! >survivor.pid
	while [ -e "$T/gate/hold" ]; do sleep 0.05; done
fi
exec "$real"
SH
chmod 755 "$T/stubborn-render.sh"
: >"$T/gate/hold"

sim_start
GB_RENDER_SCRIPT=$T/stubborn-render.sh gb_start
old=$GB_PID
(PARENT_WAIT=120 parent_order 3300 Маша >"$T/video" 2>&1) &
t_track $!
t_check "the render runs" t_wait_log "$T/greetbotd.log" 'msg="render started"' 60
survivor=""
for _ in $(seq 50); do
	f=$(find "$T/state/render/work" -name survivor.pid 2>/dev/null | head -1)
	[ -n "$f" ] && survivor=$(cat "$f") && [ -n "$survivor" ] && break
	read -r -t 0.1 <> <(:) || true
done
t_check "the renderer left a process in a session of its own" kill -0 "${survivor:-0}"
redis=$(pgrep -P "$old" -x redis-server)
bot=$(pgrep -P "$old" -x greetbot-tg)
render=$(pgrep -f "$T/stubborn-render.sh" | head -1)
before=$(grep -c 'proc=greetbot-tg' "$T/greetbotd.log")

kill -KILL "$old"
wait "$old" 2>/dev/null || true
# The bot still logs on its way out (its parent-death signal): its lines
# go to the journal (here the log file) itself, not through greetbotd.
rm -f "$T/gate/hold"
GB_PID=
gb_start

# gone PID: no such process, or one that only waits to be reaped (init here
# need not reap promptly: a zombie runs nothing).
gone() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
	case $st in Z*) return 0 ;; *) echo "# $1 is still there: $st"; return 1 ;; esac
}
t_check "the next greetbotd is up" kill -0 "$GB_PID"
for p in "redis:$redis" "greetbot-tg:$bot" "renderer:$render" "survivor:$survivor"; do
	t_check "the old ${p%%:*} is gone" gone "${p#*:}"
done
t_check "greetbot-tg's lines went on reaching the log after greetbotd died" \
	test "$(grep -c 'proc=greetbot-tg msg=stopping' "$T/greetbotd.log")" -ge 1
t_check "... (more bot lines than before the kill)" \
	test "$(grep -c 'proc=greetbot-tg' "$T/greetbotd.log")" -gt "$before"
t_wait_tracked
t_check "the parent got the video from the next greetbotd" test -s "$(tail -1 "$T/video")"
t_done

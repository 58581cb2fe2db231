#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The disk under state_dir fills while parents order, with no render
# running and then with two: no process exits, /health names the full disk
# within 2 s, the parents who cannot be recorded are told once that the bot
# is busy, and when space returns every order completes, once. (As root: a
# small tmpfs is the state_dir.)
# run: long
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip "a tmpfs for state_dir needs root"
	t_done
	exit 0
fi
disk=$T/disk
mkdir -p "$disk" "$T/gate"
mount -t tmpfs -o size=96m,mode=0711 tmpfs "$disk"
trap 'umount -l "$disk" 2>/dev/null; t_cleanup' EXIT

real=$(t_render_copy)
cat >"$T/gated-render.sh" <<SH
#!/usr/bin/env bash
# A video render of a name waits while its gate is there.
if [ "\${GREETBOT_MODE:-video}" = video ]; then
	while [ -e "$T/gate/hold-\$GREETBOT_NAME" ]; do sleep 0.05; done
fi
exec "$real"
SH
chmod 755 "$T/gated-render.sh"

sim_start
GB_STATE=$disk/state GREETBOT_MAX_ATTEMPTS=30 GREETBOT_WORKERS=2 \
	GB_RENDER_SCRIPT=$T/gated-render.sh gb_start
db=$disk/state/greetbot.db
bot=$(pgrep -P "$GB_PID" -x greetbot-tg)
t_check "a first order completes (its name is cached)" \
	test -s "$(parent_order 3100 Маша)"

# fill: the file system full, to the last block. The WAL is emptied first
# (SQLite reuses a WAL's blocks: a write then finds no room only once the
# WAL must grow, as it does on a busy bot).
# The disk then stays full: what our processes free meanwhile (a work dir
# emptied after a render, a temporary file removed after a failed write)
# is taken again at once, as by another writer on a shared file system,
# until unfill.
fill() {
	sqlite3 -cmd '.timeout 5000' "$db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
	dd if=/dev/zero of="$disk/fill" bs=1M status=none 2>/dev/null || true
	dd if=/dev/zero of="$disk/fill2" bs=4k status=none 2>/dev/null || true
	: >"$T/filling"
	(
		while [ -e "$T/filling" ]; do
			dd if=/dev/zero of="$disk/fill.more" bs=4k oflag=append \
				conv=notrunc status=none 2>/dev/null || true
			read -r -t 0.02 <> <(:) || true
		done
	) &
	filler=$!
}
unfill() {
	rm -f "$T/filling"
	wait "$filler" 2>/dev/null || true
	rm -f "$disk"/fill*
}

# health_says PATTERN: /health is 503 with a reason matching PATTERN
# within 2 s of the call (polled: nothing announces it).
health_says() {
	local deadline=$((SECONDS + 3)) body
	while [ "$SECONDS" -lt "$deadline" ]; do
		body=$(curl -s -m 1 "http://$GB_HTTP/health") || true
		if jq -e --arg p "$1" '.status == "fail" and (.reason | test($p))' \
			<<<"$body" >/dev/null 2>&1; then
			return 0
		fi
		read -r -t 0.2 <> <(:) || true
	done
	echo "# /health: $body"
	return 1
}

# videos CHAT: how many videos the chat received.
videos() {
	sim_wait "$1" 0 1000 0 | jq '[.messages[] | select(.method == "sendVideo")] | length'
}

# --- full with no render running: a cached name, two new ones ---------------
fill
t_check "/health names the full disk within 2 s" health_says 'disk .* full'
for c in 3101:Маша 3102:Даша 3103:Саша; do
	(PARENT_WAIT=180 parent_order "${c%%:*}" "${c#*:}" >"$T/video.${c%%:*}" 2>&1) &
	t_track $!
done
for c in 3101 3102 3103; do
	# shellcheck disable=SC2034 # read by sim_expect (scripts/sim.sh)
	SIM_SEQ=0
	t_check "parent $c, whose /start cannot be recorded, is told the bot is busy" \
		sim_expect "$c" '.text // "" | test("неполадка")' 30
done
t_check "greetbotd still runs" kill -0 "$GB_PID"
t_check "greetbot-tg still runs, the same process" \
	test "$(pgrep -P "$GB_PID" -x greetbot-tg)" = "$bot"
unfill
t_wait_tracked
for c in 3101 3102 3103; do
	t_check "parent $c got the video once space returned" test -s "$(tail -1 "$T/video.$c")"
	t_check "... exactly once" test "$(videos "$c")" = 1
done

# --- full while two renders run ------------------------------------------------
: >"$T/gate/hold-Гриша"
: >"$T/gate/hold-Миша"
for c in 3111:Гриша 3112:Миша; do
	(PARENT_WAIT=240 parent_order "${c%%:*}" "${c#*:}" >"$T/video.${c%%:*}" 2>&1) &
	t_track $!
done
t_check "two renders run" t_wait_log "$T/greetbotd.log" 'msg="render started"' 60 5
fill
t_check "/health names the full disk within 2 s, renders running" health_says 'disk .* full'
rm -f "$T/gate/hold-Гриша" "$T/gate/hold-Миша"
t_check "the renders end on the full disk (not saved, or failed to write)" \
	t_wait_log "$T/greetbotd.log" 'msg="render finished"' 60 5
t_check "greetbotd still runs with its disk full" kill -0 "$GB_PID"
t_check "greetbot-tg still runs, the same process" \
	test "$(pgrep -P "$GB_PID" -x greetbot-tg)" = "$bot"
unfill
t_wait_tracked
for c in 3111 3112; do
	t_check "parent $c got the video once space returned" test -s "$(tail -1 "$T/video.$c")"
	t_check "... exactly once" test "$(videos "$c")" = 1
done
t_check "no process of ours exited or died meanwhile" \
	bash -c '! grep -E "msg=\"child (exited|died)\"" "$1"' _ "$T/greetbotd.log"
t_check "every request is COMPLETED" \
	test "$(sqlite3 "$db" "SELECT group_concat(DISTINCT state) FROM requests")" = COMPLETED
t_check "/health is ok again" curl -fsS -m 1 "http://$GB_HTTP/health"
t_done

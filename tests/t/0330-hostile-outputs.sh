#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Render scripts as a compromised renderer would write them (the name is
# attacker text fed to espeak-ng): outputs replaced by links to a root-only
# file and to the database, a hard link, a FIFO, a thumbnail and a voice
# preview that are links, a process that outlives the script to swap its
# output after the exit, and one that swaps a directory of the work tree
# for a link while it is removed, and an output that another process
# still holds open for writing at the exit. Each is refused and recorded with its
# reason, nothing of the root-only file or the database reaches an upload
# or a file greetbotd keeps, nothing outside the work tree is deleted, and
# no survivor is left. (As root: renderers run as uids of their own.)
# run: alone
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip "renderers run as uids of their own only as root"
	t_done
	exit 0
fi
secret="TOPSECRET-$RANDOM$RANDOM$RANDOM"
printf '%s\n' "$secret" >"$T/secret"
chmod 600 "$T/secret"
mkdir -p "$T/victim" "$T/templates" "$T/scripts"
for i in 1 2 3 4 5; do echo keep >"$T/victim/f$i"; done
cp -R "$GB_TEMPLATES_DIR/ru-birthday" "$T/templates/"
tdir=$T/templates/ru-birthday
printf '%s\n' "$T/secret" >"$tdir/secret-path"
printf '%s\n' "$T/state/greetbot.db" >"$tdir/db-path"
printf '%s\n' "$T/victim" >"$tdir/victim-path"
mkdir -m 0777 "$T/handoff"
mkfifo -m 0666 "$T/handoff/go"
printf '%s\n' "$T/handoff" >"$tdir/handoff-path"
ffmpeg -nostdin -v error -f lavfi -i "color=c=teal:s=320x180:r=10:d=6" -f lavfi \
	-i "sine=d=6" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest \
	-y "$tdir/good.mp4"
cp "$TOP/tests/scripts/hostile-outputs.sh" "$T/scripts/"
chmod -R a+rX "$T/templates" "$T/scripts"

sim_start
GREETBOT_MAX_ATTEMPTS=1 GREETBOT_WORKERS=2 GB_TEMPLATES_DIR=$T/templates \
	GB_RENDER_SCRIPT=$T/scripts/hostile-outputs.sh gb_start
db=$T/state/greetbot.db
base=$GREETBOT_RENDER_UID_BASE

refused=(Аня Боря Вера Гоша Зина)
i=0
for n in "${refused[@]}"; do
	i=$((i + 1))
	(PARENT_WAIT=90 parent_failed $((3300 + i)) "$n" >"$T/notice.$i" 2>&1) &
	t_track $!
done
for c in 3311:Даня 3312:Женя 3313:Ира 3314:Лёша; do
	(PARENT_WAIT=90 parent_order "${c%%:*}" "${c#*:}" >"$T/video.${c%%:*}" 2>&1) &
	t_track $!
done
# Лёша's output, held open for writing by us (not the render's uid) when
# its script exits: greetbotd must keep a copy of what it checked, not
# the file a writer still reaches.
held=0
if t_wait_log "$T/handoff/out-path" . 90; then
	exec 7<>"$(cat "$T/handoff/out-path")"
	held=1
	echo go >"$T/handoff/go"
fi
t_wait_tracked

cause() {
	sqlite3 "$db" "SELECT t.status || ': ' || coalesce(t.cause, '') FROM attempts t
		JOIN assets a ON a.id = t.asset_id WHERE a.display_name = '$1' ORDER BY t.id LIMIT 1"
}
i=0
for n in "${refused[@]}"; do
	i=$((i + 1))
	t_check "$n: the parent is told the render failed" t_jq '.text | length > 0' <"$T/notice.$i"
done
t_check "an output that links to a root-only file is refused as such" \
	grep -q '^invalid_output: out.mp4 is a symbolic link' <<<"$(cause Аня)"
t_check "an output that links to the database is refused" \
	grep -q '^invalid_output: out.mp4 is a symbolic link' <<<"$(cause Боря)"
t_check "a hard link (or a link) as output is refused" \
	grep -qE '^invalid_output: out.mp4 is (a symbolic link|not a file of the renderer)' \
	<<<"$(cause Вера)"
t_check "a FIFO as output is refused without waiting on it" \
	grep -q '^invalid_output: out.mp4 is not a file of the renderer.s own (not a regular file)' \
	<<<"$(cause Гоша)"
t_check "a thumbnail that is a link refuses the render" \
	grep -q '^invalid_output: thumb.jpg is a symbolic link' <<<"$(cause Зина)"
t_check "an output swapped for a link after the exit: the real one is kept and sent" \
	test -s "$(tail -1 "$T/video.3311")"
t_check "an output another process holds open at the exit: the parent gets the video" \
	test -s "$(tail -1 "$T/video.3314")"
[ "$held" = 0 ] || printf 'written after the exit' >&7
exec 7>&-
kept=$T/state/assets/$(sqlite3 "$db" "SELECT id FROM assets WHERE display_name = 'Лёша'").mp4
t_check "... and what that process writes after it does not reach the video kept" \
	test "$held" = 1 -a "$(cmp "$kept" "$tdir/good.mp4" 2>&1)" = ''
t_check "a work dir swapped during its removal: the parent still gets the video" \
	test -s "$(tail -1 "$T/video.3312")"
t_check "... and nothing outside the work tree was deleted" \
	test "$(find "$T/victim" -type f | wc -l)" = 5
voices=$(sim_wait 3313 0 100 0 | jq '[.messages[] | select(.method == "sendVoice")] | length')
t_check "a voice preview that is a link is not sent: the bot asks in text" test "$voices" = 0
t_check "... and says why in its log" \
	grep -q 'msg="preview failed, asking in text" status=invalid_output cause="voice.ogg is a symbolic link"' \
	"$T/greetbotd.log"
t_check "... then the video comes as usual" test -s "$(tail -1 "$T/video.3313")"
t_check "no upload holds the root-only file" \
	bash -c '! grep -rqF "$1" "$2"' _ "$secret" "$T/tgsim-media"
t_check "no upload is the database" \
	bash -c '! grep -rlq "SQLite format 3" "$1"' _ "$T/tgsim-media"
t_check "no file greetbotd keeps holds the root-only file" \
	bash -c '! grep -rqF "$1" "$2/assets" "$2/previews"' _ "$secret" "$T/state"
t_check "no process of a render slot outlives its render" \
	bash -c '! ps -eo uid= | awk -v b="$1" "\$1 >= b && \$1 < b + 300" | grep -q .' _ "$base"
t_done

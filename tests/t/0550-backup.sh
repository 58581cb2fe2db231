#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Backups: greetctl backup takes a copy of the database while greetbotd
# runs (and with --media the videos), greetctl restore brings it back on
# a fresh state directory, and a new parent asking for a name the backup
# has AVAILABLE gets the video by its saved file_id, without a render.
# Restore is refused while greetbotd runs, and for a damaged backup or one
# newer than the program; DEST is never overwritten without --force.
. "$(dirname "$0")/../lib.sh"

# greetctl with greetbotd's settings for the state directory $1 (as gb_start
# gives them; its HTTP address is in state_dir/http.addr).
gctl() {
	local state=$1
	shift
	GREETBOT_STATE_DIR=$state GREETBOT_HTTP_LISTEN=127.0.0.1:0 \
		GREETBOT_TEMPLATES_DIR=$GB_TEMPLATES_DIR GREETBOT_MESSAGES_DIR=$TOP/messages \
		GREETBOT_RENDER_SCRIPT=$TOP/scripts/render.sh "$BIN/greetctl" "$@"
}

# run NAME STATE ARGS...: greetctl's exit status in $rc, its output in
# $T/NAME.out and its stderr in $T/ctl-NAME.log (t_done looks at every log
# for a sanitizer's report).
run() {
	local name=$1 state=$2
	shift 2
	rc=0
	gctl "$state" "$@" >"$T/$name.out" 2>"$T/ctl-$name.log" || rc=$?
}

q() { sqlite3 -cmd '.timeout 5000' "$1" "$2"; }

# gb_stop: greetbotd alone (tgsim keeps the file_ids it gave out, as
# Telegram does).
gb_stop() {
	kill -TERM "$GB_PID" 2>/dev/null || true
	wait "$GB_PID" 2>/dev/null || true
	GB_PID=
}

# --- a running instance with an AVAILABLE asset --------------------------------
old=$T/old
sim_start
GB_STATE=$old gb_start
video=$(parent_order 1001 "Маша") || video=""
t_check "the first instance renders «Маша» and sends it" test -s "$video"
t_wait_log "$T/greetbotd.log" 'msg="video delivered".*upload=1' 60 || true
fid=$(q "$old/greetbot.db" "SELECT file_id FROM assets WHERE name_key = 'маша'
	AND state = 'AVAILABLE'")
t_check "its asset is AVAILABLE with a file_id" test -n "$fid"

# --- backup while it runs -------------------------------------------------------
run backup "$old" backup "$T/bk.db"
t_check "backup exits 0 while greetbotd runs" test "$rc" -eq 0
t_check "and says what it copied in one line" \
	grep -qE "^backup $T/bk.db: database [0-9]+ pages \(.*, schema [0-9]+\); no videos" \
	"$T/backup.out"
t_check "the backup passes SQLite's integrity check" \
	test "$(q "$T/bk.db" "PRAGMA integrity_check")" = ok
t_check "it is one file (rollback journal, no WAL beside it), mode 0600" \
	test "$(q "$T/bk.db" "PRAGMA journal_mode") $(stat -c %a "$T/bk.db")" = "delete 600"
t_check "it holds the asset with its file_id" \
	test "$(q "$T/bk.db" "SELECT file_id FROM assets WHERE name_key = 'маша'")" = "$fid"
t_check "no temporary file is left beside it" \
	test "$(find "$T" -maxdepth 1 -name 'bk.db.tmp-*' | wc -l)" = 0

run again "$old" backup "$T/bk.db"
t_check "a backup onto an existing DEST exits 1" test "$rc" -eq 1
t_check "saying so, with the way to replace it" grep -qF "$T/bk.db exists: give --force" \
	"$T/ctl-again.log"
run force "$old" backup --force "$T/bk.db"
t_check "--force replaces it" test "$rc" -eq 0

run media "$old" --json backup --media "$T/bk-media"
t_check "backup --media exits 0 while greetbotd runs" test "$rc" -eq 0
asset=$(q "$old/greetbot.db" "SELECT id FROM assets WHERE name_key = 'маша'")
t_check "--json counts the database, one asset and its video and thumbnail" \
	t_jq '.media and .pages > 0 and .assets == 1 and .files == 2 and .files_missing == 0' \
	<"$T/media.out"
t_check "the directory holds greetbot.db, MANIFEST and the asset's files, mode 0700" \
	test "$(cd "$T/bk-media" && find . -type f | sort | tr '\n' ' ')$(stat -c %a "$T/bk-media")" = \
	"./MANIFEST ./assets/$asset.jpg ./assets/$asset.mp4 ./greetbot.db 700"
t_check "the video is a copy of the asset's file" \
	cmp "$old/assets/$asset.mp4" "$T/bk-media/assets/$asset.mp4"
t_check "MANIFEST lists it with its size and the path it came from" \
	grep -qxF "file assets/$asset.mp4 $(stat -c %s "$old/assets/$asset.mp4") $old/assets/$asset.mp4" \
	"$T/bk-media/MANIFEST"

# --- restore refused while greetbotd runs ----------------------------------------
before=$(md5sum <"$old/greetbot.db")
run busy "$old" restore --force "$T/bk.db"
t_check "restore while greetbotd runs exits 1" test "$rc" -eq 1
t_check "saying greetbotd is running and to stop it first" \
	grep -qE "greetbotd is running .*: stop it first" "$T/ctl-busy.log"
t_check "and changes nothing" test "$(md5sum <"$old/greetbot.db")" = "$before"

jobs=$(q "$old/greetbot.db" "SELECT count(*) FROM jobs")
attempts=$(q "$old/greetbot.db" "SELECT count(*) FROM attempts")
gb_stop
# The old installation is gone: nothing of it can be read any more.
mv "$old" "$T/old.gone"

# --- damaged and newer backups refused --------------------------------------------
cp "$T/bk.db" "$T/bad.db"
yes garbage | head -c 4096 | dd of="$T/bad.db" bs=4096 seek=1 conv=notrunc status=none
run bad "$T/fresh" restore "$T/bad.db"
t_check "restore of a damaged backup exits 1" test "$rc" -eq 1
t_check "saying it is damaged" grep -qF "$T/bad.db is damaged" "$T/ctl-bad.log"
t_check "and leaves nothing behind, not even the state_dir it made" test ! -e "$T/fresh"

cp -R "$T/bk-media" "$T/short"
truncate -s -1000 "$T/short/assets/$asset.mp4"
run short "$T/fresh" restore --media "$T/short"
t_check "restore --media of a backup with a truncated video exits 1" test "$rc" -eq 1
t_check "naming the file and both sizes" \
	grep -qE "the backup is damaged: assets/$asset.mp4 has [0-9]+ bytes, its MANIFEST says [0-9]+" \
	"$T/ctl-short.log"
t_check "and leaves nothing behind" test ! -e "$T/fresh"

newest=$(q "$T/bk.db" "PRAGMA user_version")
cp "$T/bk.db" "$T/newer.db"
q "$T/newer.db" "PRAGMA user_version = $((newest + 1))"
run newer "$T/fresh" restore "$T/newer.db"
t_check "restore of a backup newer than the program exits 1" test "$rc" -eq 1
t_check "naming both versions" grep -qF "schema version $((newest + 1)), newer than this program's $newest" \
	"$T/ctl-newer.log"

# --- restore of the database alone on a fresh install ------------------------------
run restore "$T/fresh" restore "$T/bk.db"
t_check "restore into a fresh state_dir exits 0" test "$rc" -eq 0
t_check "and says what it restored" \
	grep -qF "restored $T/bk.db into $T/fresh/greetbot.db: schema $newest, 1 user, 1 asset (1 AVAILABLE), 1 request" \
	"$T/restore.out"
t_check "the database is mode 0600" test "$(stat -c %a "$T/fresh/greetbot.db")" = 600
[ "$rc" -eq 0 ] || t_show "$T/ctl-restore.log"

GB_NAME=fresh GB_STATE=$T/fresh gb_start
msg=""
parent_confirm 1002 "Маша" && msg=$(sim_expect 1002 '.method == "sendVideo"')
t_check "a new parent asking for «Маша» gets it by the saved file_id" \
	t_jq --arg f "$fid" '.params.video == $f' <<<"$msg"
t_check "without a render (no new job, no new attempt)" test \
	"$(q "$T/fresh/greetbot.db" "SELECT count(*) FROM jobs") $(q "$T/fresh/greetbot.db" \
		"SELECT count(*) FROM attempts")" = "$jobs $attempts"
gb_stop

# --- restore --media: the videos come too ------------------------------------------
run rmedia "$T/fresh2" restore --media "$T/bk-media"
t_check "restore --media exits 0" test "$rc" -eq 0
t_check "and says where the videos went" grep -qxF "videos: 2 files into $T/fresh2/assets" \
	"$T/rmedia.out"
t_check "the video is in the new state_dir, mode 0600, as it was" test \
	"$(stat -c %a "$T/fresh2/assets/$asset.mp4")" = 600
t_check "and the asset names it there" test "$(q "$T/fresh2/greetbot.db" \
	"SELECT file_path FROM assets WHERE id = $asset")" = "$T/fresh2/assets/$asset.mp4"
[ "$rc" -eq 0 ] || t_show "$T/ctl-rmedia.log"

GB_NAME=fresh2 GB_STATE=$T/fresh2 gb_start
msg=""
parent_confirm 1003 "Маша" && msg=$(sim_expect 1003 '.method == "sendVideo"')
t_check "after restore --media a new parent gets «Маша» by the saved file_id" \
	t_jq --arg f "$fid" '.params.video == $f' <<<"$msg"
gb_stop
# Telegram forgot the file_id: the restored file is uploaded, not rendered.
q "$T/fresh2/greetbot.db" "UPDATE assets SET file_id = NULL WHERE id = $asset"
GB_NAME=fresh2b GB_STATE=$T/fresh2 gb_start
msg=""
parent_confirm 1004 "Маша" && msg=$(sim_expect 1004 '.method == "sendVideo"')
t_check "without the file_id, the restored video is uploaded" \
	t_wait_log "$T/fresh2b.log" 'msg="video delivered".*upload=1' 30
t_check "and still nothing was rendered" test \
	"$(q "$T/fresh2/greetbot.db" "SELECT count(*) FROM jobs") $(q "$T/fresh2/greetbot.db" \
		"SELECT count(*) FROM attempts")" = "$jobs $attempts"
gb_stop

# --- a database in use is replaced only with --force, and kept ----------------------
run inuse "$T/fresh2" restore "$T/bk.db"
t_check "restore onto a database in use exits 1" test "$rc" -eq 1
t_check "saying --force replaces it and where it is kept" \
	grep -qF "give --force to replace it (it is kept as $T/fresh2/greetbot.db.before-restore)" \
	"$T/ctl-inuse.log"
requests=$(q "$T/fresh2/greetbot.db" "SELECT count(*) FROM requests")
run replace "$T/fresh2" restore --force "$T/bk.db"
t_check "with --force it is replaced" test "$(q "$T/fresh2/greetbot.db" \
	"SELECT count(*) FROM requests") $rc" = "1 0"
t_check "and the old one kept whole beside it" test "$(q "$T/fresh2/greetbot.db.before-restore" \
	"SELECT count(*) FROM requests")" = "$requests"

# --- bad usage ------------------------------------------------------------------------
run usage1 "$T/fresh2" backup
t_check "backup without DEST: exit 2" test "$rc" -eq 2
run usage2 "$T/fresh2" restore "$T/bk.db" "$T/bk-media"
t_check "restore with two sources: exit 2" test "$rc" -eq 2
run usage3 "$T/fresh2" restore --media "$T/bk.db"
t_check "restore --media of a file, not a backup directory: exit 2" test "$rc" -eq 2
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A file_id that Telegram rejects is replaced by a fresh upload of the
# local file, or, when the file is gone too, by a new render.
. "$(dirname "$0")/../lib.sh"

sim_start
gb_start
db=$T/state/greetbot.db
first=$(parent_order 4201 "Нина") || first=""
t_check "the first parent gets the video (uploaded)" test -s "$first"

# Telegram forgets the file_id: the next parent still gets it, re-uploaded.
sqlite3 "$db" "UPDATE assets SET file_id = 'forgotten-by-telegram'"
video=$(parent_order 4202 "нина") || video=""
t_check "after a rejected file_id the video is uploaded again" test -s "$video"
t_check "the new file_id is stored" \
	test "$(sqlite3 "$db" "SELECT file_id != 'forgotten-by-telegram' AND file_id IS NOT NULL FROM assets")" = 1
t_check "without a new render" test "$(sqlite3 "$db" "SELECT count(*) FROM attempts")" = 1

# The file_id is rejected and the local file is gone: render again.
rm -f "$(sqlite3 "$db" "SELECT file_path FROM assets")"
sqlite3 "$db" "UPDATE assets SET file_id = 'forgotten-again'"
video=$(parent_order 4203 "НИНА") || video=""
t_check "with the file gone too, the video is rendered again and delivered" test -s "$video"
t_check "two renders in all" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE status = 'ok'")" = 2
t_check "every request COMPLETED" \
	test "$(sqlite3 "$db" "SELECT group_concat(DISTINCT state) FROM requests")" = COMPLETED
t_done

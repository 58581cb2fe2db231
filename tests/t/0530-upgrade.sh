#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Upgrades: a database made by every earlier schema version
# (tests/fixtures/schema/vN.db, each made by the code of its version: see
# the README there) is migrated by the current greetbotd to the newest
# version, and the bot carries on with it: a parent of the old database
# asking for the name its asset has AVAILABLE gets it by the asset's
# file_id without a render, and a new name renders. A database newer than
# the program is refused, naming both versions.
. "$(dirname "$0")/../lib.sh"

F=$TOP/tests/fixtures/schema

# The newest schema version: what the current greetbotd makes of nothing.
sim_start
GB_NAME=fresh GB_STATE=$T/fresh gb_start
newest=$(sqlite3 "$T/fresh/greetbot.db" "PRAGMA user_version")
sim_stop
t_check "a new database gets the newest schema version ($newest)" test "$newest" -ge 12

# A fixture per past version, so that every migration is tried on the
# data its predecessors left.
missing=()
for v in $(seq 1 $((newest - 1))); do
	[ -f "$F/v$v.db" ] || missing+=("v$v.db")
done
t_check "there is a fixture for every past schema version 1..$((newest - 1))${missing[*]:+ (missing: ${missing[*]})}" \
	test "${#missing[@]}" -eq 0

# The template version is a hash of the template's files and the render
# script, and a new release's render.sh changes it: every name renders
# anew then, by design. Here the template is taken as unchanged across the
# upgrade: the fixture's asset gets the current version of its template.
versions=$(GREETBOT_STATE_DIR=$T/fresh GREETBOT_TEMPLATES_DIR=$GB_TEMPLATES_DIR \
	GREETBOT_RENDER_SCRIPT=$TOP/scripts/render.sh GREETBOT_MESSAGES_DIR=$TOP/messages \
	"$BIN/greetctl" --json template list)

# q DB SQL: one value from a database.
q() { sqlite3 "$1" "$2"; }

# upgrade V: the checks on fixture vV.db.
# shellcheck disable=SC2154 # t_failed is tests/lib.sh's
upgrade() {
	local v=$1 s=$T/v$1 failed=$t_failed db asset tid ver offset fid jobs attempts msg video size
	db=$s/greetbot.db
	mkdir -p "$s"
	cp "$F/v$v.db" "$db"
	asset=$(q "$db" "SELECT id FROM assets WHERE state = 'AVAILABLE' AND file_id IS NOT NULL
		AND name_key = 'маша'")
	if [ -z "$asset" ]; then
		t_fail "v$v: the fixture has an AVAILABLE asset for «Маша» with a file_id"
		return
	fi
	tid=$(q "$db" "SELECT template_id FROM assets WHERE id = $asset")
	ver=$(jq -r --arg t "$tid" '.[] | select(.id == $t) | .version' <<<"$versions")
	offset=$(q "$db" "SELECT coalesce(max(update_offset), 0) FROM bot_state")
	[ "$v" -lt 10 ] || size=$(q "$db" "SELECT width || 'x' || height FROM assets WHERE id = $asset")

	sim_start
	# tgsim's update ids start at 1 where Telegram's would go on after the
	# offset the old bot saved: updates below it are skipped as confirmed.
	# Bring tgsim's counter there with updates the bot is not to see.
	for _ in $(seq 2 "$offset"); do
		sim_post message chat_id=1 text=/help >/dev/null
	done
	# Telegram's file_ids outlive a restart; tgsim knows only the ones it
	# gave out. Upload a video once, as the old bot did, and give the
	# fixture's asset that file_id.
	fid=$(curl -fsS -F chat_id=1 -F "video=@$GB_TEMPLATES_DIR/$tid/media/background.mp4" \
		"http://$SIM_ADDR/bot$SIM_TOKEN/sendVideo" | jq -r '.result.video.file_id')
	q "$db" "UPDATE assets SET template_version = '$ver', file_id = '$fid' WHERE id = $asset"
	jobs=$(q "$db" "SELECT count(*) FROM jobs")
	attempts=$(q "$db" "SELECT count(*) FROM attempts")

	if ! GB_NAME=greetbotd-v$v GB_STATE=$s gb_start; then
		t_fail "v$v: greetbotd starts on the schema $v database"
		t_show "$T/greetbotd-v$v.log"
		sim_stop
		return
	fi
	t_ok "v$v: greetbotd starts on the schema $v database"
	t_check "v$v: migrated to schema version $newest" \
		test "$(q "$db" "PRAGMA user_version")" = "$newest"

	# A parent of the old database asks for «Маша» again.
	msg=""
	parent_confirm 2001 "Маша" && msg=$(sim_expect 2001 '.method == "sendVideo"')
	t_check "v$v: parent 2001 gets «Маша» by the asset's file_id" \
		t_jq --arg f "$fid" '.params.video == $f' <<<"$msg"
	# Rendered before schema 10: its frame size and duration are unknown,
	# and not made up; from 10 on, its render's are said.
	if [ "$v" -lt 10 ]; then
		t_check "v$v: sent without a frame size or duration it does not know" \
			t_jq '.params.width == null and .params.height == null and
				.params.duration == null' <<<"$msg"
	else
		t_check "v$v: sent with the frame size its render kept ($size)" \
			t_jq --arg s "$size" '"\(.params.width)x\(.params.height)" == $s' <<<"$msg"
	fi
	t_check "v$v: without a render (no job, no attempt)" test \
		"$(q "$db" "SELECT count(*) FROM jobs") $(q "$db" "SELECT count(*) FROM attempts")" = \
		"$jobs $attempts"
	t_check "v$v: parent 2001 has the old request and the new one COMPLETED" test \
		"$(q "$db" "SELECT count(*) FROM requests WHERE user_id = 2001 AND state = 'COMPLETED'
			AND asset_id = $asset")" = 2

	# A new parent, a new name: rendered and sent, saying the frame size
	# and duration its validation read (migration 10).
	msg=""
	parent_confirm 3001 "Даша" && msg=$(sim_expect 3001 '.method == "sendVideo"' 120)
	video=$(jq -r '.video.path // empty' <<<"$msg")
	t_check "v$v: a new name renders and is sent" test -s "$video"
	t_check "v$v: with its frame size and duration" \
		t_jq '(.params.width | tonumber) > 0 and (.params.height | tonumber) > 0 and
			(.params.duration | tonumber) > 0' <<<"$msg"
	t_check "v$v: its asset is AVAILABLE after one new attempt" test \
		"$(q "$db" "SELECT a.state || ' ' || count(t.id) FROM assets a
			JOIN attempts t ON t.asset_id = a.id WHERE a.name_key = 'даша'")" = "AVAILABLE 1"
	sim_stop
	[ "$t_failed" -eq "$failed" ] || t_show "$T/greetbotd-v$v.log"
}

for v in $(seq 1 "$newest"); do
	[ ! -f "$F/v$v.db" ] || upgrade "$v"
done

# An older program on a newer database: refused, naming both versions.
mkdir -p "$T/newer"
cp "$T/fresh/greetbot.db" "$T/newer/greetbot.db"
q "$T/newer/greetbot.db" "PRAGMA user_version = $((newest + 1))"
sim_start
if GB_NAME=newer GB_STATE=$T/newer gb_start 2>/dev/null; then
	t_fail "greetbotd does not start on a schema $((newest + 1)) database"
else
	t_ok "greetbotd does not start on a schema $((newest + 1)) database"
fi
wait "$GB_PID" && rc=0 || rc=$?
GB_PID=
t_check "and exits non-zero ($rc)" test "$rc" -ne 0
t_check "saying so, with both versions: $((newest + 1)), this program's $newest" \
	grep -qF "msg=\"the database is newer than this program: upgrade greetbot\" schema_version=$((newest + 1)) program_schema_version=$newest" \
	"$T/newer.log"
t_check "the database is left as it was" \
	test "$(q "$T/newer/greetbot.db" "PRAGMA user_version")" = $((newest + 1))
t_done

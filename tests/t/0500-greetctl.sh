#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# greetctl, the operator's command line: templates (list, lint with a sample
# render, preview with a contact sheet), queries over a real order, parked
# work, a message through the outbox, a conversation through tgsim, exit
# codes.
. "$(dirname "$0")/../lib.sh"

G=$BIN/greetctl
# greetctl reads greetbotd's settings: here from the environment, as gb_start
# gives them to greetbotd.
export GREETBOT_STATE_DIR=$T/state GREETBOT_TEMPLATES_DIR=$TOP/templates \
	GREETBOT_RENDER_SCRIPT=$TOP/scripts/render.sh GREETBOT_MESSAGES_DIR=$TOP/messages
# Sample renders work in a temp tree under TMPDIR (searchable by the
# renderers' user).
mkdir -m 755 "$T/tmp"
export TMPDIR=$T/tmp

# exits CODE CMD...: CMD exits with CODE (its output is not shown).
exits() {
	local want=$1 rc=0
	shift
	"$@" >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq "$want" ]
}

# --- templates ---------------------------------------------------------------
t_check "template list shows the two greetings and the example, with version hashes and media" \
	t_jq 'map(.id) == ["en-birthday", "example", "ru-birthday"] and
		all(.[]; (.version | test("^[0-9a-f]{16}$")) and .media) and
		all(.[] | select(.id != "example"); .duration == 14)' \
	< <("$G" --json template list)
t_check "template list marks the default template in its table" \
	grep -qE '^ru-birthday +yes +ru +[0-9a-f]{16} +14 s +5\.\.20 s +ok$' < <("$G" template list)

"$G" template check ru-birthday >"$T/check.out" 2>&1 && rc=0 || rc=$?
t_check "template check ru-birthday exits 0" test "$rc" -eq 0
t_check "and rendered a sample through render.sh" grep -q '^ok: sample render of "Маша"' "$T/check.out"
t_check "and checked the voice with espeak-ng" grep -q '^ok: voice ru+f3 is installed' "$T/check.out"
[ "$rc" -eq 0 ] || t_show "$T/check.out"

# The example template (the starting point for one's own) has a render.sh
# of its own, which the check runs.
"$G" template check example >"$T/example.out" 2>&1 && rc=0 || rc=$?
t_check "template check example exits 0" test "$rc" -eq 0
t_check "with the template's own render script" \
	grep -qx "ok: render script $TOP/templates/example/render.sh" "$T/example.out"
t_check "which rendered a valid sample" grep -q '^ok: sample render of "Emma": a valid video' \
	"$T/example.out"
[ "$rc" -eq 0 ] || t_show "$T/example.out"

cp -R "$TOP/templates" "$T/templates"
rm "$T/templates/ru-birthday/media/background.mp4"
GREETBOT_TEMPLATES_DIR=$T/templates "$G" template check ru-birthday >"$T/broken.out" 2>&1 &&
	rc=0 || rc=$?
t_check "template check on a template without its background exits 1" test "$rc" -eq 1
t_check "naming the missing file" \
	grep -q '^error: background: cannot read media/background.mp4: No such file' "$T/broken.out"
t_check "--json says the same for scripts" \
	t_jq '.ok == false and .errors >= 1 and
		any(.findings[]; .level == "error" and (.message | contains("media/background.mp4")))' \
	< <(GREETBOT_TEMPLATES_DIR=$T/templates "$G" --json template check ru-birthday)
t_check "template list shows what is missing" \
	t_jq '.[] | select(.id == "ru-birthday") | .media == false and .missing == ["media/background.mp4"]' \
	< <(GREETBOT_TEMPLATES_DIR=$T/templates "$G" --json template list)

mkdir "$T/preview"
(cd "$T/preview" && "$G" template preview ru-birthday "  мАША ") >"$T/preview.out" 2>&1 &&
	rc=0 || rc=$?
t_check "template preview exits 0" test "$rc" -eq 0
probe=$(ffprobe -v error -print_format json -show_streams "$T/preview/Маша.mp4" 2>/dev/null) ||
	probe='{}'
t_check "and writes NAME.mp4 (display form) with H.264 video and AAC audio" \
	t_jq '[.streams[].codec_name] | index("h264") != null and index("aac") != null' <<<"$probe"
t_check "and a PNG contact sheet of 4x2 frames 320 wide" \
	test "$(ffprobe -v error -show_entries stream=codec_name,width -of csv=p=0 \
		"$T/preview/Маша.png" 2>/dev/null)" = png,1280
t_check "progress goes to stderr as plain lines when it is not a terminal" \
	grep -qx 'progress 1.00' "$T/preview.out"
t_check "-o names the output" exits 0 "$G" template preview -o "$T/preview/x.mp4" en-birthday Emma
t_check "and the sheet follows it" test -s "$T/preview/x.png"
t_check "a name the bot would refuse is refused (exit 1)" \
	exits 1 "$G" template preview ru-birthday "Маша2"
t_check "an unknown template: exit 1" exits 1 "$G" template check no-such-template
t_check "sample renders leave no temp tree behind" test -z "$(ls -A "$T/tmp")"

# --- queries over a real order -----------------------------------------------
t_check "before greetbotd ever ran there is no database: exit 1" exits 1 "$G" requests
sim_start
gb_start
# greetbotd listens on any port (127.0.0.1:0, as gb_start sets it):
# greetctl status finds it through state_dir/http.addr.
export GREETBOT_HTTP_LISTEN=127.0.0.1:0
video=$(parent_order 5001 "Ваня") || video=""
t_check "a parent ordered through greetbotd and got the video" test -s "$video"

t_check "requests --json: the order is COMPLETED" \
	t_jq 'length == 1 and .[0].state == "COMPLETED" and .[0].user_id == 5001 and
		.[0].name == "Ваня" and .[0].asset_state == "AVAILABLE"' < <("$G" --json requests)
t_check "requests --user --state filter" \
	t_jq 'length == 1' < <("$G" --json requests --user 5001 --state completed)
t_check "requests --state FAILED: none" t_jq 'length == 0' < <("$G" --json requests --state FAILED)
asset=$("$G" --json assets | jq -r '.[0].id')
t_check "assets: the video is AVAILABLE with a file_id" \
	t_jq '.[0].state == "AVAILABLE" and (.[0].file_id | length > 0) and .[0].attempts == 1' \
	< <("$G" --json assets)
t_check "attempts ASSET shows the ok attempt in a table" \
	grep -qE '^[0-9]+ +[0-9]+ +[^ ]+ +[0-9-]+ [0-9:]+ +[0-9.]+ +ok +0 ' < <("$G" attempts "$asset")
t_check "attempts --json: status, exit code, CPU time" \
	t_jq 'length == 1 and .[0].status == "ok" and .[0].exit_code == 0 and .[0].cpu_seconds > 0' \
	< <("$G" --json attempts "$asset")
t_check "users: the parent with the phone shared" \
	t_jq '.[0].user_id == 5001 and .[0].phone == "+79005001" and .[0].requests == 1' \
	< <("$G" --json users)
"$G" --json status >"$T/status.json" && rc=0 || rc=$?
t_check "status exits 0 while greetbotd is healthy" test "$rc" -eq 0
t_check "status: healthy, a job DONE, nothing waiting, nothing running" \
	t_jq '.greetbotd.healthy and .jobs.DONE == 1 and .queue.unpublished == 0 and
		.running == [] and .last_errors == [] and .greetbotd.workers >= 1' <"$T/status.json"
t_check "status for people" grep -qE '^greetbotd +healthy' < <("$G" status)
t_check "greetbotd published its HTTP address in state_dir/http.addr" \
	test "$(cat "$T/state/http.addr")" = "$GB_HTTP"
t_check "status exits 1 when greetbotd does not answer" \
	exits 1 env GREETBOT_HTTP_LISTEN=127.0.0.1:1 "$G" status
t_check "attempts of an unknown asset: exit 1" exits 1 "$G" attempts 999
t_check "retry of an AVAILABLE asset: exit 1, nothing enqueued" exits 1 "$G" retry "$asset"
t_check "retry --all-failed with none FAILED: exit 0" exits 0 "$G" retry --all-failed
t_check "no job was added" test "$(sqlite3 "$T/state/greetbot.db" "SELECT count(*) FROM jobs")" = 1

# --- parked work -----------------------------------------------------------------
# greetbot-tg parks an update the database refused three times for its own
# data (table parked); here one is put there by hand.
t_check "parked with nothing parked: (none), exit 0" grep -qx '(none)' < <("$G" parked)
t_check "parked --json: an empty array" t_jq 'length == 0' < <("$G" --json parked)
sqlite3 -cmd '.timeout 5000' "$T/state/greetbot.db" "INSERT INTO parked (bot_id, kind, ref, \
	error, payload, created_at) VALUES ('main', 'update', 424242, \
	'NOT NULL constraint failed: users.phone', \
	'{\"update_id\":424242,\"message\":{\"text\":\"hi\"}}', \
	CAST(strftime('%s', 'now') AS INTEGER))"
t_check "parked lists it: bot, kind, the update id, the error, when" \
	grep -qE '^[0-9]+ +main +update +424242 +NOT NULL constraint failed: users\.phone +[0-9-]+ [0-9:]+$' \
	< <("$G" parked)
t_check "parked --json: the row with its payload as JSON" \
	t_jq 'length == 1 and .[0].bot == "main" and .[0].kind == "update" and .[0].ref == 424242 and
		.[0].payload.message.text == "hi" and .[0].created_at > 0' < <("$G" --json parked)
t_check "parked -v: the payload below the table" grep -qx '        "text": "hi"' < <("$G" parked -v)
t_check "parked -v exits 0" exits 0 "$G" parked -v
t_check "status counts it, for all and for the bot" \
	t_jq '.parked == 1 and .bots[0].parked == 1' < <("$G" --json status)
t_check "status for people says where to look" \
	grep -qx '  parked     1 (see greetctl parked)' < <("$G" status)

# --- send through the outbox ---------------------------------------------------
t_check "send USER TEXT queues an outbox row" \
	t_jq '.chat_id == 5001 and .outbox_id > 0' < <("$G" --json send 5001 "Привет от оператора!")
t_check "and the simulated chat receives the text" \
	sim_expect 5001 '.method == "sendMessage" and .text == "Привет от оператора!"' 15
t_check "send to an unknown user: exit 1" exits 1 "$G" send 4242 "hello"

# --- --bot: one bot of the configuration -----------------------------------------
"$G" --bot nosuch users >/dev/null 2>"$T/nobot.err" && rc=0 || rc=$?
t_check "--bot with a bot the configuration has not: exit 2" test "$rc" -eq 2
t_check "naming the bots it has" \
	grep -q 'no bot "nosuch" in the configuration (bots: main)' "$T/nobot.err"
for cmd in users requests assets "attempts $asset" parked "template list"; do
	# shellcheck disable=SC2086 # the command and its argument
	t_check "--bot main $cmd shows what $cmd shows" \
		cmp -s <("$G" --json $cmd) <("$G" --bot main --json $cmd)
done
t_check "--bot main status too (greetbotd's own view aside)" \
	cmp -s <("$G" --json status | jq -S 'del(.greetbotd)') \
	<("$G" -b main --json status | jq -S 'del(.greetbotd)')
t_check "each row names its bot" \
	t_jq 'all(.[]; .bot == "main")' < <("$G" --json requests)
t_check "the status table has the bot, enabled" grep -qE '^bot main +enabled$' < <("$G" status)

# The same database with a second bot, kids, configured (not enabled).
cat >"$T/bots.conf" <<'EOF'
telegram_token = 100001:main-test-token

[bot kids]
telegram_token = 100002:kids-test-token
enabled = 0
EOF
B=("$G" -c "$T/bots.conf")
t_check "with two bots, status shows each, kids not enabled" \
	t_jq '[.bots[] | [.bot, .enabled]] == [["main", true], ["kids", false]]' \
	< <("${B[@]}" --json status)
t_check "--bot kids users: none yet" t_jq 'length == 0' < <("${B[@]}" --bot kids --json users)
t_check "send to a user only main knows takes main without --bot" \
	t_jq '.bot == "main" and .chat_id == 5001' < <("${B[@]}" --json send 5001 "Ещё раз привет")
sqlite3 -cmd '.timeout 5000' "$T/state/greetbot.db" "INSERT INTO users (bot_id, user_id, \
	chat_id, state, created_at, updated_at) VALUES ('kids', 5001, 5001, 'NEW', 0, 0)"
t_check "users shows the user of both bots" \
	t_jq 'map(select(.user_id == 5001) | .bot) == ["kids", "main"]' < <("${B[@]}" --json users)
"${B[@]}" send 5001 "hello" >/dev/null 2>"$T/send2.err" && rc=0 || rc=$?
t_check "send to a user of both bots without --bot: exit 2" test "$rc" -eq 2
t_check "asking for --bot" grep -q 'user 5001 has talked to bots kids, main: say which with --bot' \
	"$T/send2.err"
t_check "and nothing was queued" test "$(sqlite3 "$T/state/greetbot.db" \
	"SELECT count(*) FROM outbox WHERE params LIKE '%hello%'")" = 0
t_check "chat with two bots and no --bot: exit 2" \
	exits 2 "${B[@]}" chat --tgsim "$SIM_ADDR" --chat-id 1
t_check "--bot kids requests: none (main's are not shown)" \
	t_jq 'length == 0' < <("${B[@]}" --bot kids --json requests)
t_check "--bot kids attempts of main's asset: exit 1" exits 1 "${B[@]}" --bot kids attempts "$asset"
t_check "--bot kids parked: none (main's is not shown)" \
	t_jq 'length == 0' < <("${B[@]}" --bot kids --json parked)
t_check "--bot kids status: nothing parked" \
	t_jq '.parked == 0 and .bots == [{"bot": "kids", "enabled": false, "requests": {},
		"outbox": {}, "parked": 0}]' < <("${B[@]}" --bot kids --json status)
sqlite3 -cmd '.timeout 5000' "$T/state/greetbot.db" "DELETE FROM users WHERE bot_id = 'kids'"

# --- chat: a parent in the terminal, through tgsim ------------------------------
printf '/start\n!wait\n/contact\n!wait\nваня\n!wait\n!press 1\n' |
	"$G" chat --tgsim "$SIM_ADDR" --chat-id 5002 --linger 3 >"$T/chat.out" 2>&1 || true
t_check "chat shows the greeting with the contact keyboard" \
	grep -q 'keyboard: \[.*: type /contact\]' "$T/chat.out"
t_check "chat shows the voice preview with numbered buttons" \
	grep -qE '^ +\[1 .*\] \[2 .*\]$' "$T/chat.out"
t_check "!press 1 confirmed: the cached video arrives at once" grep -q '^bot \[video ' "$T/chat.out"
grep -q '^bot \[video ' "$T/chat.out" || t_show "$T/chat.out"

# --- retry: a FAILED asset goes back to greetbotd --------------------------------
# greetbotd again, now with a render script that fails once (exit 75) and
# no second attempt: the asset of the next order ends FAILED.
kill -TERM "$GB_PID"
wait "$GB_PID" || true
GREETBOT_MAX_ATTEMPTS=1 GB_RENDER_SCRIPT=$(t_flaky_render) gb_start
printf '/start\n!wait\n/contact\n!wait\nПетя\n!wait\n!press 1\n' |
	"$G" chat --tgsim "$SIM_ADDR" --chat-id 5003 --linger 5 >"$T/chat2.out" 2>&1 || true
t_check "an order whose render fails ends FAILED" \
	t_jq 'length == 1 and .[0].name == "Петя"' < <("$G" --json assets --state FAILED)
t_check "status lists the failed attempt among the last errors" \
	t_jq '.last_errors[0].status == "tempfail" and .last_errors[0].exit_code == 75' \
	< <("$G" --json status)
t_check "attempts shows the end of its stderr" \
	grep -qx '  temporary trouble' < <("$G" attempts "$("$G" --json assets --state FAILED | jq '.[0].id')")
export SIM_SEQ
SIM_SEQ=$(sim_wait 5003 0 1 0 | jq '[.messages[].seq] | max')
t_check "retry --all-failed re-enqueues it, its request waiting again" \
	t_jq 'length == 1 and .[0].requests == 1' < <("$G" --json retry --all-failed)
t_check "greetbotd renders it again and the parent gets the video" \
	sim_expect 5003 '.method == "sendVideo"' 60
t_check "the request is COMPLETED after attempts tempfail, ok" \
	test "$("$G" --json requests --user 5003 | jq -r '.[0].state'):$("$G" --json attempts \
		"$("$G" --json requests --user 5003 | jq '.[0].asset_id')" | jq -r 'map(.status) | join(",")')" = \
	COMPLETED:tempfail,ok

# --- bad usage -----------------------------------------------------------------
t_check "no command: exit 2" exits 2 "$G"
t_check "an unknown command: exit 2" exits 2 "$G" frobnicate
t_check "attempts without an asset: exit 2" exits 2 "$G" attempts
t_check "attempts with a word for an asset: exit 2" exits 2 "$G" attempts seven
t_check "requests --state with an unknown state: exit 2" exits 2 "$G" requests --state LOST
t_check "retry with both an asset and --all-failed: exit 2" exits 2 "$G" retry --all-failed 3
t_check "send an empty text: exit 2" exits 2 "$G" send 5001 "  "
t_check "template without a subcommand: exit 2" exits 2 "$G" template
t_check "template preview without a name: exit 2" exits 2 "$G" template preview ru-birthday
t_check "chat without --tgsim: exit 2" exits 2 "$G" chat --chat-id 1
t_check "--bot without an id: exit 2" exits 2 "$G" users --bot
t_check "parked with an argument: exit 2" exits 2 "$G" parked 3
t_check "--help: exit 0" exits 0 "$G" --help
t_done

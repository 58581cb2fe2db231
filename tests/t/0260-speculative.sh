#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Speculative rendering: the video's render starts when the preview is
# sent, at a lower CPU priority, before the parent confirms. A confirm
# while it runs makes it an ordinary render (normal priority, one render);
# a confirm after it finished finds the video ready. A confirmed job never
# waits for a speculative one: with one worker, it stops it (preempted:
# no attempt used up) and the speculative one runs again later. A
# speculative render that fails costs the parent nothing: the confirm
# starts a job of its own. An unconfirmed render stays a cached video. A
# job started from SQLite by a node that died is taken back by a live one;
# one that never started within the hour expires.
. "$(dirname "$0")/../lib.sh"

db=$T/state/greetbot.db
count() { sqlite3 "$db" "$1"; }

# The video render of a name waits at its gate ($T/gate/<name>) when one
# exists, says its nice value, and "Вера" fails its first attempt.
real=$(t_render_copy)
mkdir -m 777 "$T/gate"
cat >"$T/gated-render.sh" <<EOF
#!/usr/bin/env bash
if [ "\${GREETBOT_MODE:-video}" = video ]; then
	echo "nice=\$(ps -o ni= -p \$\$ | tr -d ' ')" >&2
	echo \$\$ >"$T/gate/pid.\$GREETBOT_NAME"
	while [ -e "$T/gate/\$GREETBOT_NAME" ]; do sleep 0.05; done
	if [ "\$GREETBOT_NAME" = Вера ] && [ ! -e "$T/gate/failed-once" ]; then
		: >"$T/gate/failed-once"
		echo "temporary trouble" >&2
		exit 75
	fi
fi
exec "$real"
EOF
chmod 755 "$T/gated-render.sh"

sim_start
GB_RENDER_SCRIPT=$T/gated-render.sh GREETBOT_WORKERS=1 gb_start

# preview CHAT NAME: a parent up to the preview; prints the preview.
preview() {
	# shellcheck disable=SC2034 # read by sim_expect
	SIM_SEQ=0
	sim_post message chat_id="$1" text=/start first_name=P language_code=ru >/dev/null
	sim_expect "$1" '.reply_markup.keyboard[0][0].request_contact == true' >/dev/null
	sim_post contact chat_id="$1" phone_number="7900$1" first_name=P language_code=ru >/dev/null
	sim_expect "$1" '.method == "sendMessage"' >/dev/null
	sim_post message chat_id="$1" text="$2" language_code=ru >/dev/null
	sim_expect "$1" '.method == "sendVoice"'
}
# confirm CHAT PREVIEW: press its Confirm.
confirm() {
	sim_post callback chat_id="$1" message_id="$(jq -r .message_id <<<"$2")" \
		data="$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$2")" >/dev/null
}
# render_pid NAME: the render script's pid, once it waits at the gate.
render_pid() {
	t_wait_log "$T/gate/pid.$1" '^[0-9]+$' 30 && cat "$T/gate/pid.$1"
}

# 1. Confirmed while the speculative render runs.
: >"$T/gate/Аня"
p=$(preview 26001 "Аня") || p='{}'
t_check "the preview starts a speculative render" \
	t_wait_log "$T/greetbotd.log" 'msg="render started" job=1 .* speculative=1'
t_check "with no request yet" test "$(count "SELECT count(*) FROM requests")" = 0
pid=$(render_pid Аня) || pid=""
t_check "at a lower CPU priority (nice 10)" test "$(ps -o ni= -p "$pid" | tr -d ' ')" = 10
confirm 26001 "$p"
t_check "Confirm makes it an ordinary render" \
	t_wait_log "$T/greetbotd.log" 'proc=greetbotd-jobs msg="speculative render confirmed" job=1'
t_check "at the normal priority" test "$(ps -o ni= -p "$pid" | tr -d ' ')" = 0
rm "$T/gate/Аня"
msg=$(sim_expect 26001 '.method == "sendVideo"' 60) || msg='{}'
t_check "the parent gets the video" test -s "$(jq -r '.video.path // ""' <<<"$msg")"
t_check "from one render and one job" \
	test "$(count "SELECT count(*) FROM attempts")/$(count "SELECT count(*) FROM jobs")" = 1/1

# 2. Confirmed after the speculative render finished: the video is there.
p=$(preview 26002 "Боря") || p='{}'
t_check "a speculative render of the next name finishes unconfirmed" \
	t_wait_log "$T/greetbotd.log" 'msg="render finished" job=2 .* status=ok'
t_check "its video is kept with no request" \
	test "$(count "SELECT state FROM assets WHERE name_key = 'боря'")" = AVAILABLE
confirm 26002 "$p"
msg=$(sim_expect 26002 '.method == "sendVideo"' 30) || msg='{}'
t_check "Confirm sends it at once" test -s "$(jq -r '.video.path // ""' <<<"$msg")"
t_check "with no 'order accepted' before it and no new render" \
	test "$(sim_wait 26002 0 1 0 | jq '[.messages[] | select((.text // "") |
		startswith("Заказ принят"))] | length')/$(count "SELECT count(*) FROM attempts")" = 0/2

# 3. One worker, busy with a speculative render: a confirmed job takes it.
: >"$T/gate/Вика"
preview 26003 "Вика" >/dev/null || true
t_check "a speculative render holds the only worker" \
	t_wait_log "$T/greetbotd.log" 'msg="render started" job=3 .* speculative=1'
p=$(preview 26004 "Глеб") || p='{}'
confirm 26004 "$p"
msg=$(sim_expect 26004 '.method == "sendVideo"' 60) || msg='{}'
t_check "a confirmed name does not wait for it" test -s "$(jq -r '.video.path // ""' <<<"$msg")"
t_check "the speculative render was preempted" \
	test "$(count "SELECT status FROM attempts WHERE job_id = 3 ORDER BY id LIMIT 1")" = preempted
rm "$T/gate/Вика"
t_check "and runs again once the worker is free" \
	t_wait_log "$T/greetbotd.log" 'msg="render finished" job=3 .* status=ok'
t_check "the preemption used up no attempt" \
	test "$(count "SELECT state || attempts FROM jobs WHERE id = 3")" = DONE1

# 4. A speculative render that fails: no notice; the confirm renders anew.
p=$(preview 26005 "Вера") || p='{}'
t_check "the speculative render fails" \
	t_wait_log "$T/greetbotd.log" 'msg="render finished" job=5 .* status=tempfail'
t_check "it is not retried" test "$(count "SELECT state FROM jobs WHERE id = 5")" = FAILED
confirm 26005 "$p"
msg=$(sim_expect 26005 '.method == "sendVideo"' 60) || msg='{}'
t_check "Confirm renders it in a job of its own and the video arrives" \
	test -s "$(jq -r '.video.path // ""' <<<"$msg")"
t_check "and the parent never heard of the failure" \
	test "$(sim_wait 26005 0 1 0 | jq '[.messages[] | select(.reply_markup.inline_keyboard[0][0].callback_data // "" |
		startswith("retry:"))] | length')" = 0
t_check "the speculative attempt ran at nice 10, the confirmed one at 0" \
	test "$(count "SELECT group_concat(stderr_tail LIKE '%nice=10%', ' ') || '/' ||
		group_concat(stderr_tail LIKE '%nice=0%', ' ') FROM (SELECT stderr_tail FROM attempts
		WHERE asset_id = (SELECT asset_id FROM jobs WHERE id = 5) ORDER BY id)")" = "1 0/0 1"

# 5. A node that died while running a job it started from SQLite leaves
# no stream entry for XAUTOCLAIM: a live node takes the job back once no
# render could still be running (here: one left by a node "ghost").
kill -TERM "$GB_PID"
wait "$GB_PID" || true
count "INSERT INTO assets (bot_id, template_id, template_version, name_key, display_name,
	state, created_at, updated_at) SELECT bot_id, template_id, template_version, 'дина',
	'Дина', 'GENERATING', 0, 0 FROM assets LIMIT 1;
	INSERT INTO jobs (asset_id, state, attempts, node, speculative, created_at, updated_at)
	VALUES (last_insert_rowid(), 'RUNNING', 1, 'ghost', 1, 0, 0);
	INSERT INTO attempts (job_id, asset_id, node, started_at) SELECT id, asset_id, 'ghost',
	0 FROM jobs WHERE node = 'ghost';
	INSERT INTO assets (bot_id, template_id, template_version, name_key, display_name,
	state, created_at, updated_at) SELECT bot_id, template_id, template_version, 'ева',
	'Ева', 'PENDING', 0, 0 FROM assets LIMIT 1;
	INSERT INTO jobs (asset_id, state, speculative, created_at, updated_at)
	VALUES (last_insert_rowid(), 'QUEUED', 1, 0, 0)" >/dev/null
eva=$(count "SELECT id FROM assets WHERE name_key = 'ева'")
GB_RENDER_SCRIPT=$T/gated-render.sh GREETBOT_WORKERS=1 gb_start
t_check "the dead node's job is taken back" \
	t_wait_log "$T/greetbotd.log" 'msg="jobs of a node that stopped taken back" jobs=1'
t_check "and rendered here" \
	t_wait_log "$T/greetbotd.log" "msg=\"render finished\" job=$(count "SELECT id FROM jobs
		WHERE asset_id = (SELECT id FROM assets WHERE name_key = 'дина')") .* status=ok"
t_check "its attempt on the dead node is recorded as abandoned" \
	test "$(count "SELECT status FROM attempts WHERE node = 'ghost'")" = abandoned
# A speculative job that never started within the hour: the parent did not
# confirm; it is not rendered, and goes with its asset.
t_check "a speculative job unstarted for an hour expires" \
	t_wait_log "$T/greetbotd.log" 'msg="speculative jobs expired unstarted" jobs=1'
t_check "without a render, its asset gone too" test "$(count "SELECT count(*) FROM assets
	WHERE name_key = 'ева'")/$(grep -c "msg=\"render started\" job=[0-9]* asset=$eva " \
	"$T/greetbotd.log")" = 0/0
t_done

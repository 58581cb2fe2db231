#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Support: greetctl cancel REQUEST cancels a parent's waiting order (the
# parent is told and never gets the video); a render another parent waits
# for goes on, one nobody waits for is cancelled before it starts (the
# next order of the name renders it), a running one finishes and its video
# is kept. greetctl block USER: the bot serves the parent nothing (no
# preview, no order) and says so politely, once; their waiting order is
# cancelled; greetctl unblock lets them carry on where they were.
. "$(dirname "$0")/../lib.sh"

# greetctl as an operator runs it (without the suite's own variables,
# which it would warn about).
ctl() { env -u GREETBOT_TEST_UID_OFFSET "$BIN/greetctl" "$@"; }
export GREETBOT_STATE_DIR=$T/state GREETBOT_TEMPLATES_DIR=$GB_TEMPLATES_DIR \
	GREETBOT_RENDER_SCRIPT=$TOP/scripts/render.sh GREETBOT_MESSAGES_DIR=$TOP/messages

# One worker whose video renders wait while $T/gate/hold-NAME exists: the
# first order runs (held), the next ones queue behind it. No speculative
# renders: a preview would take the worker.
real=$(t_render_copy)
mkdir -m 755 "$T/gate"
: >"$T/gate/hold-Катя"
cat >"$T/gated-render.sh" <<EOF
#!/usr/bin/env bash
if [ "\${GREETBOT_MODE:-video}" = video ]; then
	while [ -e "$T/gate/hold-\$GREETBOT_NAME" ]; do sleep 0.05; done
fi
exec "$real"
EOF
chmod 755 "$T/gated-render.sh"
sim_start
GB_RENDER_SCRIPT=$T/gated-render.sh GREETBOT_WORKERS=1 GREETBOT_SPECULATE=0 gb_start
db=$T/state/greetbot.db

# order CHAT NAME: the parent confirms the name and is told it is accepted.
order() {
	parent_confirm "$1" "$2" && sim_expect "$1" '.text // "" | startswith("Заказ принят")' >/dev/null
}
# request_of CHAT: the parent's latest request, as greetctl shows it.
request_of() { ctl --json requests --user "$1" | jq -r 'last | .id'; }

order 5401 "Катя"
t_check "the first order renders (held at the gate)" \
	t_wait_log "$T/greetbotd.log" 'msg="render started"'
order 5402 "Лена"
order 5403 "лена"
order 5407 "Оля"
r1=$(request_of 5401)
r2=$(request_of 5402)
r3=$(request_of 5403)

# --- cancel ------------------------------------------------------------------
out=$(ctl cancel "$r2") || out=""
t_check "cancel of one of two requests for «Лена»: cancelled, its job goes on for the other" \
	grep -qx "job [0-9]* still renders it for 1 other request(s)" <<<"$out"
t_check "and says the parent is told and not sent the video" \
	grep -q "^request $r2 (user 5402, bot main, \"Лена\") cancelled: the parent is told" <<<"$out"
t_check "the parent's \"order accepted\" message goes" \
	sim_expect 5402 '.method == "deleteMessage"' 30
t_check "and they are told in their language" \
	sim_expect 5402 '.text == "Заказ видео «Лена» отменён."' 30
out=$(ctl --json cancel "$r3") || out=""
t_check "cancel of the last request for «Лена»: its job is cancelled before it starts" \
	t_jq '.job_cancelled == true and .others == 0 and .name == "Лена"' <<<"$out"
t_check "its asset is FAILED (so the next order of the name renders it)" \
	t_jq 'any(.[]; .name == "Лена")' < <(ctl --json assets --state FAILED)
out=$(ctl cancel "$r1") || out=""
t_check "cancel of a running render's only request: it finishes, its video kept" \
	grep -qx "job [0-9]* is rendering and finishes: its video is kept for the next parent who asks" <<<"$out"
ctl cancel "$r1" >/dev/null 2>"$T/err" && rc=0 || rc=$?
t_check "cancelling it again exits 1, saying why" \
	test "$rc" = 1 -a "$(cat "$T/err")" = "greetctl: request $r1 is CANCELLED, not PENDING: nothing to cancel"
ctl cancel 999999 >/dev/null 2>&1 && rc=0 || rc=$?
t_check "an unknown request exits 1" test "$rc" = 1

# --- block -------------------------------------------------------------------
out=$(ctl block 5407) || out=""
t_check "block a parent with an order waiting: it is cancelled, untold" \
	grep -q "^user 5407 blocked (bot main): 1 open request(s) cancelled" <<<"$out"
t_check "a second block says so" grep -qx "user 5407 was blocked already (bot main)" \
	< <(ctl block 5407)
t_check "greetctl users shows when the operator blocked them" \
	t_jq '.[] | select(.user_id == 5407) | .barred_at > 0' < <(ctl --json users)

# The held render ends: its video is kept, sent to no one who cancelled.
rm "$T/gate/hold-Катя"
t_check "the running render finishes" \
	t_wait_log "$T/greetbotd.log" 'msg="render finished" job=[0-9]+ asset=[0-9]+ status=ok'
video=$(parent_order 5404 "катя") || video=""
t_check "the next parent who asks for «Катя» gets the kept video" test -s "$video"
t_check "without a second render" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM attempts t JOIN assets a ON a.id = t.asset_id
		WHERE a.name_key = 'катя'")" = 1
video=$(parent_order 5405 "Лена") || video=""
t_check "a new order of «Лена» renders it anew and is delivered" test -s "$video"
for c in 5401 5402 5403 5407; do
	t_check "parent $c, cancelled, got no video" \
		t_jq '[.messages[] | select(.method == "sendVideo")] | length == 0' < <(sim_wait "$c" 0 1 0)
done

# The blocked parent writes: one polite line, whatever they send, and no
# preview; after unblock the bot carries on.
n0=$(sim_wait 5407 0 1 0 | jq '.messages | length')
# shellcheck disable=SC2034 # read by sim_expect (scripts/sim.sh)
SIM_SEQ=$n0
sim_post message chat_id=5407 text="Маша" >/dev/null
t_check "a blocked parent who writes is told politely" \
	sim_expect 5407 '.text // "" | startswith("Извините, бот не может принимать ваши заказы")' 30
sim_post message chat_id=5407 text=/start >/dev/null
sim_post message chat_id=5407 text="Даша" >/dev/null
t_check "the bot read all three" \
	t_wait_log "$T/greetbotd.log" 'msg="update from a blocked user" user=5407' 30 3
t_check "unblock says so" grep -qx "user 5407 unblocked (bot main): the bot serves them again" \
	< <(ctl unblock 5407)
sim_post message chat_id=5407 text=/start >/dev/null
t_check "after unblock the bot answers again" \
	sim_expect 5407 '.reply_markup.keyboard[0][0].request_contact == true' 30
t_check "while blocked: told once, no preview, no other reply" \
	t_jq '.messages | length == 2' < <(sim_wait 5407 "$n0" 1 0)
t_done

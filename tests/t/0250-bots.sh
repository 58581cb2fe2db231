#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Several bots in one configuration, each against its own tgsim (its own
# token, as two Telegram bots are). greetbotd runs a greetbot-tg per
# enabled bot. The same name on both bots with the same template version
# renders once, and each bot uploads the video itself and then sends only
# its own file_id (the other tgsim would refuse a foreign one); with
# different templates it renders twice. Disabling a bot and SIGHUP stops
# its process and no other; enabling it starts it again.
. "$(dirname "$0")/../lib.sh"

db=$T/state/greetbot.db
count() { sqlite3 "$db" "$1"; }

# Bot "family" talks to tgsim A, bot "kids" to tgsim B.
SIM_TOKEN=111111:family-secret-token sim_start
sim_a=$SIM_ADDR
t_track "$SIM_PID"
mkdir -p "$T/simB"
SIM_DIR=$T/simB SIM_TOKEN=222222:kids-secret-token sim_start
sim_b=$SIM_ADDR
t_track "$SIM_PID"
SIM_PID=

# The video render of a name waits while $T/gate/hold-NAME exists, so
# that an order on the second bot arrives while the first bot's render
# runs, and fails (78, no retry) while $T/gate/fail-NAME exists.
real=$(t_render_copy)
mkdir -m 755 "$T/gate"
: >"$T/gate/hold-Маша"
cat >"$T/gated-render.sh" <<EOF
#!/usr/bin/env bash
if [ "\${GREETBOT_MODE:-video}" = video ]; then
	while [ -e "$T/gate/hold-\$GREETBOT_NAME" ]; do sleep 0.05; done
	[ ! -e "$T/gate/fail-\$GREETBOT_NAME" ] || exit 78
fi
exec "$real"
EOF
chmod 755 "$T/gated-render.sh"

printf '%s\n' 222222:kids-secret-token >"$T/kids.token"
chmod 640 "$T/kids.token"
[ "$(id -u)" -ne 0 ] || chgrp "$((GREETBOT_RENDER_UID_BASE - 1))" "$T/kids.token"
conf=$T/bots.conf
write_conf() {
	cat >"$conf" <<EOF
# two bots, one queue
default_template = ru-birthday

[bot family]
telegram_token = 111111:family-secret-token
telegram_api_url = http://$sim_a

[bot kids]
telegram_token_file = $T/kids.token
telegram_api_url = http://$sim_b
default_template = $1
enabled = $2
EOF
	# Secret, but for the bots' service user, who re-read it on SIGHUP
	# (as root: the unnamed service user's group is render_uid_base - 1).
	chmod 640 "$conf"
	[ "$(id -u)" -ne 0 ] || chgrp "$((GREETBOT_RENDER_UID_BASE - 1))" "$conf"
}
write_conf ru-birthday 1
# The templates where the bots' service user may read them again at a
# reload (the checkout may be in a directory it cannot search).
cp -R "$GB_TEMPLATES_DIR" "$T/templates"
chmod -R a+rX "$T/templates"
SIM_TOKEN="" GB_TEMPLATES_DIR=$T/templates GB_RENDER_SCRIPT=$T/gated-render.sh GREETBOT_WORKERS=2 \
	gb_start -c "$conf"

bot_pid() { pgrep -P "$GB_PID" -f "greetbot-tg -b $1( |\$)"; }
family=$(bot_pid family) || family=""
kids=$(bot_pid kids) || kids=""
t_check "greetbotd runs a greetbot-tg per bot" test -n "$family" -a -n "$kids"
t_check "each bot's log lines name it" \
	t_wait_log "$T/greetbotd.log" 'proc=greetbot-tg bot=kids msg=started'

# The same name on both bots: one render, two uploads.
(SIM_ADDR=$sim_a parent_order 5001 "Маша" >"$T/video.f1" 2>&1) &
p1=$!
t_check "the family bot's render starts" t_wait_log "$T/greetbotd.log" 'msg="render started"'
SIM_ADDR=$sim_b parent_confirm 6001 "маша"
t_check "the kids bot's order waits for that render, with no job of its own" \
	t_wait_log "$T/greetbotd.log" 'msg="asset state" asset=[0-9]+ from=[A-Z]+ to=PENDING cause=shared waits_for=[0-9]+'
rm "$T/gate/hold-Маша"
wait "$p1" || true
t_check "the family parent got the video" test -s "$(tail -1 "$T/video.f1")"
msg=$(SIM_ADDR=$sim_b sim_expect 6001 '.method == "sendVideo"' 60) || msg=""
t_check "the kids parent got the video" test -s "$(jq -r '.video.path // ""' <<<"$msg")"
t_check "from one render" test "$(count "SELECT count(*) FROM attempts")" = 1
t_check "and one job" test "$(count "SELECT count(*) FROM jobs")" = 1
t_check "with the same picture" cmp -s "$(tail -1 "$T/video.f1")" "$(jq -r .video.path <<<"$msg")"
t_check "two assets, one per bot, each with its own file_id" \
	test "$(count "SELECT count(DISTINCT file_id) || '/' || count(DISTINCT bot_id) FROM assets
		WHERE state = 'AVAILABLE' AND file_id IS NOT NULL")" = 2/2
t_check "each caption in its bot's texts" t_jq '.caption | contains("Маша")' <<<"$msg"

# Later parents get it by their bot's file_id: the other tgsim would
# answer 400 to a file_id it never gave out.
v2=$(SIM_ADDR=$sim_a parent_order 5002 "МАША") || v2=""
t_check "a second family parent gets the video" test -s "$v2"
SIM_ADDR=$sim_b parent_order 6002 "Маша" >/dev/null || true
msg=$(SIM_ADDR=$sim_b sim_wait 6002 0 1 0) || msg=""
t_check "a second kids parent gets it by the kids bot's file_id" \
	t_jq --arg f "$(count "SELECT file_id FROM assets WHERE bot_id = 'kids'")" \
	'[.messages[] | select(.method == "sendVideo")][0].params.video == $f' <<<"$msg"
t_check "no render for them" test "$(count "SELECT count(*) FROM attempts")" = 1
# video_kinds SIM CHAT...: how each chat's video came: an upload shows as
# an object (the file received), a file_id as a string.
video_kinds() {
	local sim=$1 c
	shift
	for c in "$@"; do
		SIM_ADDR=$sim sim_wait "$c" 0 1 0 |
			jq -r '.messages[] | select(.method == "sendVideo") | .params.video | type'
	done | tr '\n' ' '
}
t_check "the family bot uploaded once, then sent its file_id" \
	test "$(video_kinds "$sim_a" 5001 5002)" = "object string "
t_check "so did the kids bot" test "$(video_kinds "$sim_b" 6001 6002)" = "object string "
t_check "no call was refused by either tgsim" \
	test "$(curl -fsS "http://$sim_a/control/stats" | jq .rejected)/$(curl -fsS \
		"http://$sim_b/control/stats" | jq .rejected)" = 0/0

# A shared render that fails fails for both bots' parents; their retries
# share one render again.
: >"$T/gate/hold-Ошибка"
: >"$T/gate/fail-Ошибка"
(SIM_ADDR=$sim_a parent_failed 5011 "Ошибка" >"$T/notice.f" 2>&1) &
p1=$!
t_check "a render of a name that fails starts" \
	t_wait_log "$T/greetbotd.log" 'msg="render started"' 30 2
SIM_ADDR=$sim_b parent_confirm 6011 "Ошибка"
t_check "the kids bot shares it" \
	t_wait_log "$T/greetbotd.log" 'msg="asset state" asset=[0-9]+ from=[A-Z]+ to=PENDING cause=shared waits_for=[0-9]+' 30 2
rm "$T/gate/hold-Ошибка"
wait "$p1" || true
notice_b=$(SIM_ADDR=$sim_b sim_expect 6011 '.reply_markup.inline_keyboard[0][0].callback_data //
	"" | startswith("retry:")' 60) || notice_b='{}'
t_check "both parents hear of the failure, each with a retry button of their bot's asset" \
	test "$(tail -1 "$T/notice.f" | jq -r '.reply_markup.inline_keyboard[0][0].callback_data')/$(jq -r \
		'.reply_markup.inline_keyboard[0][0].callback_data' <<<"$notice_b")" = "retry:$(count \
		"SELECT id FROM assets WHERE name_key = 'ошибка' AND bot_id = 'family'")/retry:$(count \
		"SELECT id FROM assets WHERE name_key = 'ошибка' AND bot_id = 'kids'")"
rm "$T/gate/fail-Ошибка"
: >"$T/gate/hold-Ошибка"
press_retry() {
	SIM_ADDR=$1 sim_post callback chat_id="$2" message_id="$(jq -r .message_id <<<"$3")" \
		data="$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$3")" >/dev/null
}
press_retry "$sim_a" 5011 "$(tail -1 "$T/notice.f")"
t_check "the family parent's retry renders again" \
	t_wait_log "$T/greetbotd.log" 'msg="render started"' 30 3
press_retry "$sim_b" 6011 "$notice_b"
t_check "the kids parent's retry shares that render" \
	t_wait_log "$T/greetbotd.log" 'msg="retry pressed"' 30 2
rm "$T/gate/hold-Ошибка"
v_f=$(SIM_SEQ=0 SIM_ADDR=$sim_a sim_expect 5011 '.method == "sendVideo"' 60) || v_f=""
v_k=$(SIM_SEQ=0 SIM_ADDR=$sim_b sim_expect 6011 '.method == "sendVideo"' 60) || v_k=""
t_check "both parents get the video" test -n "$v_f" -a -n "$v_k"
t_check "from one render after the failure" test "$(count "SELECT count(*) FROM attempts a JOIN
	assets s ON s.id = a.asset_id WHERE s.name_key = 'ошибка' AND a.status = 'ok'")" = 1

# Different templates: the same name renders once per template.
write_conf en-birthday 1
kill -HUP "$GB_PID"
t_check "the kids bot reloads its own template" \
	t_wait_log "$T/greetbotd.log" 'proc=greetbot-tg bot=kids msg=reloaded'
v3=$(SIM_ADDR=$sim_a parent_order 5003 "Даша") || v3=""
v4=$(SIM_ADDR=$sim_b parent_order 6003 "Даша" en) || v4=""
t_check "with different templates both parents get a video" test -s "$v3" -a -s "$v4"
t_check "from two renders" test "$(count "SELECT count(*) FROM attempts a JOIN assets s ON
	s.id = a.asset_id WHERE s.name_key = 'даша' AND a.status = 'ok'")" = 2
t_check "one per template" test "$(count "SELECT group_concat(template_id, ' ') FROM (SELECT
	template_id FROM assets WHERE name_key = 'даша' ORDER BY template_id)")" = "en-birthday ru-birthday"

# Disabling a bot stops it alone.
write_conf en-birthday 0
kill -HUP "$GB_PID"
t_check "SIGHUP stops the disabled bot" \
	t_wait_log "$T/greetbotd.log" 'msg="child stopped" child=greetbot-tg\[kids\]'
t_check "its process is gone" sh -c "! kill -0 $kids 2>/dev/null"
t_check "the other bot's process was not touched" test "$(bot_pid family)" = "$family"
t_check "and is not restarted" sh -c "! pgrep -P $GB_PID -f 'greetbot-tg -b kids'"
t_check "/health is fine with a disabled bot" curl -fsS "http://$GB_HTTP/health"
metrics=$(curl -fsS "http://$GB_HTTP/metrics")
t_check "/metrics shows each bot up or not" test "$(grep '^greetbot_bot_up{' <<<"$metrics" |
	tr '\n' ' ')" = 'greetbot_bot_up{bot="family"} 1 greetbot_bot_up{bot="kids"} 0 '
t_check "/metrics counts each bot's calls" \
	grep -q '^greetbot_telegram_calls_total{bot="kids",method="sendVideo",result="ok"} 4$' <<<"$metrics"
t_check "/metrics counts each bot's requests" \
	grep -q '^greetbot_requests{bot="family",state="COMPLETED"} 4$' <<<"$metrics"
SIM_ADDR=$sim_a sim_post message chat_id=5009 text=/help language_code=ru >/dev/null
t_check "the family bot still answers" \
	t_jq '.messages | length == 1' <<<"$(SIM_ADDR=$sim_a sim_wait 5009 0 1 30)"

write_conf en-birthday 1
kill -HUP "$GB_PID"
t_check "enabling it again starts it" \
	t_wait_log "$T/greetbotd.log" 'msg="child started" child=greetbot-tg\[kids\]' 30 2
SIM_ADDR=$sim_b sim_post message chat_id=6009 text=/help language_code=ru >/dev/null
t_check "and it answers" t_jq '.messages | length == 1' <<<"$(SIM_ADDR=$sim_b sim_wait 6009 0 1 30)"
t_check "no token in any log" sh -c "! grep -lE 'family-secret-token|kids-secret-token' \
	$T/*.log $T/simB/*.log"
t_done

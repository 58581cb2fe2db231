#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# What an attacker can reach through the chat and the network, against real
# processes (tgsim, greetbotd with its redis-server, greetbot-tg, render.sh):
# - greetbotd's HTTP binds to loopback by default (http_listen not set), and
#   nothing of its process tree listens anywhere else;
# - forged button presses: another parent's retry:<asset> (the presser has a
#   FAILED order of their own: 0400 only tries someone with no order), and
#   malformed, empty, unknown, non-numeric, signed, padded, huge (wrapping
#   an int to the current pending_seq) and over-64-byte data: each is
#   answered "no longer valid" and changes nothing in jobs, requests,
#   assets, users or the outbox; the real buttons, pressed the same way, do;
# - contacts that are not the sender's (no user_id; another existing
#   user's id: 0200 tries an unknown id and checks only the reply): refused,
#   no phone stored, no one else's phone touched, the conversation stays
#   at the contact step;
# - names built to inject into a shell, an ffmpeg filtergraph or SQL: those
#   the validator refuses get its specific reply and store nothing; those it
#   accepts (apostrophes and hyphens between letters) are ordered through
#   the bot and rendered: the stored name is the display form, the parent
#   gets the video, no file was created by a payload, the database is
#   intact. (0020 renders such names with render.sh directly.)
# The bot token on error paths is 0710's.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

db=$T/state/greetbot.db
# Payloads write under P: a directory whose path has only letters, so that
# what the validator says about a payload does not depend on the random
# part (a dot or a digit would change the reason). Writable by anyone, as
# a renderer runs unprivileged.
P=/tmp/gbsec$(tr -dc a-z </dev/urandom | head -c 10)
mkdir -m 1777 "$P"
trap 'rm -rf "$P"; t_cleanup' EXIT

# A render script that fails (exit 75, once: max_attempts 1) for names
# starting with "Провал" and is render.sh for every other name.
render=$(t_render_copy)
cat >"$T/render-some-fail.sh" <<EOF
#!/bin/sh
case \${GREETBOT_MODE:-video}:\$GREETBOT_NAME in
video:Провал*) echo "failing on purpose" >&2; exit 75 ;;
esac
exec "$render"
EOF
chmod 755 "$T/render-some-fail.sh"

# greetbotd with http_listen left at its default: gb_start sets
# GREETBOT_HTTP_LISTEN, so run it through a greetbotd that unsets it (it
# finds greetbot-tg beside the real binary, through /proc/self/exe).
mkdir "$T/bin"
printf '#!/bin/sh\nunset GREETBOT_HTTP_LISTEN\nexec "%s/greetbotd" "$@"\n' "$BIN" >"$T/bin/greetbotd"
chmod 755 "$T/bin/greetbotd"

sim_start
# One reply a second per chat is not what this test is about.
# No speculative renders (tests/t/0260): the presses below must change
# nothing, and a render started by a preview would change rows meanwhile.
export GREETBOT_MAX_ATTEMPTS=1 GREETBOT_RATE_CHAT=20 GB_RENDER_SCRIPT=$T/render-some-fail.sh \
	GREETBOT_SPECULATE=0
default_http=0
if [ -z "$(ss -Hltn 'sport = :8080')" ] && BIN=$T/bin gb_start; then
	default_http=1
else
	# 8080 is taken (or was taken in between): any port, as every test.
	[ -z "${GB_PID:-}" ] || wait "$GB_PID" 2>/dev/null || true
	gb_start
fi

# --- greetbotd's HTTP is on loopback only ------------------------------------
if [ "$default_http" = 1 ]; then
	t_check "greetbotd without http_listen reports ready on 127.0.0.1:8080" \
		test "$GB_HTTP" = 127.0.0.1:8080
	t_check "and publishes that address in state_dir/http.addr" \
		test "$(cat "$T/state/http.addr")" = 127.0.0.1:8080
	t_check "greetctl status (default http_listen) finds it healthy there" \
		t_jq '.greetbotd.healthy == true' < <(env -u GREETBOT_HTTP_LISTEN \
			GREETBOT_STATE_DIR="$T/state" "$BIN/greetctl" --json status)
else
	t_skip "port 8080 is in use: the default http_listen cannot be started"
fi
port=${GB_HTTP##*:}
t_check "/health answers on 127.0.0.1:$port" curl -fsS -m 2 "http://127.0.0.1:$port/health"
others=()
while read -r a; do
	others+=("$a")
done < <(ip -4 -o addr show | awk '{ sub("/.*", "", $4); if ($4 !~ /^127\./) print $4 }')
# Every 127/8 address is this machine, but not 127.0.0.1.
others+=(127.0.0.2)
[ ! -e /proc/net/if_inet6 ] || others+=("[::1]")
for a in "${others[@]}"; do
	t_check "it is not reachable on this machine's other address $a:$port" \
		sh -c '! curl -s -m 2 -o /dev/null "$1"' sh "http://$a:$port/health"
done
# The TCP listeners of greetbotd, greetbot-tg and redis-server.
tree=" $GB_PID $(pgrep -P "$GB_PID" | paste -sd' ' -) "
listeners=$(ss -Hltnp | awk -v tree="$tree" '{
	s = $0
	while (match(s, /pid=[0-9]+/)) {
		if (index(tree, " " substr(s, RSTART + 4, RLENGTH - 4) " ")) { print $4; break }
		s = substr(s, RSTART + RLENGTH)
	}
}' | sort -u | paste -sd' ' -)
t_check "greetbotd and its children listen on TCP at 127.0.0.1:$port only (found: ${listeners:-none})" \
	test "$listeners" = "127.0.0.1:$port"
redis=$(pgrep -P "$GB_PID" -x redis-server || true)
t_check "the embedded redis-server listens on a unix socket in state_dir" \
	sh -c 'ss -Hlxp | grep -F "$2" | grep -q "pid=$1,"' sh "${redis:-none}" "$T/state"

# --- orders to play with, and hostile names the validator accepts ------------
tables=$(sqlite3 "$db" .tables | tr -s ' \n' ' ')
declare -A display=([7111]="Bobby'or'bobby Drop-Table" [7112]="Д'артаньян О'нил-Смит")
(parent_failed 7101 "Провал" >"$T/notice.A") &
t_track $!
(parent_failed 7102 "провал-два" >"$T/notice.B") &
t_track $!
(parent_order 7111 "bobby'or'bobby drop-table" >"$T/video.7111") &
t_track $!
(parent_order 7112 "д'артаньян   о'нил-смит" >"$T/video.7112") &
t_track $!

# --- names the validator refuses (chat 7104, while the orders run) ----------
C=7104
export SIM_SEQ=0
sim_post message chat_id=$C text=/start first_name=Eve language_code=ru >/dev/null
sim_post contact chat_id=$C phone_number=79007104 >/dev/null
sim_expect $C '.text != null and (.text | contains("имя ребёнка"))' 30 >/dev/null
refused() {
	local name=$1 why=$2 reason=$3 msg shown=${1//$'\n'/\\n}
	sim_post message chat_id=$C text="$name" language_code=ru >/dev/null
	msg=$(sim_expect $C '.method == "sendMessage" or .method == "sendVoice"' 30) || msg=""
	[ -z "$msg" ] || SIM_SEQ=$(jq '.seq' <<<"$msg")
	if t_jq --arg w "$why" '.text != null and (.text | contains($w))' <<<"$msg"; then
		t_ok "refused with the $reason reply: $shown"
	else
		t_fail "refused with the $reason reply: $shown (got: ${msg:-nothing})"
	fi
}
refused "\$(touch $P/dollar)" "эмодзи" "symbols"
refused "\`touch $P/backtick\`" "служебные" "markup"
refused "Маша; touch $P/semicolon" "дефис и апостроф" "punctuation"
refused "Маша && touch $P/and" "служебные" "markup"
refused "Маша | touch $P/pipe" "служебные" "markup"
refused "Маша > $P/redirect" "служебные" "markup"
refused "Маша"$'\n'"touch $P/newline" "невидимые" "control characters"
refused "Маша%{pts}" "служебные" "markup"
refused "Маша\\" "служебные" "markup"
refused "[in]Маша" "служебные" "markup"
refused "Маша:Саша" "дефис и апостроф" "punctuation"
refused "Маша,drawtext" "дефис и апостроф" "punctuation"
refused "Robert'); DROP TABLE users;--" "дефис и апостроф" "punctuation"
refused "Маша' OR 'a'='a" "служебные" "markup"
t_check "nothing of a refused name was stored (still asked for a name, no pending name, no order)" \
	test "$(sqlite3 "$db" "SELECT state || ':' || coalesce(pending_name, '-') || ':' ||
		(SELECT count(*) FROM requests WHERE user_id = $C) FROM users WHERE user_id = $C")" = \
	AWAIT_NAME:-:0

t_wait_tracked
t_wait_log "$T/greetbotd.log" 'msg="video delivered"' 60 2 || true
for c in 7111 7112; do
	want=${display[$c]}
	t_check "accepted $want: the parent got the video" test -s "$(tail -1 "$T/video.$c")"
	t_check "the preview and the video caption show the display form" \
		t_jq --arg n "$want" '[.messages[] | select(.method == "sendVoice" or
			.method == "sendVideo") | .params.caption | contains($n)] == [true, true]' \
		< <(sim_wait "$c" 0 1 0)
	t_check "the asset stores the display form, the request is COMPLETED" \
		test "$(sqlite3 "$db" "SELECT a.display_name || '|' || r.state FROM requests r
			JOIN assets a ON a.id = r.asset_id WHERE r.user_id = $c")" = "$want|COMPLETED"
	t_check "users.pending_name holds the display form too" \
		test "$(sqlite3 "$db" "SELECT pending_name FROM users WHERE user_id = $c")" = "$want"
done
t_check "both renders' attempts were ok" \
	test "$(sqlite3 "$db" "SELECT group_concat(t.status) FROM attempts t JOIN assets a ON
		a.id = t.asset_id WHERE a.display_name NOT LIKE 'Провал%'")" = ok,ok

# --- someone else's contact (chat 7103) --------------------------------------
C=7103
export SIM_SEQ=0
sim_post message chat_id=$C text=/start first_name=Mallory language_code=ru >/dev/null
sim_expect $C '.reply_markup.keyboard[0][0].request_contact == true' 30 >/dev/null
phone_a=$(sqlite3 "$db" "SELECT phone FROM users WHERE user_id = 7101")
sim_post contact chat_id=$C phone_number="+7 900 000-00-01" contact_user_id=0 >/dev/null
t_check "a contact without user_id (typed in by hand) is refused" \
	sim_expect $C '.text != null and (.text | contains("чужой"))' 30
sim_post contact chat_id=$C phone_number="+7 999 999-99-99" contact_user_id=7101 >/dev/null
t_check "another user's contact (their user_id) is refused" \
	sim_expect $C '.text != null and (.text | contains("чужой"))' 30
t_check "with the contact button offered again" \
	t_jq '[.messages[] | select(.text // "" | contains("чужой")) |
		.reply_markup.keyboard[0][0].request_contact] == [true, true]' < <(sim_wait $C 0 1 0)
t_check "no phone was stored for the sender" \
	test "$(sqlite3 "$db" "SELECT coalesce(phone, 'NULL') || ':' || state FROM users
		WHERE user_id = $C")" = NULL:AWAIT_CONTACT
t_check "the other user's phone is untouched ($phone_a)" \
	test "$(sqlite3 "$db" "SELECT phone FROM users WHERE user_id = 7101")" = "$phone_a"
t_check "neither refused phone is stored in any user row" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM users WHERE phone IN ('+79000000001', '+79999999999')")" = 0
sim_post message chat_id=$C text="Маша" language_code=ru >/dev/null
t_check "a name after the refusals is answered with a request for the own contact" \
	sim_expect $C '.text != null and (.text | contains("Поделиться контактом"))' 30

# --- forged button presses (parent B, chat 7102) -------------------------------
data_a=$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' "$T/notice.A")
data_b=$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' "$T/notice.B")
asset_a=${data_a#retry:}
asset_b=${data_b#retry:}
t_check "both failed orders have a retry button, on different assets" \
	test "$(sqlite3 "$db" "SELECT group_concat(state) FROM assets WHERE id IN ($asset_a, $asset_b)
		AND $asset_a <> $asset_b")" = FAILED,FAILED
B=7102
export SIM_SEQ
SIM_SEQ=$(sim_wait $B 0 1 0 | jq '[.messages[].seq] | max')
notice_b=$(jq -r '.message_id' "$T/notice.B")
# B now waits to confirm a new name, so ok:<seq> buttons are live too.
sim_post message chat_id=$B text=/new language_code=ru >/dev/null
sim_post message chat_id=$B text="Маша" language_code=ru >/dev/null
preview=$(sim_expect $B '.reply_markup.inline_keyboard != null' 60)
ok=$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$preview")
mid=$(jq -r '.message_id' <<<"$preview")
seq=${ok#ok:}
wrap=$((seq + 4294967296))

# What a press must not change: every job, request, asset and user as it is
# (updated_at included), and no outbox row but the press's answer.
snap() {
	sqlite3 "$db" "SELECT * FROM jobs ORDER BY id; SELECT * FROM requests ORDER BY id;
		SELECT * FROM assets ORDER BY id; SELECT * FROM users ORDER BY user_id;
		SELECT count(*) FROM outbox WHERE kind <> 'answer'"
}
# press DESC MESSAGE_ID [DATA]: B presses a button with DATA (none when
# absent); the press must be answered "no longer valid" and change nothing.
press() {
	local desc=$1 m=$2 before reply id msg data=()
	shift 2
	[ "$#" -eq 0 ] || data=(data="$1")
	before=$(snap)
	reply=$(sim_post callback chat_id=$B message_id="$m" "${data[@]+"${data[@]}"}")
	id=$(jq -r '.callback_query_id' <<<"$reply")
	if ! msg=$(sim_expect $B ".method == \"answerCallbackQuery\" and
		.params.callback_query_id == \"$id\"" 15); then
		t_fail "$desc: the press is not answered"
	elif ! t_jq '.params.text // "" | contains("не действует")' <<<"$msg"; then
		t_fail "$desc: answered, but not \"no longer valid\" ($msg)"
	elif [ "$before" != "$(snap)" ]; then
		t_fail "$desc: answered, but the database changed"
		diff <(echo "$before") <(snap) | t_show /dev/stdin
	else
		t_ok "$desc: answered \"no longer valid\", nothing changed"
	fi
}
press "another parent's retry:<asset> on its FAILED asset" "$notice_b" "$data_a"
press "no data at all" "$mid"
press "empty data" "$mid" ""
press "garbage" "$mid" 'garbage'
press "bytes that are not UTF-8" "$mid" $'\xff\xfe\x80'
press "an unknown prefix" "$mid" "buy:$seq"
press "a prefix without its colon" "$mid" "ok$seq"
press "retry: with no id" "$notice_b" "retry:"
press "retry: with a word for an id" "$notice_b" "retry:abc"
press "retry: with a negative id" "$notice_b" "retry:-$asset_b"
press "retry: with a sign" "$notice_b" "retry:+$asset_b"
press "retry: with a space before the id" "$notice_b" "retry: $asset_b"
press "retry: with bytes after the id" "$notice_b" "retry:${asset_b}x"
press "retry: with a fraction" "$notice_b" "retry:$asset_b.0"
press "retry: with a huge id" "$notice_b" "retry:99999999999999999999999999"
press "retry: own asset behind leading zeros, over 64 bytes" "$notice_b" \
	"retry:$(printf '%070d' "$asset_b")"
press "ok: with no number" "$mid" "ok:"
press "ok: with bytes after the number" "$mid" "ok:${seq}x"
press "ok: with a space before the number" "$mid" "ok: $seq"
press "ok: with 2^32 + the current seq (an int would wrap to it)" "$mid" "ok:$wrap"
press "chg: with 2^32 + the current seq" "$mid" "chg:$wrap"
press "ok: with a huge number" "$mid" "ok:99999999999999999999999999"
press "ok: the current seq behind zeros, over 64 bytes" "$mid" "ok:$(printf '%070d' "$seq")"
press "the current ok: with 61 spaces after it (over 64 bytes)" "$mid" "$ok$(printf '%61s' '')"

# The real buttons, pressed the same way, do change things.
before=$(snap)
sim_post callback chat_id=$B message_id="$mid" data="$ok" >/dev/null
t_check "B's real Confirm ($ok) accepts the order" \
	sim_expect $B '.text != null and (.text | contains("Заказ принят"))' 30
t_check "and that press did change the database" test "$before" != "$(snap)"
t_check "and B gets that video" sim_expect $B '.method == "sendVideo"' 60
jobs=$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE asset_id = $asset_a")
export SIM_SEQ=0
sim_post callback chat_id=7101 message_id="$(jq -r .message_id "$T/notice.A")" data="$data_a" >/dev/null
t_check "A's own retry button, pressed the same way, is confirmed" \
	sim_expect 7101 '.text != null and (.text | contains("Пробуем ещё раз"))' 30
t_check "one more job for A's asset" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE asset_id = $asset_a")" = $((jobs + 1))
# It fails again (the name still fails): wait for that, nothing left running.
sim_expect 7101 '.reply_markup.inline_keyboard[0][0].callback_data // "" |
	startswith("retry:")' 60 >/dev/null || true
t_check "every callback query was answered (tgsim's count)" \
	t_jq '.callbacks.unanswered == 0 and .callbacks.answered >= 25' \
	< <(curl -fsS "http://$SIM_ADDR/control/stats")

# --- nothing was injected -------------------------------------------------------
t_check "no payload created a file ($(find "$P" -mindepth 1 | wc -l) in $P)" \
	test -z "$(find "$P" -mindepth 1 -print -quit)"
t_check "the database's tables are all there" \
	test "$(sqlite3 "$db" .tables | tr -s ' \n' ' ')" = "$tables"
t_check "and it passes an integrity check" test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
t_check "every user is still there (6)" \
	test "$(sqlite3 "$db" "SELECT count(*) FROM users")" = 6
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Privacy and support: greetctl history USER shows the conversation as the
# parent lived it (what they sent, what the bot answered, the buttons they
# pressed, the video and a failed render), with their phone masked, as
# text and --json; greetctl forget USER erases what identifies them and
# the bot takes them for a new parent when they come back (it asks for
# their contact again), the counts kept; greetbotd prunes the history
# older than history_days by itself, in batches.
. "$(dirname "$0")/../lib.sh"

# greetctl as an operator runs it (without the suite's own variables,
# which it would warn about).
ctl() { env -u GREETBOT_TEST_UID_OFFSET "$BIN/greetctl" "$@"; }
# absent PATTERN FILE: no line of FILE has PATTERN.
absent() { ! grep -q "$1" "$2"; }
export GREETBOT_STATE_DIR=$T/state GREETBOT_TEMPLATES_DIR=$GB_TEMPLATES_DIR \
	GREETBOT_RENDER_SCRIPT=$TOP/scripts/render.sh GREETBOT_MESSAGES_DIR=$TOP/messages

# The render of «Плохо» fails for good (65: the script refuses the name).
real=$(t_render_copy)
cat >"$T/render.sh" <<EOF
#!/usr/bin/env bash
if [ "\${GREETBOT_MODE:-video}" = video ] && [ "\$GREETBOT_NAME" = Плохо ]; then
	echo "this name is refused" >&2
	exit 65
fi
exec "$real"
EOF
chmod 755 "$T/render.sh"
sim_start
GB_RENDER_SCRIPT=$T/render.sh gb_start
db=$T/state/greetbot.db

# --- history -----------------------------------------------------------------
video=$(parent_order 5501 "Маша") || video=""
t_check "parent 5501 gets «Маша»" test -s "$video"
# seen CHAT: the number of messages the chat has (sim_expect looks after them).
seen() { sim_wait "$1" 0 1 0 | jq '.messages | length'; }
SIM_SEQ=$(seen 5501)
sim_post message chat_id=5501 text=/new >/dev/null
sim_expect 5501 '.text // "" | startswith("Спасибо")' >/dev/null
sim_post message chat_id=5501 text="Плохо" >/dev/null
msg=$(sim_expect 5501 '.reply_markup.inline_keyboard != null') || msg=""
sim_post callback chat_id=5501 message_id="$(jq -r .message_id <<<"$msg")" \
	data="$(jq -r '.reply_markup.inline_keyboard[0][0].callback_data' <<<"$msg")" >/dev/null
t_check "and is told the render of «Плохо» failed" \
	sim_expect 5501 '.text // "" | startswith("Не получилось сделать видео для имени Плохо")' 60

ctl history 5501 >"$T/history.txt" 2>"$T/err" || true
sed 's/^/#   /' "$T/history.txt"
# line PATTERN: a line of the table: time, who, what.
line() { grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}  $1" "$T/history.txt"; }
t_check "history: a heading with the phone masked" \
	grep -qx "user 5501 (bot main): phone +7\*\*\*5501, state IDLE, 2 request(s)" "$T/history.txt"
t_check "history: the phone is nowhere in full" absent 79005501 "$T/history.txt"
t_check "history: the parent's /start" line "parent  /start$"
t_check "history: the bot's greeting with its contact button" \
	line "bot     Здравствуйте!.* \[📱 Поделиться контактом\]$"
t_check "history: the contact, masked" line "parent  contact \+7\*\*\*5501$"
t_check "history: the name typed" line "parent  Маша$"
t_check "history: the voice preview with its buttons" \
	line "bot     voice: Имя: Маша\. Всё верно\?.*\[✅ Подтвердить\] \[✏️ Изменить имя\]"
t_check "history: the Confirm pressed" line "parent  pressed ✅ Подтвердить$"
t_check "history: the video sent" line "bot     video \"Маша\": С днём рождения, Маша! 🎉$"
t_check "history: the failed render's notice with its retry button" \
	line "bot     Не получилось сделать видео для имени Плохо\..*\[🔁 Повторить\]$"
t_check "history: in the order it happened" test \
	"$(grep -nE "parent  Маша$" "$T/history.txt" | cut -d: -f1)" -lt \
	"$(grep -nE "video \"Маша\"" "$T/history.txt" | cut -d: -f1)"
ctl --json history 5501 >"$T/history.json" || true
t_check "history --json: the user with the phone masked" \
	t_jq '.[0] | .bot == "main" and .user_id == 5501 and .phone == "+7***5501"' <"$T/history.json"
t_check "history --json: the events as they happened, by kind" \
	t_jq '[.[0].events[] | "\(.from):\(.kind)"] | index(["parent:command", "bot:message",
		"parent:contact", "bot:message", "parent:text", "bot:voice", "parent:button"]) == 0' \
	<"$T/history.json"
t_check "history --json: the video with its asset and name" \
	t_jq '[.[0].events[] | select(.kind == "video")][0] | .name == "Маша" and .asset > 0' \
	<"$T/history.json"
t_check "history --json: no full phone anywhere" absent 79005501 "$T/history.json"

# A reply Telegram refuses (the parent blocked the bot) is in the history
# as not delivered, with Telegram's words.
SIM_SEQ=0
sim_post message chat_id=5503 text=/start >/dev/null
sim_expect 5503 '.reply_markup.keyboard[0][0].request_contact == true' >/dev/null
sim_post fault chat_id=5503 kind=403 count=1 >/dev/null
sim_post message chat_id=5503 text=/help >/dev/null
t_wait_log "$T/greetbotd.log" 'msg="chat blocked the bot" chat=5503' 30 || true
t_check "history: a reply that did not reach the parent, and why" \
	grep -qE "^[0-9-]{10} [0-9:]{8}  bot     NOT DELIVERED: Я делаю видео-поздравление.* \(Forbidden: bot was blocked by the user\)$" \
	< <(ctl history 5503)

# --- forget ------------------------------------------------------------------
before=$(ctl --json requests | jq length)
out=$(ctl forget 5501) || out=""
t_check "forget says what was erased and kept" \
	grep -q "^user 5501 forgotten (bot main): phone, names and chat erased, [1-9][0-9]* history line(s) and [1-9][0-9]* message(s) with them; 2 request(s) kept for the counts" <<<"$out"
t_check "the user is gone from greetctl users" \
	t_jq 'all(.[]; .user_id != 5501)' < <(ctl --json users)
t_check "their requests are still counted, without them" \
	t_jq --argjson n "$before" 'length == $n and all(.[]; .user_id != 5501 and .chat_id != 5501)' \
	< <(ctl --json requests)
t_check "the database has no trace of their phone or of them in the outbox" test \
	"$(sqlite3 "$db" "SELECT (SELECT count(*) FROM users WHERE phone LIKE '%5501')
		+ (SELECT count(*) FROM outbox WHERE chat_id = 5501)
		+ (SELECT count(*) FROM history WHERE user_id = 5501)")" = 0
ctl history 5501 >/dev/null 2>&1 && rc=0 || rc=$?
t_check "history of a forgotten user: no such user (exit 1)" test "$rc" = 1
t_check "«Маша» stays: the shared video" \
	t_jq 'any(.[]; .name == "Маша" and .state == "AVAILABLE")' < <(ctl --json assets)

# They come back: a new parent to the bot.
SIM_SEQ=$(seen 5501)
sim_post message chat_id=5501 text="Маша" >/dev/null
t_check "a forgotten parent who writes is asked to /start" \
	sim_expect 5501 '.text // "" | startswith("Чтобы начать, отправьте /start")' 30
sim_post message chat_id=5501 text=/start >/dev/null
t_check "and on /start is asked for the contact again" \
	sim_expect 5501 '.reply_markup.keyboard[0][0].request_contact == true' 30
sim_post message chat_id=5501 text="Маша" >/dev/null
t_check "a name before the contact is not taken: the contact first" \
	sim_expect 5501 '.text // "" | startswith("Нажмите кнопку «Поделиться контактом»")' 30

# --- retention -----------------------------------------------------------------
video=$(parent_order 5502 "Даша") || video=""
t_check "parent 5502 gets «Даша»" test -s "$video"
kill -TERM "$GB_PID"
wait "$GB_PID" || true
GB_PID=
# 5502's conversation and 1,200 lines of another parent happened 40 days
# ago; the outbox rows of what was sent to 5502 too.
sqlite3 "$db" "UPDATE history SET at = at - 40 * 86400 WHERE user_id = 5502;
	UPDATE outbox SET created_at = created_at - 40 * 86400 WHERE chat_id = 5502
		AND state != 'PENDING';
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
	INSERT INTO history (bot_id, user_id, at, dir, kind, text)
		SELECT 'main', 5509, strftime('%s', 'now') - 40 * 86400, 'in', 'text', 'old ' || i FROM n"
old=$(sqlite3 "$db" "SELECT (SELECT count(*) FROM history WHERE user_id IN (5502, 5509)) +
	(SELECT count(*) FROM outbox WHERE chat_id = 5502 AND state != 'PENDING')")
GREETBOT_HISTORY_DAYS=30 gb_start
t_check "greetbotd prunes what is older than history_days at start, in batches ($old rows)" \
	t_wait_log "$T/greetbotd.log" "msg=\"history pruned\" rows=$old history_days=30" 30
# shellcheck disable=SC2034 # read by sim_expect (scripts/sim.sh)
SIM_SEQ=$(seen 5502)
sim_post message chat_id=5502 text=/status >/dev/null
sim_expect 5502 '.text // "" | startswith("Ваши заказы")' >/dev/null
ctl history 5502 >"$T/pruned.txt" || true
t_check "what is within history_days stays: /status and its answer" \
	test "$(grep -cE '^[0-9]{4}-' "$T/pruned.txt")" = 2
t_check "the older conversation is gone (the name they typed then)" absent "parent  Даша" "$T/pruned.txt"
t_done

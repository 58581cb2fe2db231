#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Supervision: greetbotd restarts greetbot-tg when it dies, keeps its
# output in the log, answers /health, and a parent's order still arrives.
# Before that, what it refuses to start with (a token file empty or a
# directory, an unknown log_level); a misspelt GREETBOT_ variable is
# warned about once, by greetbotd alone, through restarts and SIGHUP.
. "$(dirname "$0")/../lib.sh"

cp -R "$TOP/messages" "$T/messages"
printf 'max_attempts = 3\nrate_chat = 1\n' >"$T/greetbot.conf"

# What the configuration refuses, before anything starts: a token file
# that is empty or a directory (greetbot-tg would otherwise be restarted
# over and over with "no telegram_token or telegram_token_file
# configured"), and a log_level that is no level.
mkdir "$T/token.d"
: >"$T/token.empty"
# refused VAR=VALUE...: greetbotd with that environment exits at once, not
# 0, having made nothing; its stderr in refused.err.
refused() {
	local rc=0
	env -u GREETBOT_TELEGRAM_TOKEN GREETBOT_STATE_DIR="$T/refused" "$@" \
		timeout 10 "$BIN/greetbotd" -c "$T/greetbot.conf" >/dev/null 2>"$T/refused.err" ||
		rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ ! -e "$T/refused" ]
}
t_check "greetbotd refuses an empty token file at once" \
	refused GREETBOT_TELEGRAM_TOKEN_FILE="$T/token.empty"
t_check "naming the key, the file and what is wrong" \
	grep -qF "reason=\"telegram_token_file $T/token.empty: is empty\"" "$T/refused.err"
t_check "a directory as token file: refused" \
	refused GREETBOT_TELEGRAM_TOKEN_FILE="$T/token.d"
t_check "saying so" \
	grep -qF "reason=\"telegram_token_file $T/token.d: is a directory, not a file\"" "$T/refused.err"
t_check "log_level = verbose: refused" refused GREETBOT_LOG_LEVEL=verbose
t_check "naming the levels" \
	grep -qF 'log_level: error, warn, info or debug, not \"verbose\"' "$T/refused.err"

sim_start
# A misspelt override in greetbotd's environment: warned about once, by
# greetbotd (greetbot-tg loads the same environment and keeps quiet).
GREETBOT_WROKERS=2 GB_MESSAGES_DIR=$T/messages gb_start -c "$T/greetbot.conf"
t_check "/health answers 200 when everything runs" \
	curl -fsS -o /dev/null "http://$GB_HTTP/health"

bot=$(pgrep -P "$GB_PID" -x greetbot-tg)
kill -KILL "$bot"
# The order is typed while the bot is dead: Telegram (tgsim) keeps the
# updates and the restarted bot picks them up.
video=$(parent_order 3001 "Анна-Мария") || video=""
t_check "after greetbot-tg was killed, the order still arrives" test -s "$video"
t_check "the death was logged with its signal" \
	grep -q 'msg="child died" child=greetbot-tg signal=9' "$T/greetbotd.log"
t_check "a new greetbot-tg runs" \
	sh -c "pgrep -P '$GB_PID' -x greetbot-tg | grep -vx '$bot' >/dev/null"
t_check "the bot's own log lines pass through greetbotd's log" \
	grep -q 'proc=greetbot-tg msg=started' "$T/greetbotd.log"
metrics=$(curl -fsS "http://$GB_HTTP/metrics")
t_check "/metrics counts the finished job" grep -q '^greetbot_jobs{state="DONE"} 1$' <<<"$metrics"
t_check "/metrics counts the sendVideo" \
	grep -q '^greetbot_telegram_calls_total{bot="main",method="sendVideo",result="ok"} 1$' <<<"$metrics"

# SIGHUP reloads the configuration and the texts an operator edited, in
# greetbotd and the bot.
sed -i 's|^help = .*|help = Edited help text.|' "$T/messages/ru"
# (webhook_path's default follows bot_id, so it waits for the restart too.)
printf 'max_attempts = 2\nrate_chat = 2\nbot_id = other\n' >"$T/greetbot.conf"
kill -HUP "$GB_PID"
t_check "greetbotd reloads the configuration; bot_id waits for a restart" \
	t_wait_log "$T/greetbotd.log" 'proc=greetbotd msg="configuration reloaded" changed="bot_id\(needs restart\),webhook_path\(needs restart\),max_attempts,rate_chat'
t_check "so does the bot" \
	t_wait_log "$T/greetbotd.log" 'proc=greetbot-tg msg="configuration reloaded" changed="bot_id\(needs restart\),webhook_path\(needs restart\),max_attempts,rate_chat'
t_check "SIGHUP reaches greetbot-tg, which reloads" \
	t_wait_log "$T/greetbotd.log" 'proc=greetbot-tg msg=reloaded'
t_check "GREETBOT_WROKERS was warned about once, by greetbotd, with the setting it meant" \
	test "$(grep -c 'GREETBOT_WROKERS' "$T/greetbotd.log")" = 1 -a \
	"$(grep -c '^ts=[^ ]* level=warn proc=greetbotd msg="configuration warning" reason="GREETBOT_WROKERS is not a setting; did you mean GREETBOT_WORKERS?"$' "$T/greetbotd.log")" = 1
sim_post message chat_id=3002 text=/help language_code=ru >/dev/null
t_check "the edited text is what a parent sees next" \
	t_jq '.messages[0].text == "Edited help text."' <<<"$(sim_wait 3002 0 1 30)"
t_done

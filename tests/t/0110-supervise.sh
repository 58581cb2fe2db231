#!/usr/bin/env bash
# Supervision: greetbotd restarts greetbot-tg when it dies, keeps its
# output in the log, answers /health, and a parent's order still arrives.
. "$(dirname "$0")/../lib.sh"

cp -R "$TOP/messages" "$T/messages"
printf 'max_attempts = 3\nrate_chat = 1\n' >"$T/greetbot.conf"
sim_start
GB_MESSAGES_DIR=$T/messages gb_start -c "$T/greetbot.conf"
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
sim_post message chat_id=3002 text=/help language_code=ru >/dev/null
t_check "the edited text is what a parent sees next" \
	t_jq '.messages[0].text == "Edited help text."' <<<"$(sim_wait 3002 0 1 30)"
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A bot process that dies at once is restarted with a growing backoff
# (never a tight loop), the crash loop is logged, /health/bot says so.
. "$(dirname "$0")/../lib.sh"

sim_start
GREETBOT_TELEGRAM_TOKEN=$SIM_TOKEN GREETBOT_TELEGRAM_API_URL="http://$SIM_ADDR" \
GREETBOT_STATE_DIR="$T/state" GREETBOT_TEMPLATES_DIR="$TOP/templates" \
GREETBOT_RENDER_SCRIPT="$TOP/scripts/render.sh" GREETBOT_MESSAGES_DIR="$TOP/messages" \
GREETBOT_HTTP_LISTEN=127.0.0.1:0 GREETBOT_BOT_PROGRAM=/bin/false \
	"$BIN/greetbotd" 2>"$T/greetbotd.log" &
export GB_PID=$!	# sim_stop stops it
t_check "a crash loop is logged after five quick deaths" \
	t_wait_log "$T/greetbotd.log" 'msg="crash loop" child=greetbot-tg restarts=5' 60
t_check "the restarts backed off 1, 2, 4, 8, 16 s" \
	test "$(grep -o 'child=greetbot-tg status=1 restart_in=[0-9]*' "$T/greetbotd.log" |
		head -5 | sed 's/.*=//' | paste -sd, -)" = 1,2,4,8,16
addr=$(sed -n 's/.*msg="http listening" addr=//p' "$T/greetbotd.log" | head -1)
t_check "/health/bot answers 503 with a reason while the bot is down" \
	test "$(curl -s -o "$T/health" -w '%{http_code}' "http://$addr/health/bot")" = 503
t_check "the reason names the bot" t_jq '.reason | contains("greetbot-tg")' <"$T/health"
t_done

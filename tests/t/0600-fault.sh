#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The short fault run (make fault is the long one): tests/fault/run.sh with
# 60 orders over 15 names (at 320x180, as the other tests of the order path
# render), fixed seed, while greetbotd (2), greetbot-tg (2),
# renderers (3) and redis-server (2, plus once back EMPTY) are SIGKILLed at
# seeded moments; see that script's header for how. What can fail:
# - lost: a parent without a COMPLETED request or without a video (a job
#   left with no stream entry after a restart or a Redis loss, an outbox
#   row never sent, a conversation a restart broke);
# - duplicates: a chat with more sendVideo than requests, beyond the sends
#   that were in flight when greetbot-tg was SIGKILLed (those go again by
#   design: Telegram gives no way to ask whether they arrived);
# - wrong videos: a caption without the parent's name (a file_id or file
#   of another asset);
# - the renders bound: more successful renders than names, or more failed
#   attempts than the kills can explain (renderer kills + (workers + 1) x
#   greetbotd kills, the one more being a speculative render stopped for a
#   confirmed one and not yet gone: e.g. more renders at once), or an
#   attempt that failed for another reason;
# - a sanitizer report in a process's log (make asan);
# - each kind of kill happened (a run that skipped them proves nothing).
# run: long
. "$(dirname "$0")/../lib.sh"

json=$(FAULT_ORDERS=60 FAULT_NAMES=15 FAULT_SEED=20261203 FAULT_CONCURRENCY=60 FAULT_FRAME=320x180 \
	FAULT_KILL_GREETBOTD=2 FAULT_KILL_BOT=2 FAULT_KILL_RENDERER=3 FAULT_KILL_REDIS=2 \
	FAULT_EMPTY_REDIS=1 FAULT_STALL=60 FAULT_SETTLE=60 \
	"$TOP/tests/fault/run.sh" 2>"$T/fault.log") || true
echo "# $json"
field() { jq -r ".$1" <<<"$json"; }
if t_jq '.orders == 60' <<<"$json"; then
	t_ok "the fault run finished and reported ($(field seconds) s, $(field kills) kills)"
else
	t_fail "the fault run finished and reported"
	t_show "$T/fault.log" 30
fi
t_check "no order lost: every request COMPLETED, a video in every chat" \
	t_jq '.lost == 0 and .not_completed == 0' <<<"$json"
t_check "no parent got a video twice for one order ($(field resent_in_flight) resent after a SIGKILL in flight)" \
	t_jq '.duplicates == 0' <<<"$json"
t_check "every video names the parent's name" t_jq '.wrong_videos == 0' <<<"$json"
t_check "each name rendered once ($(field renders) renders, $(field assets) assets)" \
	t_jq '.extra_renders == 0 and .assets == 15' <<<"$json"
t_check "renders <= names + killed attempts ($(field killed_attempts)), each explained by a kill" \
	t_jq '.renders_bound_ok and .failed_attempts == 0' <<<"$json"
t_check "no sanitizer report in the fault run's logs (make asan)" \
	t_jq '.sanitizer_reports == 0' <<<"$json"
t_check "every kind of kill happened, Redis came back empty once" \
	t_jq '.kills_greetbotd >= 1 and .kills_bot >= 1 and .kills_renderer >= 1 and
		.kills_redis >= 2 and .redis_emptied == 1' <<<"$json"
# shellcheck disable=SC2154 # t_failed is tests/lib.sh's count
if [ "$t_failed" -gt 0 ]; then
	t_show "$T/fault.log" 30
fi
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Ordinary load, no fault injected: 930 parents order 30 names in bursts
# through tgsim with speculation on (the default) and the previews cached
# after the first of each name: bench/burst.sh at a test's size. Once this
# crashed greetbot-tg with "database is locked" (the sender began a
# speculative job's transaction while its own SELECT was open); now no
# process may restart, no parent is lost and each name renders once.
# run: long
. "$(dirname "$0")/../lib.sh"

out=$(TMPDIR=$T BENCH_PARENTS=930 BENCH_NAMES=30 BENCH_PROBES=10 \
	bash "$TOP/bench/burst.sh" 2>"$T/burst.err" | tail -1) || true
t_check "the burst ran to its end" t_jq '.bench == "burst"' <<<"$out"
[ -n "$out" ] || t_show "$T/burst.err"
t_check "greetbot-tg never restarted" t_jq '.bot_restarts == 0' <<<"$out"
t_check "greetbotd never restarted" t_jq '.supervisor_restarts == 0' <<<"$out"
t_check "no parent was lost: 930 videos, none twice" \
	t_jq '.lost == 0 and .videos_received == 930 and .duplicate_videos == 0' <<<"$out"
t_check "each of the 30 names rendered once" t_jq '.renders == 30' <<<"$out"
t_done

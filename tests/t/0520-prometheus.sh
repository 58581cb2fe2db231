#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Monitoring: greetbotd's /metrics after one order passes `promtool check
# metrics`; the shipped alert rules (etc/prometheus/greetbot.rules.yml)
# pass `promtool check rules` and their unit tests (`promtool test
# rules`); every metric the rules and the Grafana dashboard use is one
# that /metrics prints.
. "$(dirname "$0")/../lib.sh"

P=$TOP/etc/prometheus
# Series Prometheus makes itself for every scrape target, not in /metrics.
prometheus_own=(up)

# promql_names: the metric names in the PromQL expressions on standard
# input, one per line. Quoted strings, label matchers, ranges and the
# label lists of by/without/on/ignoring/group_* are removed; of the
# names left, those before "(" are functions and aggregations, and a few
# are keywords. What is left must be a metric (or it is reported as
# unknown below: the check errs on the side of failing).
promql_names() {
	sed -E -e 's/"([^"\\]|\\.)*"//g' -e 's/\{[^}]*\}//g' -e 's/\[[^]]*\]//g' \
		-e 's/(by|without|on|ignoring|group_left|group_right)[[:space:]]*\([^)]*\)//g' |
		grep -oE '(^|[^A-Za-z0-9_:.$])[A-Za-z_:][A-Za-z0-9_:]*[[:space:]]*\(?' |
		sed -E 's/^[^A-Za-z_:]//; s/[[:space:]]+//g' |
		grep -vE '\($|^(and|or|unless|offset|bool|inf|nan)$' | sort -u || true
}

# rule_exprs FILE: the expr of every rule in a rules file, as one line
# ("expr: X") or as a block ("expr: |" and the lines indented deeper).
rule_exprs() {
	awk 'blk { if (NF == 0 || match($0, /[^ ]/) > ind) { print; next } blk = 0 }
		/^ *(- )?expr: *[|>][-+]?$/ { ind = match($0, /[^ ]/); blk = 1; next }
		/^ *(- )?expr: / { sub(/^ *(- )?expr: */, ""); print }' "$1"
}

# --- /metrics after an order ----------------------------------------------
# Two nodes, as each prints metrics of its own: the node with the database
# and the bot (renders nothing here), and a render node without a database
# on its Redis, which renders the order.
sim_start
GREETBOT_RENDER_ENABLED=0 gb_start
t_track "$GB_PID"
db_http=$GB_HTTP
# (The render node's jobs process reaches the first node's private Redis
# as the same service user.)
GB_NAME=render GB_STATE=$T/render GREETBOT_BOT_ENABLED=0 GREETBOT_DB_PATH='' \
	GREETBOT_SERVICE_USER=$((GREETBOT_RENDER_UID_BASE - 1)) \
	GREETBOT_RENDER_UID_BASE=$((GREETBOT_RENDER_UID_BASE + 150)) \
	GREETBOT_REDIS_URL=unix:$T/state/redis/redis.sock GREETBOT_NODE_NAME=render \
	GREETBOT_WORKERS=1 gb_start
t_ok "tgsim, greetbotd and a render node start"
video=$(parent_order 2001 "Маша") || video=""
t_check "a parent's order was rendered and sent (the counters have samples)" test -s "$video"

for node in db render; do
	if [ "$node" = db ]; then http=$db_http; else http=$GB_HTTP; fi
	curl -fsS "http://$http/metrics" >"$T/metrics.$node" || true
	t_check "/metrics of the $node node answers" test -s "$T/metrics.$node"
	if promtool check metrics <"$T/metrics.$node" >"$T/check-metrics.$node" 2>&1; then
		t_ok "promtool check metrics passes on the $node node's /metrics"
	else
		t_fail "promtool check metrics passes on the $node node's /metrics"
		t_show "$T/check-metrics.$node"
	fi
done
t_check "the database node counts the render attempt and its time" \
	test "$(grep -cxE 'greetbot_attempts_total\{status="ok"\} 1|greetbot_render_seconds_count 1' \
		"$T/metrics.db")" = 2
t_check "the render node counts its render" \
	grep -qx 'greetbot_node_renders_total{status="ok"} 1' "$T/metrics.render"

# --- the rules and their unit tests ----------------------------------------
if promtool check rules "$P/greetbot.rules.yml" >"$T/check-rules.out" 2>&1; then
	t_ok "promtool check rules passes on greetbot.rules.yml"
else
	t_fail "promtool check rules passes on greetbot.rules.yml"
	t_show "$T/check-rules.out"
fi
if (cd "$P" && promtool test rules greetbot.rules.test.yml) >"$T/test-rules.out" 2>&1; then
	t_ok "promtool test rules: the rules' unit tests pass"
else
	t_fail "promtool test rules: the rules' unit tests pass"
	t_show "$T/test-rules.out" 40
fi
# Each alert has a unit test, and each test names a rule that exists.
alerts=$(sed -nE 's/^ *- alert: *([A-Za-z0-9_]+) *$/\1/p' "$P/greetbot.rules.yml" | sort -u)
tested=$(sed -nE 's/^ *alertname: *([A-Za-z0-9_]+) *$/\1/p' "$P/greetbot.rules.test.yml" | sort -u)
t_check "every alert ($(wc -w <<<"$alerts")) has a unit test, and every test an alert" \
	test -n "$alerts" -a "$alerts" = "$tested"

# --- the metric names used -------------------------------------------------
{
	grep -hvE '^#|^$' "$T/metrics.db" "$T/metrics.render" | sed -E 's/[{ ].*//'
	sed -nE 's/^# TYPE ([^ ]+) .*/\1/p' "$T/metrics.db" "$T/metrics.render"
	# A histogram's series, also when it has no sample yet.
	sed -nE 's/^# TYPE ([^ ]+) histogram$/\1_bucket\n\1_sum\n\1_count/p' \
		"$T/metrics.db" "$T/metrics.render"
	printf '%s\n' "${prometheus_own[@]}"
} | sort -u >"$T/known"
rule_exprs "$P/greetbot.rules.yml" | promql_names >"$T/rule-names"
{
	jq -r '.. | objects | select(has("expr")) | .expr' "$P/grafana-dashboard.json"
	# Template variables: label_values(METRIC, label).
	jq -r '.templating.list[] | (.query | objects | .query), (.query | strings), .definition |
		strings' "$P/grafana-dashboard.json" | sed -nE 's/^label_values\(([^,)]+).*/\1/p'
} | promql_names >"$T/dashboard-names"

t_check "the rules use greetbot metrics ($(wc -l <"$T/rule-names") names found)" \
	grep -qx greetbot_bot_up "$T/rule-names"
t_check "the dashboard uses greetbot metrics ($(wc -l <"$T/dashboard-names") names found)" \
	grep -qx greetbot_render_seconds_bucket "$T/dashboard-names"
for what in rules dashboard; do
	unknown=$(comm -23 "$T/${what%s}-names" "$T/known" | paste -sd' ' -)
	if [ -z "$unknown" ]; then
		t_ok "every metric used by the $what is in /metrics (or added by the C side)"
	else
		t_fail "every metric used by the $what is in /metrics (or added by the C side)"
		echo "#   not in /metrics: $unknown"
	fi
done
# What the C side has added since: the list above can lose those names.
# The dashboard is JSON that Grafana imports: panels with a datasource
# and targets, the data source chosen by a variable.
t_check "the dashboard's panels all have targets on the \${datasource} variable" \
	t_jq '[.panels[] | select(.type != "row")] | length > 0 and
		all(.[]; (.targets | length > 0) and .datasource.uid == "${datasource}")' \
	<"$P/grafana-dashboard.json"
t_done

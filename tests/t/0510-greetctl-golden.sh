#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# greetctl's golden outputs: every query command (status, users, requests,
# assets, attempts ASSET, parked, template list, and the filters of
# requests and assets), as a table and with --json, against a database made
# deterministic: the schema greetbotd makes, emptied, then the rows of
# tests/golden/greetctl/fixture.sql (fixed times, shown in UTC). The
# bots-* cases read a configuration of two bots, main and a disabled
# "other" (the fixture's other rows), with and without --bot. Each output
# is compared with its committed file tests/golden/greetctl/NAME.txt or
# NAME.json, after masking what varies from run to run: the temp dir and
# the source tree (<T>, <TOP>), the seconds a running render has run
# (<seconds>) and the templates' version hashes (<version>, they change
# with every edit of a template or the render script). Each command must
# exit 0 and print nothing on stderr.
#
# After an intended change of greetctl's output (or of the fixture),
# regenerate the files and review the difference before committing:
#   GOLDEN_UPDATE=1 bash tests/t/0510-greetctl-golden.sh && git diff tests/golden/
. "$(dirname "$0")/../lib.sh"

G=$TOP/tests/golden/greetctl
update=${GOLDEN_UPDATE:-0}

# Two bots: the top-level one (main) and [bot other], not enabled.
conf=$T/bots.conf
cat >"$conf" <<'EOF'
telegram_token = 100001:main-golden-token

[bot other]
telegram_token = 100002:other-golden-token
default_template = en-birthday
enabled = 0
EOF

# NAME|greetctl arguments (--json is added for NAME.json).
cases=(
	"status|status"
	"users|users"
	"requests|requests"
	"requests-user-1001|requests --user 1001"
	"requests-pending|requests --state pending"
	"assets|assets"
	"assets-failed|assets --state FAILED"
	"attempts-1|attempts 1"
	"attempts-2|attempts 2"
	"attempts-4|attempts 4"
	"parked|parked"
	"parked-v|parked -v"
	"template-list|template list"
	"bots-status|-c $conf status"
	"bots-users|-c $conf users"
	"bots-assets|-c $conf assets"
	"bots-template-list|-c $conf template list"
	"bots-other-status|-c $conf --bot other status"
	"bots-other-requests|-c $conf --bot other requests"
	"bots-other-attempts-7|-c $conf --bot other attempts 7"
	"bots-parked|-c $conf parked"
	"bots-other-parked|-c $conf --bot other parked -v"
)

# The schema as greetbotd makes it (it migrates at start), then only the
# fixture's rows.
sim_start
gb_start
sim_stop
db=$T/state/greetbot.db
tables=$(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type = 'table' AND \
	name NOT LIKE 'sqlite_%' ORDER BY name")
if { for t in $tables; do echo "DELETE FROM $t;"; done; cat "$G/fixture.sql"; } |
	sqlite3 -bail "$db" 2>"$T/fixture.err"; then
	t_ok "the fixture loads into the schema greetbotd made ($(wc -w <<<"$tables") tables)"
else
	t_fail "the fixture loads into the schema greetbotd made"
	t_show "$T/fixture.err"
	exit 1
fi

# What varies from run to run, masked (the same in the committed files).
mask() {
	sed -E -e "s|$T|<T>|g" -e "s|$TOP|<TOP>|g" \
		-e '/^running attempts:/,/^$/ s/[0-9]+(\.[0-9]+)?$/<seconds>/' \
		-e 's/("seconds":[[:space:]]*)[0-9]+(\.[0-9]+)?/\1"<seconds>"/' |
		case $1 in
		*template-list) sed -E 's/\b[0-9a-f]{16}\b/<version>/g' ;;
		*) cat ;;
		esac
}

used=()
for c in "${cases[@]}"; do
	name=${c%%|*}
	read -ra args <<<"${c#*|}"
	for kind in txt json; do
		opt=()
		[ "$kind" = json ] && opt=(--json)
		file=$name.$kind
		used+=("$file")
		rc=0
		env TZ=UTC LC_ALL=C.UTF-8 GREETBOT_STATE_DIR="$T/state" GREETBOT_HTTP_LISTEN= \
			GREETBOT_TEMPLATES_DIR="$TOP/templates" GREETBOT_RENDER_SCRIPT="$TOP/scripts/render.sh" \
			GREETBOT_MESSAGES_DIR="$TOP/messages" \
			"$BIN/greetctl" "${opt[@]}" "${args[@]}" >"$T/raw" 2>"$T/err" || rc=$?
		mask "$name" <"$T/raw" >"$T/$file"
		what="greetctl ${opt[*]:+${opt[*]} }${args[*]}"
		if [ "$update" = 1 ]; then
			cp "$T/$file" "$G/$file"
			t_ok "$what: $file written (exit $rc)"
		elif [ ! -f "$G/$file" ]; then
			t_fail "$what: no tests/golden/greetctl/$file (make it with GOLDEN_UPDATE=1)"
		elif [ "$rc" -eq 0 ] && [ ! -s "$T/err" ] && cmp -s "$G/$file" "$T/$file"; then
			t_ok "$what matches $file"
		else
			t_fail "$what matches $file (exit $rc)"
			t_show "$T/err" 5
			diff -u "$G/$file" "$T/$file" | t_show /dev/stdin 40
		fi
	done
done

# A golden file that no case produces any more is stale.
stale=()
for f in "$G"/*.txt "$G"/*.json; do
	[ -f "$f" ] || continue
	case " ${used[*]} " in *" ${f##*/} "*) ;; *) stale+=("${f##*/}") ;; esac
done
t_check "no stale golden files${stale[*]:+: ${stale[*]}}" test -z "${stale[*]-}"
t_done

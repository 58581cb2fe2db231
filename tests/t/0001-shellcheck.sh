#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Every shell script of the project (render scripts, tools, benchmarks,
# tests, CI) passes shellcheck at warning level, with the files it sources
# followed. One check per script; a failure shows shellcheck's findings.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

cd "$TOP" || exit 1
scripts=()
while IFS= read -r f; do
	scripts+=("$f")
done < <(find scripts bench tests templates .ci -type f \( -name '*.sh' -o -path .ci/run \) | sort)
if [ "${#scripts[@]}" -ge 30 ]; then
	t_ok "found ${#scripts[@]} shell scripts"
else
	t_fail "found only ${#scripts[@]} shell scripts"
fi

# One run over all of them (sourced files are parsed once), findings one
# per line as "file:line:col: level: message [SCnnnn]".
shellcheck -x -P SCRIPTDIR -S warning -f gcc "${scripts[@]}" >"$T/findings" 2>&1 || true
for f in "${scripts[@]}"; do
	if awk -F: -v f="$f" '$1 == f { found = 1 } END { exit !found }' "$T/findings"; then
		t_fail "shellcheck $f"
		awk -F: -v f="$f" '$1 == f' "$T/findings" | t_show /dev/stdin
	else
		t_ok "shellcheck $f"
	fi
done
# Anything not tied to one of the files (shellcheck itself failing).
printf '%s\n' "${scripts[@]}" >"$T/list"
if awk -F: 'NR == FNR { s[$0] = 1; next } !($1 in s) { bad = 1 } END { exit !bad }' \
	"$T/list" "$T/findings"; then
	t_fail "shellcheck ran cleanly"
	t_show "$T/findings"
else
	t_ok "shellcheck ran cleanly"
fi
t_done

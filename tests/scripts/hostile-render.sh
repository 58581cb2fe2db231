#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A render script that misbehaves on purpose, chosen by the name it is
# given (tests/t/0300-hostile-renders.sh). Never run it outside a renderer's
# limits.
set -u

# shellcheck disable=SC2264 # a fork bomb is meant to recurse
bomb() { bomb | bomb & }
[ "${GREETBOT_MODE:-video}" = preview ] && exit 1	# the bot asks in text
case $GREETBOT_NAME in
Loop)		while :; do :; done ;;			# burns CPU
Sleeper)	exec sleep 1000 ;;			# never finishes
Stubborn)	trap '' TERM; while :; do sleep 1; done ;;	# ignores SIGTERM
Hog)		exec awk 'BEGIN { s = "x"; while (1) s = s s }' ;;
Bomb)		bomb ;;				# fork bomb
Filler)		head -c 100000000 /dev/zero >"$GREETBOT_WORK_DIR/fill" ;;
Orphan)		setsid sleep 3007 </dev/null >/dev/null 2>&1 & exit 3 ;;
Noisy)		head -c 100000000 /dev/zero | tr '\0' x >&2; exit 3 ;;
*)		exit 78 ;;
esac

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A render script for tests/t/0320-sandbox.sh, which fills in the three
# @...@ values (the real render script, a local TCP listener, the token
# file). "Spy" tries to reach what a renderer must not and says what it
# got; "Bomb" forks without end; any other name is rendered for real.
set -u
real=@RENDER@
listener=@LISTENER@
token_file=@TOKEN@
state=${GREETBOT_WORK_DIR%/render/work/*}

# try WHAT CMD...: one attempt, one line on stderr: "refused: WHAT: why"
# when CMD fails, "REACHED: WHAT" when it succeeds.
try() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1 </dev/null); then
		echo "REACHED: $what" >&2
	else
		echo "refused: $what: ${out##*: }" >&2
	fi
}
tcp() { exec 3<>"/dev/tcp/${listener%:*}/${listener#*:}"; }

# A fork bomb that keeps forking until the render's timeout kills its group.
# shellcheck disable=SC2264 # a fork bomb is meant to recurse
bomb() { bomb | bomb & }
case $GREETBOT_NAME in
Spy)
	[ "${GREETBOT_MODE:-video}" = preview ] && exit 1	# the bot asks in text
	try "tcp $listener" tcp
	try "database" head -c 16 "$state/greetbot.db"
	try "database wal" head -c 16 "$state/greetbot.db-wal"
	try "token file" cat "$token_file"
	try "state dir listing" ls "$state"
	try "http.addr" cat "$state/http.addr"
	try "redis socket" redis-cli -s "$state/redis/redis.sock" ping
	exit 3 ;;
Bomb)
	[ "${GREETBOT_MODE:-video}" = preview ] && exit 1
	while :; do
		bomb
		wait
	done ;;
*)	exec "$real" ;;
esac

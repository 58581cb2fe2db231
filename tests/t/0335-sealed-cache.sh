#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The shared render cache is sealed (SPEC 1, Privileges; jobs/rendsrv.c):
# built once by a render of a sample name, never a parent's, then root's
# and read-only. A compromised render that tries to write into it, plant a
# file or change a cached part, changes nothing, and every parent still
# gets a video. A cache left writable (an older greetbotd's layout) is
# built again and sealed; a build that fails leaves each render a cache of
# its own, and parents still get their videos. (As root: renderers run as
# uids of their own.)
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip "renderers run as uids of their own only as root"
	t_done
	exit 0
fi
real=$(t_render_copy)
mkdir -p "$T/record"
chmod 1777 "$T/record"
# The render as a compromised one would run: it records whether its cache
# is writable, then tries to plant a file, change every cached file and
# make a directory of its own there, then renders as usual. The build of
# the sample name fails while $T/fail-build is there.
cat >"$T/scripts/hostile-cache.sh" <<SH
#!/usr/bin/env bash
c=\${GREETBOT_CACHE_DIR:-}
if [ -e "$T/fail-build" ] && [ "\$GREETBOT_NAME" = Emma ]; then
	exit 1
fi
if [ -n "\$c" ] && [ "\$GREETBOT_NAME" != Emma ]; then
	w=ro
	[ -w "\$c" ] && w=rw
	echo "\$GREETBOT_NAME \$GREETBOT_MODE \$w" >>"$T/record/names"
	{ echo planted >"\$c/planted"; } 2>/dev/null
	find "\$c" -type f -exec sh -c 'echo changed >>"\$1"' _ {} \\; 2>/dev/null
	mkdir "\$c/static-0000000000000000" 2>/dev/null
else
	echo "\${GREETBOT_NAME} \$GREETBOT_MODE build" >>"$T/record/names"
fi
exec "$real"
SH
chmod 755 "$T/scripts/hostile-cache.sh"

sim_start
GB_RENDER_SCRIPT=$T/scripts/hostile-cache.sh gb_start
cache=$T/state/render/cache
# gb_stop: greetbotd drains and exits (tgsim, and the bot's offset in it, stay).
gb_stop() {
	kill -TERM "$GB_PID"
	wait "$GB_PID" || true
}

t_check "a parent gets the video" test -s "$(parent_order 3351 Маша)"
t_check "the cache was built by a render of the sample name" \
	t_wait_log "$T/greetbotd.log" 'msg="render cache sealed"' 5
t_check "... first, then the parent's preview and video, which found it read-only" \
	test "$(head -1 "$T/record/names"; tail -n +2 "$T/record/names" | sort)" = \
	"$(printf '%s\n' 'Emma video build' 'Маша preview ro' 'Маша video ro')"
v=$(find "$cache" -mindepth 1 -maxdepth 1 -name '[0-9a-f]*' -printf '%f\n')
sum() { (cd "$cache/$v" && find . -printf '%p %u %m %s\n' | sort && find . -type f -exec cat {} + | md5sum); }
before=$(sum)
t_check "the sealed cache is root's and read-only, through and through" \
	test -z "$(find "$cache/$v" \( ! -user root -o -perm /222 \) -print)"
t_check "and holds the static parts" \
	test -n "$(find "$cache/$v" -name bed.m4a -print)"
t_check "a second parent, a new name, gets the video" test -s "$(parent_order 3352 Даша)"
t_check "the render could not write into the cache: nothing planted, nothing changed" \
	test "$(sum)" = "$before"

# A cache as an older greetbotd left it: writable, the render group's.
gb_stop
chmod -R u+w,g+w "$cache/$v"
chown -R "$((GREETBOT_RENDER_UID_BASE + 5))" "$cache/$v"
echo planted >"$cache/$v/planted"
: >"$T/record/names"
GB_RENDER_SCRIPT=$T/scripts/hostile-cache.sh gb_start
t_check "after a restart over a writable cache, a parent gets the video" \
	test -s "$(parent_order 3353 Саша)"
t_check "the writable cache was built again and sealed" \
	test "$(grep -c 'msg="render cache sealed"' "$T/greetbotd.log")" = 2
t_check "... without what was planted in it" test ! -e "$cache/$v/planted"
t_check "... root's and read-only" \
	test -z "$(find "$cache/$v" \( ! -user root -o -perm /222 \) -print)"

# A build that fails: each render caches in its own work dir.
gb_stop
chmod -R u+w "$cache/$v"
rm -rf "${cache:?}/$v"
: >"$T/fail-build"
GB_RENDER_SCRIPT=$T/scripts/hostile-cache.sh gb_start
t_check "when the cache cannot be built, a parent still gets the video" \
	test -s "$(parent_order 3354 Гриша)"
t_check "the log says the cache is not sealed, and why" \
	t_wait_log "$T/greetbotd.log" 'msg="render cache not sealed: each render makes its own".*reason="the build render exited 1' 5
t_check "no half-built cache is left in place" \
	test -z "$(find "$cache" -mindepth 1 -maxdepth 1 -print)"
t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The Debian package on a fresh Debian bookworm: `make deb` builds it,
# lintian finds no error, and apt-get installs it into a debootstrap
# minbase chroot (its Depends pulled in: no build tree, no -dev package).
# The install makes the greetbot and greetbot-render users, a conffile and an empty token
# file that the enabled unit waits for; then the sysadmin's steps: tgsim's
# URL into /etc/greetbot/greetbot.conf, the token into the file it names,
# and greetbotd started as the unit would (systemd does not run in a
# chroot: ExecStart by hand, as root, in WorkingDirectory, with systemd's
# environment, after making StateDirectory, inside the unit's sandbox
# reproduced with mounts: ProtectSystem=strict, PrivateTmp, ProtectHome,
# NoNewPrivileges). A simulated parent (tgsim from the package, on
# loopback) gets a video. Then an upgrade: the package repacked with a
# higher version (and a conffile with a line more) goes on with `dpkg -i
# --force-confold` while greetbotd runs; the users, the token, the
# sysadmin's conffile, the database and the video stay, and greetbotd
# started again sends a new parent the same name by its saved file_id,
# without a render. Purge takes the state and config.
#
# The chroot: a minbase tree with the package's Depends installed is
# cached under $GREETBOT_DEB_CACHE (/var/tmp/greetbot-deb-chroot; made
# again when Depends or the apt sources change), and each run works on an
# overlay of it. Every mount lives in a mount namespace of its own (held
# by one process, entered with nsenter), so the host never sees one and
# nothing is left mounted however the test ends. The first (cold) run
# debootstraps and installs ffmpeg & co.: 1.5 to 3.5 minutes here, then
# about 30 s. `0800-deb.sh --prepare` builds the package and the cache
# only (.ci/run does so before `make test`, where this test then runs
# warm).
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip "debootstrap, chroot and mount namespaces need root"
	exit 0
fi
prepare_only=0
[ "${1:-}" = --prepare ] && prepare_only=1

cache=${GREETBOT_DEB_CACHE:-/var/tmp/greetbot-deb-chroot}
root=$T/root
# systemd's PATH for system services; the unit sets no Environment=.
unit_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
NS_PID=

need() {
	command -v "$1" >/dev/null && return 0
	echo "# installing $2 (needed by this test)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" \
		>>"$T/apt-host.log" 2>&1
}

# Kill what still runs inside the chroot (by pid), then the namespace's
# holder (its mounts go with it); $T is removed only when no mount of it is
# visible here, which with the private namespace is always.
deb_cleanup() {
	local p
	sim_stop
	for p in $(chroot_pids); do kill -KILL "$p" 2>/dev/null || true; done
	if [ -n "$NS_PID" ]; then
		kill -KILL "$NS_PID" 2>/dev/null || true
		wait "$NS_PID" 2>/dev/null || true
	fi
	if grep -qF " $T/" /proc/self/mounts; then
		echo "# something of $T is still mounted: keeping it"
		# shellcheck disable=SC2034 # read by t_cleanup
		GREETBOT_KEEP=1
	fi
	t_cleanup
}
trap deb_cleanup EXIT

# The pids of processes in the chroot's mount namespaces (ns_ids: the
# holder's and greetbotd's; never our own) but the holder, or whose root
# is the cache being made.
ns_ids=
chroot_pids() {
	local p r n self
	self=$(readlink /proc/self/ns/mnt)
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != "$NS_PID" ] || continue
		n=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
		if [ "$n" != "$self" ]; then
			case " $ns_ids " in *" $n "*) echo "${p#/proc/}" && continue ;; esac
		fi
		r=$(readlink "$p/root" 2>/dev/null) || continue
		case $r in "$cache"/deps-*.tmp) echo "${p#/proc/}" ;; esac
	done
}

# Mounts go into namespaces of their own, private so that none propagates
# back. In a chroot (CI's fresh machine) "/" is no mount point and cannot
# be made private; there it stays as it is, which is safe only when no
# mount is shared.
if unshare --mount --propagation private true 2>/dev/null; then
	prop=private
elif ! grep -q ' shared:' /proc/self/mountinfo; then
	prop=unchanged
else
	echo "not ok 1 - a private mount namespace (shared mounts here, and / cannot be made private)"
	exit 1
fi

# The tree with minbase and DEPENDS installed (made once, then cached).
deps_tree() {
	local depends=$1 key tree lk mirror p t0
	key=$({ echo "v1 bookworm minbase"; echo "$depends"; cat /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list 2>/dev/null; } | sha256sum | cut -c1-16)
	tree=$cache/deps-$key
	if [ -d "$tree" ]; then
		echo "$tree"
		return 0
	fi
	mkdir -p "$cache"
	exec {lk}>"$cache/lock"
	flock "$lk"
	if [ ! -d "$tree" ]; then
		echo "# cold chroot cache: debootstrap and apt-get (minutes)" >&2
		need debootstrap debootstrap >&2
		mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources \
			2>/dev/null)
		t0=$SECONDS
		# Packages this machine already downloaded are linked in, not
		# fetched again (apt's cache; the links are removed afterwards).
		mkdir -p "$cache/debs"
		find /var/cache/apt/archives -maxdepth 1 -name '*.deb' \
			-exec cp -l -n -t "$cache/debs" {} + 2>/dev/null || true
		if [ ! -d "$cache/base" ]; then
			rm -rf "$cache/base.tmp"
			debootstrap --variant=minbase --cache-dir="$cache/debs" bookworm "$cache/base.tmp" \
				"${mirror:-http://deb.debian.org/debian}" >"$T/debootstrap.log" 2>&1 || {
				t_show "$T/debootstrap.log" >&2
				return 1
			}
			mv "$cache/base.tmp" "$cache/base"
			echo "# debootstrap: $((SECONDS - t0)) s" >&2
		fi
		rm -rf "$tree.tmp"
		cp -a "$cache/base" "$tree.tmp"
		if [ -f /etc/apt/sources.list.d/debian.sources ]; then
			cp /etc/apt/sources.list.d/debian.sources "$tree.tmp/etc/apt/sources.list.d/"
			rm -f "$tree.tmp/etc/apt/sources.list"
		fi
		cp /etc/resolv.conf "$tree.tmp/etc/resolv.conf" 2>/dev/null || true
		# No package may start a service here (redis-server would listen).
		printf '#!/bin/sh\nexit 101\n' >"$tree.tmp/usr/sbin/policy-rc.d"
		chmod 755 "$tree.tmp/usr/sbin/policy-rc.d"
		printf '%s\n' "$depends" >"$tree.tmp/root/depends"
		find "$cache/debs" -maxdepth 1 -name '*.deb' \
			-exec cp -l -n -t "$tree.tmp/var/cache/apt/archives" {} + 2>/dev/null || true
		# Quicker dpkg for the dependencies only (no fsync, no manuals,
		# documents or translations); the greetbot package is installed
		# later without these settings.
		cat >"$tree.tmp/root/prepare" <<-'EOF'
			set -eu
			export DEBIAN_FRONTEND=noninteractive
			quick=/etc/dpkg/dpkg.cfg.d/zz-greetbot-test
			printf '%s\n' force-unsafe-io 'path-exclude=/usr/share/man/*' \
				'path-exclude=/usr/share/doc/*' 'path-exclude=/usr/share/locale/*' >"$quick"
			apt-get update -qq
			apt-get satisfy -y -qq --no-install-recommends "$(cat /root/depends)"
			apt-get clean
			rm -f "$quick" /root/prepare /root/depends
		EOF
		unshare --mount --propagation "$prop" -- /bin/sh -c '
			mount --bind /dev "$1/dev" && mount -t proc proc "$1/proc" &&
			chroot "$1" /usr/bin/env -i PATH="$2" HOME=/root LANG=C.UTF-8 /bin/sh /root/prepare' \
			sh "$tree.tmp" "$unit_path" >"$T/apt-deps.log" 2>&1 || {
			t_show "$T/apt-deps.log" >&2
			return 1
		}
		echo "# the dependencies: $((SECONDS - t0)) s in all" >&2
		for p in $(chroot_pids); do kill -KILL "$p" 2>/dev/null || true; done
		find "$cache" -maxdepth 1 -name 'deps-*' ! -name "deps-$key.tmp" -exec rm -rf {} +
		rm -rf "$cache/debs"
		mv "$tree.tmp" "$tree"
	fi
	flock -u "$lk"
	exec {lk}>&-
	echo "$tree"
}

# Mount an overlay of the cached tree on $root, with /dev and /proc, in a
# mount namespace of its own that one process holds open.
ns_up() {
	local lower=$1 line=""
	mkdir -p "$T/upper" "$T/work" "$root"
	mkfifo "$T/ns.ready"
	unshare --mount --propagation "$prop" -- /bin/sh -c '
		mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/root" ||
			cp -a "$1/." "$2/root/" || exit 1
		mount --bind /dev "$2/root/dev" && mount -t proc proc "$2/root/proc" || exit 1
		echo up >&3
		exec 3>&-
		exec sleep infinity' sh "$lower" "$T" 3>"$T/ns.ready" 2>"$T/ns.log" &
	NS_PID=$!
	read -r line <"$T/ns.ready" || true
	[ "$line" = up ] || return 1
	ns_ids=$(readlink "/proc/$NS_PID/ns/mnt")
}

# in_root CMD...: run CMD in the chroot with a clean environment.
in_root() {
	nsenter --target "$NS_PID" --mount --root -- chroot "$root" \
		/usr/bin/env -i PATH="$unit_path" HOME=/root LANG=C.UTF-8 "$@"
}

# --- the package --------------------------------------------------------
start=$SECONDS
if deb=$(make -C "$TOP" --no-print-directory deb 2>"$T/make-deb.log" | tail -n 1) &&
	[ -f "$TOP/$deb" ]; then
	deb=$TOP/$deb
	t_ok "make deb builds $(basename "$deb") ($(du -k "$deb" | cut -f1) kB)"
else
	t_fail "make deb builds the package"
	t_show "$T/make-deb.log"
	exit 1
fi
depends=$(dpkg-deb -f "$deb" Depends)
if [ "$prepare_only" = 1 ]; then
	tree=$(deps_tree "$depends")
	t_ok "the chroot cache is ready: $tree ($((SECONDS - start)) s)"
	t_done
	exit
fi

t_check "Depends names the libraries and the programs greetbotd runs" \
	t_jq 'split(", ") | map(split(" ")[0]) | contains(["libevent-2.1-7", "libcurl4",
		"libcjson1", "libhiredis0.14", "libsqlite3-0", "libunistring2", "redis-server",
		"ffmpeg", "espeak-ng", "fonts-dejavu-core", "adduser"])' < <(jq -Rn --arg d "$depends" '$d')
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' >"$T/contents"
t_check "the package has the binaries, greetbot-tg in /usr/libexec" \
	grep -qE 'x .* \./usr/libexec/greetbot/greetbot-tg$' "$T/contents"
t_check "it has the render script with its parts, templates with media, texts, the Bot API list" \
	bash -c 'for f in scripts/render.sh scripts/render.d/common.sh scripts/render.d/mp4join.pl \
		templates/ru-birthday/media/background.mp4 templates/en-birthday/template.conf \
		messages/ru messages/en data/bot-api-10.1.min.json; do
		grep -q " \./usr/share/greetbot/$f$" "$1" || exit 1; done' _ "$T/contents"
t_check "it has the unit and the manual pages" \
	bash -c 'for f in lib/systemd/system/greetbotd.service usr/share/man/man8/greetbotd.8.gz \
		usr/share/man/man8/greetctl.8.gz usr/share/man/man5/greetbot.conf.5.gz \
		usr/share/man/man1/tgsim.1.gz; do grep -q " \./$f$" "$1" || exit 1; done' _ "$T/contents"
t_check "/etc/greetbot/greetbot.conf is a conffile, mode 0600 root" \
	bash -c 'grep -qx -- "-rw------- root/root ./etc/greetbot/greetbot.conf" "$1" &&
		dpkg-deb --control "$2" "$3/ctrl" && grep -qx /etc/greetbot/greetbot.conf "$3/ctrl/conffiles"' \
	_ "$T/contents" "$deb" "$T"
t_check "the maintainer scripts and pkg/deb/build.sh pass shellcheck" \
	shellcheck -x -S warning "$T/ctrl/postinst" "$T/ctrl/prerm" "$T/ctrl/postrm" \
	"$TOP/pkg/deb/build.sh"
need lintian lintian
lintian "$deb" >"$T/lintian.out" 2>&1 || true
if grep -q '^E: ' "$T/lintian.out"; then
	t_fail "lintian reports no error"
	t_show "$T/lintian.out"
else
	t_ok "lintian reports no error ($(grep -c '^W: ' "$T/lintian.out") warnings)"
fi
# The copyright file (issue 22): DEP-5, ISC for greetbot and MIT (Expat)
# for the Bot API list, each with its text; lintian has nothing to say
# about it.
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/doc/greetbot/copyright >"$T/copyright" ||
	true
t_check "the copyright file gives greetbot ISC and the Bot API list MIT, with their texts" \
	bash -c 'grep -qx "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" "$1" &&
		grep -qx "License: ISC" "$1" && grep -qx "License: Expat" "$1" &&
		grep -qx " Permission to use, copy, modify, and/or distribute this software for any" "$1" &&
		grep -q "^ Permission is hereby granted, free of charge" "$1" &&
		! grep -q "LICENSE.bot-api-spec" "$2"' _ "$T/copyright" "$T/contents"
if grep -iE '^[EW]: .*(copyright|licen[cs]e|dep5)' "$T/lintian.out" >"$T/lintian.copyright"; then
	t_fail "lintian has no warning about the copyright file"
	t_show "$T/lintian.copyright"
else
	t_ok "lintian has no warning about the copyright file"
fi

echo "# the package and lintian: $((SECONDS - start)) s"

# --- a fresh bookworm with the package -----------------------------------
if ! tree=$(deps_tree "$depends"); then
	t_fail "a bookworm minbase chroot with the package's Depends"
	exit 1
fi
if ! ns_up "$tree"; then
	t_fail "the chroot is mounted"
	t_show "$T/ns.log"
	exit 1
fi
echo "# chroot ready after $((SECONDS - start)) s"
# For processes that stay in the background: nsenter, chroot and env exec,
# so $! is the program's own pid.
root_cmd=(nsenter --target "$NS_PID" --mount --root -- chroot "$root" /usr/bin/env -i
	PATH="$unit_path")
in_root /bin/sh -c 'cat >/tmp/greetbot.deb' <"$deb"
if in_root apt-get install -y -q --no-install-recommends /tmp/greetbot.deb >"$T/apt.log" 2>&1; then
	t_ok "apt-get install ./$(basename "$deb") in a fresh bookworm"
else
	t_fail "apt-get install ./$(basename "$deb") in a fresh bookworm"
	t_show "$T/apt.log"
	exit 1
fi
t_check "postinst made the system users greetbot and greetbot-render, each with a group of its own" \
	in_root sh -c 'for n in greetbot greetbot-render; do u=$(id -u $n) && [ "$u" -lt 1000 ] &&
		[ "$(id -Gn $n)" = $n ] || exit 1; done'
t_check "the conffile is root's, 0640 for the greetbot group; the service runs as greetbot, renderers with greetbot-render's group" \
	in_root sh -c '[ "$(stat -c %a:%U:%G /etc/greetbot/greetbot.conf)" = 640:root:greetbot ] &&
		grep -qx "render_user = greetbot-render" /etc/greetbot/greetbot.conf &&
		grep -qx "service_user = greetbot" /etc/greetbot/greetbot.conf'
t_check "the unit is enabled" \
	in_root test -L /etc/systemd/system/multi-user.target.wants/greetbotd.service
unit=$(in_root cat /lib/systemd/system/greetbotd.service)
t_check "and waits for the token: an empty token file (0640 root:greetbot), the unit's ConditionFileNotEmpty" \
	bash -c 'grep -qx "ConditionFileNotEmpty=/etc/greetbot/token" <<<"$1" &&
		[ "$2" = 640:0:root:greetbot ]' _ "$unit" "$(in_root stat -c %a:%s:%U:%G /etc/greetbot/token)"

# --- the sysadmin's part, then greetbotd as the unit starts it ------------
sim_ready=$T/tgsim.ready
mkfifo "$sim_ready"
"${root_cmd[@]}" /usr/bin/tgsim --listen 127.0.0.1:0 --spec /usr/share/greetbot/data/bot-api-10.1.min.json \
	--media-dir /var/tmp/tgsim --token "$SIM_TOKEN" --ready-fd 3 3>"$sim_ready" 2>>"$T/tgsim.log" &
# shellcheck disable=SC2034 # read by sim_stop
SIM_PID=$!
read -r SIM_ADDR <"$sim_ready" || true
t_check "tgsim from the package listens on loopback ($SIM_ADDR)" grep -q '^127\.0\.0\.1:[0-9]*$' <<<"$SIM_ADDR"
in_root sed -i -e "s|^telegram_api_url = .*|telegram_api_url = http://$SIM_ADDR|" \
	-e 's|^http_listen = .*|http_listen = 127.0.0.1:0|' /etc/greetbot/greetbot.conf
in_root sh -c 'cat >/etc/greetbot/token' <<<"$SIM_TOKEN"

exec_start=$(sed -n 's/^ExecStart=//p' <<<"$unit")
workdir=$(sed -n 's/^WorkingDirectory=//p' <<<"$unit")
state=/var/lib/$(sed -n 's/^StateDirectory=//p' <<<"$unit")
state_mode=$(sed -n 's/^StateDirectoryMode=//p' <<<"$unit")
t_check "the unit runs greetbotd as root (no User=) from the package's paths" \
	bash -c '! grep -q "^User=" <<<"$1" && [ "$2" = "/usr/bin/greetbotd -c /etc/greetbot/greetbot.conf" ] &&
		[ "$3" = /var/lib/greetbot ]' _ "$unit" "$exec_start" "$workdir"
in_root sh -c 'mkdir -p "$1" && chmod "$2" "$1"' sh "$state" "$state_mode"

# The unit's sandbox, as far as it restricts greetbotd, is reproduced in a
# mount namespace of greetbotd's own; every [Service] directive must be one
# this test knows (a new one: add it here, with what it does if it
# restricts anything).
known=" Type NotifyAccess ExecStart ExecReload TimeoutStopSec KillMode Restart RestartSec "
known+="StateDirectory StateDirectoryMode WorkingDirectory NoNewPrivileges ProtectSystem "
known+="ProtectHome PrivateTmp ReadWritePaths CapabilityBoundingSet SystemCallFilter UMask "
# Not reproduced here (checked by systemd-analyze below): what they take
# away (kernel tunables, modules, logs, cgroups, clock, hostname, devices,
# realtime, setuid bits, personality, other architectures, address
# families, namespaces but net) greetbotd and its children never use.
known+="RestrictNamespaces PrivateDevices ProtectKernelTunables ProtectKernelModules "
known+="ProtectKernelLogs ProtectControlGroups ProtectClock ProtectHostname ProtectProc "
known+="RestrictRealtime RestrictSUIDSGID LockPersonality SystemCallArchitectures "
known+="RestrictAddressFamilies PrivateMounts LimitNOFILE TasksMax "
unknown=$(sed -n '/^\[Service\]/,/^\[/ s/^\([A-Za-z]*\)=.*/\1/p' <<<"$unit" |
	while read -r k; do case $known in *" $k "*) ;; *) printf '%s ' "$k" ;; esac; done)
t_check "this test knows every [Service] directive of the unit${unknown:+ (not: $unknown)}" \
	test -z "$unknown"
t_check "the sandbox: ProtectSystem=strict, ProtectHome, PrivateTmp, NoNewPrivileges" \
	bash -c 'for d in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes; do
		grep -qx "$d" <<<"$1" || exit 1; done' _ "$unit"
writable="$state $(sed -n 's/^ReadWritePaths=//p' <<<"$unit")"
# CapabilityBoundingSet: setpriv's --bounding-set, from the unit's list.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' <<<"$unit")
bset=-all
for c in $caps; do
	c=${c#CAP_}
	bset+=",+${c,,}"
done
t_check "the unit bounds greetbotd's capabilities (${caps:-none})" test -n "$caps"
umask=$(sed -n 's/^UMask=//p' <<<"$unit")
# SystemCallFilter: the unit's lines (allowed, then ~denied) as
# systemd-analyze expands their groups, applied by tests/tools/syscall-filter
# (seccomp, SIGSYS for any other call) to greetbotd and every child.
# sc_expand NAME...: system calls and @groups, as calls.
sc_expand() {
	local g m
	for g; do
		case $g in
		@*) mapfile -t m < <(systemd-analyze syscall-filter "$g" |
			sed -n 's/^    \([@a-z0-9_-]*\)$/\1/p')
			sc_expand "${m[@]}" ;;
		*) printf '%s\n' "$g" ;;
		esac
	done
}
filter=""
if command -v systemd-analyze >/dev/null 2>&1 && [ -x "${BIN%/bin}/tests/syscall-filter" ]; then
	allow=() deny=()
	while read -r v; do
		case $v in "~"*) read -ra w <<<"${v#\~}"; deny+=("${w[@]}") ;; *) read -ra w <<<"$v"; allow+=("${w[@]}") ;; esac
	done < <(sed -n 's/^SystemCallFilter=//p' <<<"$unit")
	comm -23 <(sc_expand "${allow[@]}" | sort -u) <(sc_expand "${deny[@]}" | sort -u) \
		>"$T/syscalls"
	in_root sh -c 'mkdir -p /opt/greetbot-test && cat >/opt/greetbot-test/syscalls' <"$T/syscalls"
	in_root sh -c 'cat >/opt/greetbot-test/syscall-filter && chmod 755 /opt/greetbot-test/syscall-filter' \
		<"${BIN%/bin}/tests/syscall-filter"
	filter="/opt/greetbot-test/syscall-filter /opt/greetbot-test/syscalls"
	t_check "the unit filters system calls ($(wc -l <"$T/syscalls") allowed, none of: ${deny[*]})" \
		test "${#allow[@]}" -gt 0 -a "${#deny[@]}" -gt 0
else
	t_skip "the unit's SystemCallFilter: systemd-analyze is not installed"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
	printf '%s\n' "$unit" >"$T/greetbotd.service"
	exposure=$(systemd-analyze security --offline=true "$T/greetbotd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	t_check "systemd-analyze security rates the unit 4.0 or better (${exposure:-?})" \
		awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 4.0) }'
else
	t_skip "systemd-analyze security: not installed"
fi
# ProtectSystem=strict: everything read-only but the state directory and
# ReadWritePaths (and /dev, /proc); PrivateTmp: /tmp and /var/tmp empty and
# private; ProtectHome: /home, /root, /run/user empty and read-only;
# NoNewPrivileges: setpriv; SystemCallFilter: syscall-filter. Then greetbotd in
# WorkingDirectory, with the unit's UMask.
sandbox='r=$1 rw=$2 wd=$3 path=$4
shift 4
mount -o remount,bind,ro "$r" || exit 1
for d in $rw; do
	mount --bind "$r$d" "$r$d" && mount -o remount,bind,rw "$r$d" || exit 1
done
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$r$d" || exit 1; done
for d in /home /root /run/user; do
	[ ! -d "$r$d" ] || mount -t tmpfs -o ro,mode=0755 tmpfs "$r$d" || exit 1
done
exec chroot "$r" /usr/bin/env -i PATH="$path" /usr/bin/setpriv --no-new-privs \
	--bounding-set "$bset" $filter \
	/bin/sh -c '\''cd "$1" && umask "$2" && shift 2 && exec "$@"'\'' sh "$wd" "$umask" "$@"'
read -ra argv <<<"$exec_start"
# unit_start LOG: greetbotd started as the unit starts it, its standard
# error in LOG (GB_PID); returns once it reports ready (0) or an error of
# its own (a fatal one ends it) or a minute passed (1).
unit_start() {
	local log=$1 n
	nsenter --target "$NS_PID" --mount --root -- unshare --mount --propagation "$prop" -- \
		/usr/bin/env bset="$bset" filter="$filter" umask="${umask:-0022}" /bin/sh -c "$sandbox" sh "$root" "$writable" "$workdir" \
		"$unit_path" "${argv[@]}" 2>>"$log" &
	GB_PID=$!
	t_wait_log "$log" 'msg=ready|level=error proc=greetbotd' 60 || true
	if ! grep -q 'msg=ready' "$log" && kill -0 "$GB_PID" 2>/dev/null; then
		t_wait_log "$log" 'msg=ready' 60 || true
	fi
	# Its namespace (once it runs there), for finding what it leaves behind.
	n=$(readlink "/proc/$GB_PID/ns/mnt" 2>/dev/null) && ns_ids+=" $n"
	grep -q 'msg=ready' "$log"
}
if unit_start "$T/greetbotd.log"; then
	t_ok "greetbotd starts from the unit's command line and reports ready"
else
	t_fail "greetbotd starts from the unit's command line and reports ready"
	t_show "$T/greetbotd.log"
fi
t_check "renderers run as per-slot uids with the greetbot-render group and no network" \
	grep -qF 'uids=65600.. group=greetbot-render per_slot=yes network="none (empty network namespace)"' \
	"$T/greetbotd.log"
svc_uid=$(in_root id -u greetbot)
t_check "the jobs process, greetbot-tg and redis-server run as greetbot (uid $svc_uid)" \
	bash -c 'for p in $(pgrep -P "$1" -x greetbotd-jobs) $(pgrep -P "$1" -x greetbot-tg) \
		$(pgrep -P "$1" -x redis-server); do
		[ "$(awk "/^Uid:/ { print \$2 \$3 \$4 }" "/proc/$p/status")" = "$2$2$2" ] || exit 1
		n=$((n + 1)); done; [ "$n" = 3 ]' _ "$GB_PID" "$svc_uid"
t_check "... and no child of greetbotd runs as root" \
	bash -c '[ -z "$(ps -o uid= --ppid "$1" | awk "\$1 == 0")" ]' _ "$GB_PID"
t_check "greetbotd does not warn that renderers can read the token" \
	bash -c '! grep -q "can read the bot token" "$1"' _ "$T/greetbotd.log"
# CHOWN 0, DAC_OVERRIDE 1, DAC_READ_SEARCH 2, FOWNER 3, KILL 5, SETGID 6,
# SETUID 7, SYS_ADMIN 21, SYS_NICE 23: the unit's list, as a mask.
if [ -n "$filter" ]; then
	t_check "greetbotd and its children run under the system call filter (seccomp mode 2)" \
		bash -c 'for p in "$1" $(pgrep -P "$1"); do
			grep -qx "Seccomp:[[:space:]]*2" "/proc/$p/status" || exit 1; done' _ "$GB_PID"
fi
t_check "greetbotd holds the unit's nine capabilities and no other" \
	bash -c 'grep -qx "CapEff:[[:space:]]*0000000000a000ef" "/proc/$1/status"' _ "$GB_PID"
t_check "it runs with no_new_privs, and cannot write outside its state directory" \
	bash -c 'grep -qx "NoNewPrivs:[[:space:]]*1" "/proc/$1/status" &&
		! nsenter --target "$1" --mount --root -- chroot "$2" /bin/sh -c ": >/etc/greetbot/x" \
		2>/dev/null' \
	_ "$GB_PID" "$root"

echo "# greetbotd ready after $((SECONDS - start)) s"
video=$(PARENT_WAIT=180 parent_order 8001 "маша") || video=""
probe=$(in_root ffprobe -v error -print_format json -show_streams "${video:-/nonexistent}" 2>/dev/null) ||
	probe='{}'
if t_jq '[.streams[].codec_type] | contains(["video", "audio"])' <<<"$probe"; then
	t_ok "a simulated parent gets a video with picture and sound"
else
	t_fail "a simulated parent gets a video with picture and sound"
	t_show "$T/greetbotd.log"
fi
t_check "greetctl from the package shows the asset AVAILABLE" \
	t_jq 'map(select(.state == "AVAILABLE")) | length == 1' \
	< <(in_root greetctl -c /etc/greetbot/greetbot.conf --json assets 2>/dev/null)
t_check "the database is 0600 greetbot's in a 0711 state_dir" \
	test "$(in_root stat -c %a:%U "$state" "$state/greetbot.db" | tr '\n' ' ')" = "711:root 600:greetbot "

# --- an upgrade over this install and its data -----------------------------
# The newer package is this one repacked (dpkg-deb -R, then --build, no
# rebuild) with a higher version and one line more in its conffile, as a
# release whose example configuration gained a line: the sysadmin edited
# the conffile too (tgsim's URL, http_listen), the case where dpkg asks,
# and where --force-confold (what an unattended apt-get is usually given)
# keeps the sysadmin's. Its programs, templates and render script are this package's,
# so its template versions are too and the videos made stay valid (a
# release whose render script changes renders every name anew, by design:
# 0530). As under systemd, greetbotd runs while dpkg unpacks (prerm upgrade
# leaves it) and postinst's try-restart stops and starts it (by hand here:
# no systemd in a chroot); tgsim runs throughout, as Telegram would, and
# knows the file_id the bot saved.
conf=/etc/greetbot/greetbot.conf
old_version=$(dpkg-deb -f "$deb" Version)
new_version=$old_version+upgrade1
# file_view PATH: mode, owners and SHA-256 of a file in the chroot (fails
# when there is none).
file_view() {
	in_root sh -c 's=$(stat -c %a:%U:%G "$1") && h=$(sha256sum <"$1") && echo "$s ${h%% *}"' \
		sh "$1"
}
# The uids and gids of the package's users.
users_view() {
	in_root sh -c 'for u in greetbot greetbot-render; do echo "$u=$(id -u $u):$(id -g $u)"; done' |
		paste -sd ' '
}
# The assets as greetctl shows them, and the jobs by state.
assets_view() {
	in_root greetctl -c "$conf" --json assets 2>/dev/null |
		jq -c 'map({id, name_key, state, file_id, file_path, attempts, requests})'
}
jobs_view() { in_root greetctl -c "$conf" --json status 2>/dev/null | jq -c .jobs; }
users_before=$(users_view)
token_before=$(file_view /etc/greetbot/token)
conf_before=$(file_view "$conf")
assets_before=$(assets_view) || assets_before=
jobs_before=$(jobs_view) || jobs_before=
fid=$(jq -r '.[0].file_id // empty' <<<"$assets_before")
video_file=$(jq -r '.[0].file_path // empty' <<<"$assets_before")
video_before=$(file_view "${video_file:-/nonexistent}" 2>/dev/null) || video_before=

dpkg-deb -R "$deb" "$T/newer"
sed -i "s/^Version: .*/Version: $new_version/" "$T/newer/DEBIAN/control"
echo "# new in $new_version (a line of the upgrade test)" >>"$T/newer$conf"
sum=$(cd "$T/newer" && md5sum "${conf#/}")
sed -i "s|^[0-9a-f]*  ${conf#/}\$|$sum|" "$T/newer/DEBIAN/md5sums"
newer=$T/greetbot_${new_version}_$(dpkg-deb -f "$deb" Architecture).deb
dpkg-deb --root-owner-group -Znone --build "$T/newer" "$newer" >/dev/null
in_root /bin/sh -c 'cat >/tmp/greetbot-newer.deb' <"$newer"
if in_root dpkg -i --force-confold /tmp/greetbot-newer.deb </dev/null >"$T/upgrade.log" 2>&1; then
	t_ok "dpkg -i --force-confold $(basename "$newer") while greetbotd runs"
else
	t_fail "dpkg -i --force-confold $(basename "$newer") while greetbotd runs"
	t_show "$T/upgrade.log"
fi
t_check "dpkg upgrades: \"Unpacking greetbot ($new_version) over ($old_version)\"" \
	grep -qF "Unpacking greetbot ($new_version) over ($old_version)" "$T/upgrade.log"
in_root dpkg -s greetbot >"$T/dpkg-s" 2>&1 || true
t_check "dpkg -s greetbot: install ok installed, version $new_version" \
	bash -c 'grep -qx "Status: install ok installed" "$1" && grep -qx "Version: $2" "$1"' _ \
	"$T/dpkg-s" "$new_version"
# postinst's try-restart: first the stop (SIGTERM, as systemd sends).
kill -TERM "$GB_PID" 2>/dev/null || true
wait "$GB_PID" 2>/dev/null || true
GB_PID=
left=$(chroot_pids | awk -v s="$SIM_PID" '$1 != s' | tr '\n' ' ')
t_check "greetbotd stopped as try-restart stops it: nothing of it left running" test -z "$left"
t_check "the users greetbot and greetbot-render are still there, same uids and gids ($users_before)" \
	test "$(users_view)" = "$users_before"
t_check "the token file is the same: its bytes, 0640 root:greetbot" \
	bash -c '[ "$1" = "$2" ] && [ "${1%% *}" = 640:root:greetbot ]' _ \
	"$(file_view /etc/greetbot/token)" "$token_before"
t_check "the conffile is the sysadmin's: the same bytes (tgsim's URL kept), 0640 root:greetbot" \
	bash -c '[ "$1" = "$2" ] && [ "${1%% *}" = 640:root:greetbot ]' _ \
	"$(file_view "$conf")" "$conf_before"
t_check "the package's new one is beside it as greetbot.conf.dpkg-dist; no other file of dpkg's" \
	bash -c '[ "$1" = "$(sha256sum <"$2" | cut -c1-64)" ] &&
		[ "$3" = "greetbot.conf greetbot.conf.dpkg-dist token " ]' _ \
	"$(file_view "$conf.dpkg-dist" | cut -d ' ' -f2)" "$T/newer$conf" \
	"$(in_root ls -A /etc/greetbot | tr '\n' ' ')"
t_check "the unit is still enabled" \
	in_root test -L /etc/systemd/system/multi-user.target.wants/greetbotd.service
t_check "the database is still 0600 greetbot's in the 0711 state_dir" \
	test "$(in_root stat -c %a:%U "$state" "$state/greetbot.db" | tr '\n' ' ')" = "711:root 600:greetbot "
t_check "greetctl shows the asset of «маша» still AVAILABLE with its file_id, attempts and file" \
	bash -c '[ -n "$2" ] && [ "$1" = "$2" ] &&
		jq -e "length == 1 and .[0].state == \"AVAILABLE\" and .[0].file_id != null" <<<"$1"' _ \
	"$(assets_view)" "$assets_before"
t_check "the video file is still there, the same bytes" \
	bash -c '[ -n "$2" ] && [ "$1" = "$2" ]' _ "$(file_view "${video_file:-/nonexistent}" 2>/dev/null)" \
	"$video_before"

# try-restart's start: greetbotd of the newer package on the kept state.
if unit_start "$T/greetbotd-upgraded.log"; then
	t_ok "greetbotd of $new_version starts as the unit starts it and reports ready"
else
	t_fail "greetbotd of $new_version starts as the unit starts it and reports ready"
	t_show "$T/greetbotd-upgraded.log"
fi
msg=""
parent_confirm 8002 "маша" && msg=$(sim_expect 8002 '.method == "sendVideo"' 120) || msg=""
t_check "a new parent ordering «маша» gets it by the file_id saved before the upgrade" \
	t_jq --arg f "${fid:-none}" '.params.video == $f' <<<"$msg"
t_check "without a render: no new job or attempt, one request more for the asset" \
	test "$(assets_view) $(jobs_view)" = \
	"$(jq -c 'map(.requests += 1)' <<<"${assets_before:-null}") ${jobs_before:-none}"

# What runs in the chroot now (tgsim, greetbotd, redis-server, greetbot-tg):
# the same search must find nothing once they are stopped.
running=$(chroot_pids | wc -l)
t_check "while they run, greetbotd's processes and tgsim are seen in the chroot ($running)" \
	test "$running" -ge 4
sim_stop
left=$(chroot_pids | tr '\n' ' ')
t_check "after SIGTERM nothing of greetbot is left running in the chroot" test -z "$left"

# --- purge ----------------------------------------------------------------
in_root apt-get purge -y -q greetbot >"$T/purge.log" 2>&1 || t_show "$T/purge.log"
t_check "purge removes the config, the token and the state; the user stays" \
	in_root sh -c '[ ! -e /etc/greetbot ] && [ ! -e /var/lib/greetbot ] && id greetbot >/dev/null &&
		[ ! -e /etc/systemd/system/multi-user.target.wants/greetbotd.service ]'
echo "# $((SECONDS - start)) s in all"
t_done

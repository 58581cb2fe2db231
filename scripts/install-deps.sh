#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Install the Debian packages greetbot needs to build, run and test.
# Idempotent and quick when everything is there; `make run` and `make test`
# call it. Needs root (or sudo) only when something is missing.
# Usage: install-deps.sh [SET...]; each SET adds packages for one more job:
#   fuzz  clang and libFuzzer's runtime (libclang-rt-dev: clang only
#         recommends it) for `make fuzz`
#   deb   dpkg-dev (dpkg-buildflags, dpkg-shlibdeps) for `make deb`
set -eu

packages=(
	gcc libc6-dev make pkg-config
	libevent-dev libcurl4-openssl-dev libcjson-dev libhiredis-dev
	libsqlite3-dev libunistring-dev
	sqlite3 redis-server ffmpeg espeak-ng fonts-dejavu-core
	# Fonts the shipped templates draw with (at render time: also the
	# .deb's Depends).
	fonts-urw-base35 fonts-comfortaa
	# `make media` only: the drawings rasterised, the song played.
	librsvg2-bin fluidsynth fluid-soundfont-gm
	curl jq ca-certificates procps iproute2 shellcheck
	# promtool, for the tests of /metrics and the shipped alert rules
	prometheus
	# systemd-analyze (not systemd as init), for the test of the unit: its
	# security rating, and its system call filter expanded to the calls
	# tests/t/0800 applies
	systemd
)
for set in "$@"; do
	case $set in
	fuzz) packages+=(clang libclang-rt-dev) ;;
	deb) packages+=(dpkg-dev) ;;
	*)
		echo "install-deps: unknown package set: $set" >&2
		exit 2
		;;
	esac
done

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "install-deps: missing packages and not root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

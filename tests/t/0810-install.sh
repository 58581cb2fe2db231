#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# `make install DESTDIR=... PREFIX=/usr/local`: every file lands where the
# prefix says (binaries, greetbot-tg in libexec, the render script with its
# parts, templates with media, texts, the Bot API list, manual pages, the
# unit and the example config, both rewritten for the prefix: checked with
# a second prefix too), and the installed programs work from there:
# greetbotd (finding greetbot-tg in ../libexec) with the installed example
# config, templates, script and texts, against the installed tgsim, and a
# simulated parent gets a video.
. "$(dirname "$0")/../lib.sh"

# What `make all` built is installed as it is (-o: not remade), as the other
# tests run it.
keep=()
for p in greetbotd greetbot-tg tgsim greetctl; do
	keep+=(-o "$BUILD/bin/$p")
done
D=$T/dest
P=/usr/local
if make -C "$TOP" --no-print-directory "${keep[@]}" -o media install BUILD="$BUILD" \
	DESTDIR="$D" PREFIX="$P" >"$T/install.log" 2>&1; then
	t_ok "make install DESTDIR=$D PREFIX=$P"
else
	t_fail "make install DESTDIR=$D PREFIX=$P"
	t_show "$T/install.log"
	exit 1
fi
R=$D$P
S=$R/share/greetbot

missing=()
for f in bin/greetbotd bin/greetctl bin/tgsim libexec/greetbot/greetbot-tg \
	share/greetbot/scripts/render.sh share/greetbot/scripts/render.d/mp4join.pl \
	share/greetbot/scripts/render.d/fontwidths.pl; do
	[ -x "$R/$f" ] || missing+=("$f")
done
t_check "the programs, the render script and its perl parts are installed executable" \
	test -z "${missing[*]-}"
t_check "every part of the render script is installed" \
	diff <(cd "$TOP/scripts/render.d" && ls) <(cd "$S/scripts/render.d" && ls)
t_check "the templates with their media, the texts and the Bot API list" \
	bash -c 'cd "$1" && for t in "$2"/templates/*/template.conf; do
		d=${t%/template.conf}; d=templates/${d##*/}
		[ -f "$d/template.conf" ] && [ -s "$d/media/background.mp4" ] || exit 1; done &&
		[ -f messages/ru ] && [ -f messages/en ] && [ -s data/bot-api-10.1.min.json ]' _ "$S" "$TOP"
t_check "no build stamps or other dot files are installed" \
	test -z "$(find "$S" -name '.*')"
t_check "the manual pages: greetbotd(8), greetctl(8), greetbot.conf(5), tgsim(1)" \
	test -f "$R/share/man/man8/greetbotd.8" -a -f "$R/share/man/man8/greetctl.8" \
	-a -f "$R/share/man/man5/greetbot.conf.5" -a -f "$R/share/man/man1/tgsim.1"
unit=$R/lib/systemd/system/greetbotd.service
example=$R/share/doc/greetbot/greetbot.conf.example
t_check "the unit and the example config are installed" test -f "$unit" -a -f "$example"
t_check "the unit starts the installed greetbotd with /etc/greetbot/greetbot.conf" \
	grep -qx "ExecStart=$P/bin/greetbotd -c /etc/greetbot/greetbot.conf" "$unit"
t_check "the example config names the installed templates, script and texts" \
	bash -c 'grep -qx "templates_dir = $1/share/greetbot/templates" "$2" &&
		grep -qx "render_script = $1/share/greetbot/scripts/render.sh" "$2" &&
		grep -qx "messages_dir = $1/share/greetbot/messages" "$2"' _ "$P" "$example"

# Another prefix: nothing of /usr/local is left in the unit or the example.
D2=$T/dest2
P2=/opt/greetbot
make -C "$TOP" --no-print-directory "${keep[@]}" -o media install BUILD="$BUILD" \
	DESTDIR="$D2" PREFIX="$P2" >"$T/install2.log" 2>&1 || t_show "$T/install2.log"
t_check "with PREFIX=$P2 the unit and the example name $P2, never /usr/local" \
	bash -c 'u=$1$2/lib/systemd/system/greetbotd.service e=$1$2/share/doc/greetbot/greetbot.conf.example
		grep -qx "ExecStart=$2/bin/greetbotd -c /etc/greetbot/greetbot.conf" "$u" &&
		grep -qx "templates_dir = $2/share/greetbot/templates" "$e" &&
		! grep -q /usr/local "$u" "$e" && [ -x "$1$2/libexec/greetbot/greetbot-tg" ]' _ "$D2" "$P2"
rm -rf "$D2"

# --- the installed programs, against the installed tgsim ------------------
ready=$T/tgsim.ready
mkfifo "$ready"
"$R/bin/tgsim" --listen 127.0.0.1:0 --spec "$S/data/bot-api-10.1.min.json" \
	--media-dir "$T/tgsim-media" --token "$SIM_TOKEN" --ready-fd 3 3>"$ready" 2>>"$T/tgsim.log" &
# shellcheck disable=SC2034 # read by sim_stop
SIM_PID=$!
read -r SIM_ADDR <"$ready" || true
t_check "the installed tgsim listens on loopback" grep -q '^127\.0\.0\.1:[0-9]*$' <<<"$SIM_ADDR"

# The installed example as a sysadmin would use it, its paths in DESTDIR,
# the token in a 0600 file it names (gb_start also passes the token and the
# simulator's URL in the environment).
(umask 077 && echo "$SIM_TOKEN" >"$T/token")
sed -e "s|$P/|$R/|g" -e "s|^telegram_token_file = .*|telegram_token_file = $T/token|" \
	"$example" >"$T/greetbot.conf"
BIN=$R/bin GB_TEMPLATES_DIR=$S/templates GB_RENDER_SCRIPT=$S/scripts/render.sh \
	GB_MESSAGES_DIR=$S/messages gb_start -c "$T/greetbot.conf" || t_show "$T/greetbotd.log"
t_check "the installed greetbotd starts with the installed example config" test -n "${GB_HTTP:-}"
t_check "it runs greetbot-tg from $P/libexec/greetbot" \
	grep -qF "$R/bin/../libexec/greetbot/greetbot-tg -b main -c $T/greetbot.conf" \
	<(ps -o args= --ppid "$GB_PID" 2>/dev/null)
t_check "it snapshotted the installed template and script" \
	cmp -s "$S/scripts/render.sh" "$(ls -d "$T"/state/render/templates/ru-birthday-*)/.render"

video=$(parent_order 8101 "маша") || video=""
if t_jq '[.streams[].codec_type] | contains(["video", "audio"])' \
	< <(ffprobe -v error -print_format json -show_streams "${video:-/nonexistent}" 2>/dev/null); then
	t_ok "a simulated parent gets a video with picture and sound"
else
	t_fail "a simulated parent gets a video with picture and sound"
	t_show "$T/greetbotd.log"
fi
t_check "the installed greetctl shows it AVAILABLE" \
	t_jq 'map(select(.state == "AVAILABLE")) | length == 1' \
	< <(GREETBOT_STATE_DIR=$T/state "$R/bin/greetctl" -c "$T/greetbot.conf" --json assets 2>/dev/null)
t_done

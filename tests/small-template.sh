#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# tests/small-template.sh SRC_DIR DST_DIR [WIDTHxHEIGHT]: a copy of a
# template at a small frame (default 320x180), for the tests that exercise
# the order path rather than the picture: every key as in SRC_DIR's
# template.conf but the frame, and the text sizes and border scaled with
# it; its own media are made by scripts/gen-media.sh at that size (make
# builds them into $(BUILD)/test-templates). The shipped templates
# themselves are rendered by tests/t/0020, 0030, 0100 and 0500.
set -eu
[ $# -ge 2 ] || { echo "usage: small-template.sh SRC_DIR DST_DIR [WxH]" >&2; exit 2; }
src=$1 dst=$2 frame=${3:-320x180}
[[ $frame =~ ^([0-9]+)x([0-9]+)$ ]] || { echo "small-template.sh: frame is WIDTHxHEIGHT" >&2; exit 2; }
mkdir -p "$dst"
# Everything but the media (made again at the new size) and the stamp.
for f in "$src"/* "$src"/.[!.]*; do
	[ -e "$f" ] || continue
	case ${f##*/} in media | .media-stamp | template.conf) continue ;; esac
	cp -R "$f" "$dst/"
done
awk -v w="${BASH_REMATCH[1]}" -v h="${BASH_REMATCH[2]}" '
	BEGIN { FS = " *= *" }
	{ line[NR] = $0; key[NR] = $1; val[NR] = $2 }
	$1 == "width" { ow = $2 }
	END {
		for (i = 1; i <= NR; i++) {
			if (key[i] == "width")
				line[i] = "width = " w
			else if (key[i] == "height")
				line[i] = "height = " h
			else if (key[i] ~ /_size$/ || key[i] == "text_border_width") {
				v = int(val[i] * w / ow + 0.5)
				line[i] = key[i] " = " (v < 1 ? 1 : v)
			}
			print line[i]
		}
	}' "$src/template.conf" >"$dst/template.conf"

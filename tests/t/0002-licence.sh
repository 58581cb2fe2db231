#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The licence (issue 22): LICENSE is the ISC licence of "The greetbot
# authors"; every source file of ours says so in its first lines, one form
# per language (C: "/* SPDX-License-Identifier: ISC */" as line 1; shell,
# Perl, make, the song's notes: "# SPDX-License-Identifier: ISC" as line 1,
# or line 2 after a "#!" or "# shellcheck shell=" line; manual pages:
# '.\" SPDX-License-Identifier: ISC' as line 1; SVG: the same as an XML
# comment, line 2 after "<?xml ...?>"); and the Debian copyright file's
# source (pkg/deb/copyright.in) gives ISC to the whole and MIT (Expat) to
# data/ with the holders the licence files name. Not ours, not checked:
# data/ (the Bot API list, MIT) and the byte-compared test data
# (fuzz/corpus/, tests/golden/, tests/fixtures/ but for its script).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

cd "$TOP" || exit 1
spdx='SPDX-License-Identifier: ISC'

# --- LICENSE ---------------------------------------------------------------
cat >"$T/isc" <<'EOF'
Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
EOF
t_check "LICENSE starts with 'Copyright (c) 2026 The greetbot authors'" \
	test "$(head -n 1 LICENSE 2>/dev/null)" = "Copyright (c) 2026 The greetbot authors"
if [ -f LICENSE ] && cmp -s <(sed -n '/^Permission/,$p' LICENSE) "$T/isc"; then
	t_ok "LICENSE is the ISC licence, word for word"
else
	t_fail "LICENSE is the ISC licence, word for word"
	[ ! -f LICENSE ] || diff "$T/isc" <(sed -n '/^Permission/,$p' LICENSE) >"$T/diff" || t_show "$T/diff"
fi

# --- the headers -------------------------------------------------------------
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	t_skip "not a git checkout: the source files are those git tracks"
	t_done
	exit
fi
# "KIND FILE" for every file git tracks or would track (new, not ignored)
# that must carry the line; a file of no known kind that starts with "#!"
# is a script all the same.
git ls-files --cached --others --exclude-standard >"$T/tracked"
while IFS= read -r f; do
	[ -f "$f" ] || continue # deleted in the work tree, not yet in the index
	case $f in
	data/* | fuzz/corpus/* | tests/golden/*) ;;
	*.c | *.h) echo "c $f" ;;
	*.sh | *.pl | *.mk | Makefile | */Makefile | *.notes | .ci/run) echo "hash $f" ;;
	man/*.[1-9]) echo "man $f" ;;
	*.svg) echo "xml $f" ;;
	tests/fixtures/*) ;;
	*) if [ "$(head -c 2 "$f")" = '#!' ]; then echo "hash $f"; fi ;;
	esac
done <"$T/tracked" >"$T/files"

# check KIND WHAT MIN: every file of KIND has the line where its form says,
# and there are at least MIN of them (an empty list would prove nothing).
check() {
	local kind=$1 what=$2 min=$3 n
	n=$(awk -v k="$kind" '$1 == k' "$T/files" | wc -l)
	awk -v k="$kind" '$1 == k { print $2 }' "$T/files" | while IFS= read -r f; do
		{ IFS= read -r l1 || true; IFS= read -r l2 || true; } <"$f"
		case $kind in
		c) [ "$l1" = "/* $spdx */" ] ;;
		hash) [ "$l1" = "# $spdx" ] ||
			{ case $l1 in '#!'* | '# shellcheck shell='*) [ "$l2" = "# $spdx" ] ;; *) false ;; esac } ;;
		man) [ "$l1" = ".\\\" $spdx" ] ;;
		xml) [ "$l1" = "<!-- $spdx -->" ] ||
			{ case $l1 in '<?xml'*) [ "$l2" = "<!-- $spdx -->" ] ;; *) false ;; esac } ;;
		esac || echo "$f"
	done >"$T/missing-$kind"
	if [ "$n" -lt "$min" ]; then
		t_fail "$what: found only $n files (at least $min expected)"
	elif [ -s "$T/missing-$kind" ]; then
		t_fail "$what ($(wc -l <"$T/missing-$kind") of $n files lack the line):"
		t_show "$T/missing-$kind" 50
	else
		t_ok "$what ($n files)"
	fi
}
check c "every C source and header starts with /* $spdx */" 100
check hash "every shell and Perl script, makefile and the notes carry # $spdx" 80
check man "every manual page starts with .\\\" $spdx" 4
check xml "every SVG drawing carries <!-- $spdx -->" 5

# --- the Debian copyright file ------------------------------------------------
# paragraph PATTERN: the paragraph of copyright.in whose Files: is PATTERN.
paragraph() {
	awk -v p="$1" 'BEGIN { RS = "" } $0 ~ "(^|\n)Files: " p "(\n|$)"' pkg/deb/copyright.in
}
holder=$(sed -n '1s/^Copyright (c) //p' LICENSE 2>/dev/null)
t_check "pkg/deb/copyright.in is DEP-5 (copyright-format 1.0)" \
	grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' \
	pkg/deb/copyright.in
t_check "it gives Files: * to '${holder:-?}' (LICENSE's holder) under ISC" \
	bash -c 'p=$(cat) && grep -qx "Copyright: $1" <<<"$p" && grep -qx "License: ISC" <<<"$p"' \
	_ "${holder:-none}" < <(paragraph '\*')
spec_holder=$(sed -n 's/^Copyright (c) //p' data/LICENSE.bot-api-spec.txt)
t_check "and Files: data/* to '${spec_holder:-?}' (data/LICENSE.bot-api-spec.txt's holder) under Expat (MIT)" \
	bash -c 'p=$(cat) && grep -qx "Copyright: $1" <<<"$p" && grep -qx "License: Expat" <<<"$p" &&
		grep -q "^MIT License" data/LICENSE.bot-api-spec.txt' \
	_ "${spec_holder:-none}" < <(paragraph 'data/\*')
t_done

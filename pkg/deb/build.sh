#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# pkg/deb/build.sh ROOT OUTDIR: turn a tree staged by `make install
# PREFIX=/usr DESTDIR=ROOT` into greetbot_VERSION_ARCH.deb in OUTDIR (what
# `make deb` runs). It adds what a Debian package has beyond the install:
# the conffile /etc/greetbot/greetbot.conf (the example with
# render_user = greetbot, 0600 root), the copyright and changelog, the
# lintian overrides, compressed manual pages and documents, stripped
# binaries, and DEBIAN/ (control with Depends from dpkg-shlibdeps plus the
# programs greetbotd runs, conffiles, md5sums, the maintainer scripts).
# Prints the path of the .deb.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=${1:?usage: build.sh ROOT OUTDIR}
out=${2:?usage: build.sh ROOT OUTDIR}
root=$(cd "$root" && pwd)

for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
	if ! command -v "$tool" >/dev/null; then
		echo "make deb: $tool is missing (apt-get install dpkg-dev binutils)" >&2
		exit 1
	fi
done

version=${DEB_VERSION:-$(sed -n '1s/^greetbot (\([^)]*\)).*/\1/p' "$here/changelog")}
arch=$(dpkg --print-architecture)
[ -n "$version" ] || { echo "make deb: no version in $here/changelog" >&2; exit 1; }

# Programs greetbotd and the render script run, beyond the libraries
# dpkg-shlibdeps finds: adduser (postinst), procps (ExecReload's kill).
# bash and perl-base are essential. The fonts are those the shipped
# templates draw with (fonts-urw-base35: URW Bookman for the title and
# the name; fonts-comfortaa: the wishes), read at render time.
runtime='adduser, espeak-ng, ffmpeg, fonts-comfortaa, fonts-dejavu-core, fonts-urw-base35, procps, redis-server'

bins=("$root/usr/bin/greetbotd" "$root/usr/bin/greetctl" "$root/usr/bin/tgsim"
	"$root/usr/libexec/greetbot/greetbot-tg")
for b in "${bins[@]}"; do
	[ -x "$b" ] || { echo "make deb: $b was not installed" >&2; exit 1; }
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$b"
done

# The conffile: the example as the package runs it.
conf=$root/etc/greetbot/greetbot.conf
install -d -m 755 "$root/etc/greetbot"
sed -e 's/^render_user = nobody$/render_user = greetbot-render/' \
	-e 's/^service_user =$/service_user = greetbot/' \
	"$root/usr/share/doc/greetbot/greetbot.conf.example" >"$conf"
chmod 600 "$conf"
for want in 'render_user = greetbot-render' 'service_user = greetbot' \
	'telegram_token_file = /etc/greetbot/token' \
	'state_dir = /var/lib/greetbot' 'templates_dir = /usr/share/greetbot/templates' \
	'render_script = /usr/share/greetbot/scripts/render.sh' \
	'messages_dir = /usr/share/greetbot/messages'; do
	if ! grep -qxF "$want" "$conf"; then
		echo "make deb: etc/greetbot.conf.example changed: no line '$want' in the conffile" >&2
		exit 1
	fi
done

# Documents: changelog, copyright (DEP-5: copyright.in, then the licence
# texts from LICENSE and data/'s licence file), compressed manuals and
# documents over 4 kB.
doc=$root/usr/share/doc/greetbot
# A version without a Debian revision is a native package's: changelog.gz.
case $version in
*-*) gzip -9nc "$here/changelog" >"$doc/changelog.Debian.gz" ;;
*) gzip -9nc "$here/changelog" >"$doc/changelog.gz" ;;
esac
spec_licence=$root/usr/share/greetbot/data/LICENSE.bot-api-spec.txt
# licence_text FILE: its text from "Permission" on, as a DEP-5 field's
# continuation lines (a blank line is " .").
licence_text() {
	sed -n '/^Permission/,$p' "$1" | sed -e 's/^$/./' -e 's/^/ /'
}
{
	cat "$here/copyright.in"
	printf '\nLicense: ISC\n'
	licence_text "$here/../../LICENSE"
	printf '\nLicense: Expat\n'
	licence_text "$spec_licence"
} >"$doc/copyright"
rm "$spec_licence"
find "$root/usr/share/man" -type f ! -name '*.gz' -exec gzip -9nf {} +
find "$doc" -type f -size +4k ! -name '*.gz' ! -name copyright -exec gzip -9nf {} +
install -d -m 755 "$root/usr/share/lintian/overrides"
install -m 644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/greetbot"

# Depends: the shared libraries (dpkg-shlibdeps wants a debian/control to
# stand in; it only reads the package name) and the programs above.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/debian"
printf 'Source: greetbot\n\nPackage: greetbot\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O -e"${bins[0]}" -e"${bins[1]}" -e"${bins[2]}" \
	-e"${bins[3]}" 2>"$work/shlibdeps.err") || {
	cat "$work/shlibdeps.err" >&2
	exit 1
}
shlibs=${shlibs#shlibs:Depends=}
[ -n "$shlibs" ] || { echo "make deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }

rm -rf "$root/DEBIAN"
install -d -m 755 "$root/DEBIAN"
size=$(du -sk --apparent-size "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	-e "s/@DEPENDS@/$shlibs, $runtime/" "$here/control.in" >"$root/DEBIAN/control"
echo /etc/greetbot/greetbot.conf >"$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 755 "$here/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/greetbot_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"

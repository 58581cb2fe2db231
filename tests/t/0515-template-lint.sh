#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# greetctl template check as an operator tuning a template meets it (issue
# 21): what render.sh would refuse, the lint refuses first, naming the line
# of template.conf (a frame rate that is not one, a colour ffmpeg does not
# know, a background that is not a video, a position with a comma); NTSC
# rates lint and render. On 320x180 copies of the shipped templates.
. "$(dirname "$0")/../lib.sh"

G=$BIN/greetctl
export GREETBOT_STATE_DIR=$T/state GREETBOT_TEMPLATES_DIR=$T/templates \
	GREETBOT_RENDER_SCRIPT=$TOP/scripts/render.sh GREETBOT_MESSAGES_DIR=$TOP/messages
# Sample renders work in a temp tree under TMPDIR (searchable by the
# renderers' user).
mkdir -m 755 "$T/tmp" "$T/templates"
export TMPDIR=$T/tmp

# tpl ID FROM [EDIT...]: the small copy of template FROM as ID, each sed
# EDIT applied to its template.conf.
tpl() {
	local id=$1 from=$2 e
	shift 2
	cp -R "$GB_TEMPLATES_DIR/$from" "$T/templates/$id"
	for e; do sed -i "$e" "$T/templates/$id/template.conf"; done
}
# check ID [OPTION...]: template check of ID (without a sample render
# unless an option says otherwise); its output in $T/ID.out, its exit
# status in rc.
check() {
	local id=$1
	shift
	rc=0
	"$G" template check "${@:---no-render}" "$id" >"$T/$id.out" 2>&1 || rc=$?
}
# line ID KEY: the line of ID's template.conf that sets KEY.
line() { grep -n "^$2 *=" "$T/templates/$1/template.conf" | cut -d: -f1; }
# says ID TEXT: ID's check printed a line holding TEXT (else it is shown).
says() {
	grep -qF -- "$2" "$T/$1.out" && return 0
	t_show "$T/$1.out" 8 >&2
	return 1
}

# --- the shipped templates lint clean ----------------------------------------
for id in ru-birthday en-birthday example; do
	GREETBOT_TEMPLATES_DIR=$TOP/templates "$G" template check --no-render "$id" \
		>"$T/shipped-$id.out" 2>&1 && rc=0 || rc=$?
	t_check "the shipped $id lints with no error and no warning" \
		test "$rc:$(tail -n 1 "$T/shipped-$id.out")" = "0:$id: 0 errors, 0 warnings"
done
# Every key render.sh knows (render.d/conf.sh's list), the lint knows.
tpl every ru-birthday
sed -n '/^for k in voice /,/; do$/p' "$TOP/scripts/render.d/conf.sh" |
	tr -s ' \t\\;' '\n' | grep -vxE 'for|k|in|do|' | while read -r k; do
	grep -q "^$k *=" "$T/templates/every/template.conf" || echo "$k = 1"
done >>"$T/templates/every/template.conf"
check every
t_check "the lint knows every key render.sh knows ($(grep -c . "$T/templates/every/template.conf") lines)" \
	test -z "$(grep 'unknown key' "$T/every.out")"

# --- fps ---------------------------------------------------------------------
tpl ntsc ru-birthday 's/^fps = .*/fps = 29.97/'
check ntsc
t_check "fps = 29.97 lints: an NTSC rate" says ntsc 'ok: 29.97 fps, an NTSC rate: rendered at 30000/1001'
"$G" template preview -o "$T/ntsc.mp4" ntsc Маша >"$T/ntsc-preview.out" 2>&1 && rc=0 || rc=$?
t_check "and renders through render.sh (exit $rc) at exactly 30000/1001 fps" \
	test "$(ffprobe -v error -select_streams v -show_entries stream=r_frame_rate \
		-of csv=p=0 "$T/ntsc.mp4" 2>/dev/null)" = 30000/1001
[ "$rc" -eq 0 ] || t_show "$T/ntsc-preview.out"
# An operator's own footage: 29.97 fps, tagged bt709 as cameras and phones
# tag theirs. The cached parts and the window with the name carry the same
# colour tags (x264 writes them into the stream's parameters, which the
# join needs equal).
tpl own-bg ru-birthday 's/^fps = .*/fps = 29.97/' 's|^background = .*|background = media/camera.mp4|'
ffmpeg -nostdin -v error -i "$T/templates/own-bg/media/background.mp4" -r 30000/1001 -an \
	-color_range tv -colorspace bt709 -color_primaries bt709 -color_trc bt709 \
	-c:v libx264 -preset ultrafast "$T/templates/own-bg/media/camera.mp4"
"$G" template preview -o "$T/own-bg.mp4" own-bg Маша >"$T/own-bg.out" 2>&1 && rc=0 || rc=$?
t_check "a background tagged bt709 at 29.97 fps renders (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || t_show "$T/own-bg.out"
tpl fps ru-birthday 's/^fps = .*/fps = 29.9/'
check fps
t_check "fps = 29.9 is an error (exit $rc) that says why and where" \
	says fps "error: template.conf:$(line fps fps): fps = 29.9: a frame rate must be a whole number from 1 to 60, or an NTSC rate: 23.976, 29.97 or 59.94"

# --- what ffmpeg would refuse ------------------------------------------------
tpl pink ru-birthday 's/^text_color = .*/text_color = hotpink2/'
check pink
t_check "a colour ffmpeg does not know is an error (exit $rc), in ffmpeg's words" \
	says pink "error: template.conf:$(line pink text_color): text_color = hotpink2: ffmpeg: Cannot find color 'hotpink2'"
tpl alpha ru-birthday 's/^text_shadow_color = .*/text_shadow_color = black@1.5/' \
	's/^title_color = .*/title_color = gold:2/'
check alpha
t_check "so is an opacity past 1" \
	says alpha "error: template.conf:$(line alpha text_shadow_color): text_shadow_color = black@1.5: ffmpeg: Invalid alpha value"
t_check "and a colour render.sh would not take" \
	says alpha "error: template.conf:$(line alpha title_color): title_color = gold:2: not a colour"
t_check "the shipped template's colours pass" \
	grep -qx 'ok: ffmpeg knows every colour' "$T/shipped-ru-birthday.out"

tpl nobg ru-birthday 's|^background = .*|background = media/music.flac|'
check nobg
t_check "a background that is not a video is an error (exit $rc)" \
	says nobg "error: template.conf:$(line nobg background): background media/music.flac has no video stream"
tpl text ru-birthday 's|^background = .*|background = template.conf|'
check text
t_check "so is one that is no medium at all, in ffprobe's words" \
	says text "error: template.conf:$(line text background): background template.conf has no video stream (ffprobe: "

tpl comma ru-birthday 's/^title_y = .*/title_y = max(10,h*0.012)/' 's/^text_x = .*/text_x = if(gt(w,9),1,2)/'
check comma
t_check "the check exits 1" test "$rc" -eq 1
t_check "a position with a comma is an error with what to write instead" \
	says comma "error: template.conf:$(line comma title_y): title_y = max(10,h*0.012): render.sh takes no comma (in an ffmpeg filter string it would have to be escaped); write title_y = (10+(h*0.012)+abs(10-(h*0.012)))/2"
t_check "also when it is no max() or min(): the arithmetic for them" \
	says comma "error: template.conf:$(line comma text_x): text_x = if(gt(w,9),1,2): render.sh takes no comma (in an ffmpeg filter string it would have to be escaped); write a function of two arguments as arithmetic: max(a,b) is (a+b+abs(a-b))/2"
tpl rewrite ru-birthday 's|^title_y = .*|title_y = (10+(h*0.012)+abs(10-(h*0.012)))/2|'
check rewrite --name Маша
t_check "the rewrite lints and renders (exit $rc)" says rewrite 'ok: sample render of "Маша": a valid video'
t_check "--json has the same findings for scripts" \
	t_jq '.ok == false and ([.findings[] | select(.level == "error")] | length) == 2' \
	< <("$G" --json template check --no-render comma)

# --- a failed sample render: ffmpeg's own words --------------------------------
# An expression the lint takes (plain letters) that ffmpeg cannot evaluate:
# its log's first line says why; the end of stderr, its consequences.
tpl undef ru-birthday 's/^title_y = .*/title_y = foo*2/'
check undef --name Маша
t_check "a render that fails is an error (exit $rc)" \
	says undef 'error: sample render of "Маша" failed: template_broken'
t_check "with ffmpeg's decisive line, from the log render.sh kept" \
	grep -qE "^note: ffmpeg: \.render\.[0-9]+/ffmpeg-static\.log: Unknown function in 'foo\*2\)" "$T/undef.out"
t_check "before the end of stderr, which lost it" \
	test "$(grep -n '^note: ffmpeg: ' "$T/undef.out" | head -n 1 | cut -d: -f1)" -lt \
	"$(grep -n '^note: stderr: ' "$T/undef.out" | head -n 1 | cut -d: -f1)"
t_check "and says that --keep keeps the logs" says undef 'template check --keep leaves'
check undef --keep --name Маша
kept=$(sed -n 's/^note: the render.s files and logs stay in //p' "$T/undef.out")
t_check "--keep: the work dir stays with render.sh's ffmpeg log" \
	test -s "$(find "${kept:-/nonexistent}" -name ffmpeg-static.log 2>/dev/null | head -n 1)"
[ -z "$kept" ] || rm -rf "${kept%/work}"
"$G" template preview -o "$T/undef.mp4" undef Маша >"$T/undef-preview.out" 2>&1 || true
t_check "template preview shows the same line" \
	grep -q "^\.render\.[0-9]*/ffmpeg-static\.log: Unknown function in 'foo\*2" "$T/undef-preview.out"
# A script that plants a link among its logs: greetctl (root here) reads
# only the renderer's own regular files, never what a link points to.
tpl planted example
printf 'the secret\n' >"$T/secret"
chmod 600 "$T/secret"
cat >"$T/templates/planted/render.sh" <<EOF
#!/bin/sh
mkdir .render.1
ln -s "$T/secret" .render.1/ffmpeg-leak.log
echo 'Cannot find color the real one' >.render.1/ffmpeg-real.log
echo 'render.sh: broken' >&2
exit 78
EOF
chmod 755 "$T/templates/planted/render.sh"
check planted --name Emma
t_check "a planted link is not followed" test -z "$(grep 'the secret' "$T/planted.out")"
t_check "the script's own log is read" says planted 'note: ffmpeg: .render.1/ffmpeg-real.log: Cannot find color the real one'

# --- a template's own render.sh: the keys it never reads -----------------------
tpl own example
printf 'text_color = gold\ntitle_size = 40\n' >>"$T/templates/own/template.conf"
check own
t_check "a key the template's own script never mentions is a warning, with its line" \
	says own "warning: template.conf:$(line own text_color): text_color is set, but the template's own render.sh never mentions it: it has no effect"
t_check "each of them" says own "warning: template.conf:$(line own title_size): title_size is set"
t_check "the keys it reads are not (voice, text_size ...): 2 warnings" \
	test "$(tail -n 1 "$T/own.out")" = "own: 0 errors, 2 warnings"
t_check "the shipped example's script mentions every key it sets" \
	grep -qx "ok: the template's own render.sh mentions every key template.conf sets" \
	"$T/shipped-example.out"

# --- greetctl without -c: which configuration --------------------------------
mkdir -m 755 "$T/elsewhere"
t_check "without -c, GREETCTL_CONFIG names the file read (the installed one by default)" \
	test "$(printf 'templates_dir = %s\n' "$T/templates" >"$T/x.conf" &&
		cd "$T/elsewhere" && env -u GREETBOT_TEMPLATES_DIR GREETCTL_CONFIG="$T/x.conf" \
		"$G" --json template list | jq -r 'map(.id) | index("ntsc") != null')" = true
(cd "$T/elsewhere" && env -u GREETBOT_TEMPLATES_DIR GREETCTL_CONFIG="$T/x.conf" \
	"$G" template check no-such) >/dev/null 2>"$T/x.err" || true
t_check "an error about a path says which configuration named it" \
	grep -qF "no template no-such in $T/templates (config $T/x.conf)" "$T/x.err"
if [ -e /etc/greetbot/greetbot.conf ]; then
	t_skip "this host has /etc/greetbot/greetbot.conf: greetctl would read it"
else
	(cd "$T/elsewhere" && env -u GREETCTL_CONFIG -u GREETBOT_TEMPLATES_DIR \
		"$G" template list) >/dev/null 2>"$T/none.err" || true
	t_check "with no file at all, the built-in defaults (./templates), and it says so" \
		grep -qF "templates_dir $T/elsewhere/templates (no config file: the built-in defaults and GREETBOT_* variables; give -c FILE)" "$T/none.err"
fi
(cd "$T/elsewhere" && env -u GREETCTL_CONFIG GREETBOT_STATE_DIR=$T/nostate \
	"$G" -c "$T/x.conf" status) >/dev/null 2>"$T/nodb.err" || true
t_check "status without a database says where it looked and which config" \
	grep -qF "no database at $T/nostate/greetbot.db: No such file or directory (check state_dir or db_path; config $T/x.conf)" "$T/nodb.err"

# --- the cache of old template versions ----------------------------------------
# greetbotd keeps the caches of the current versions of its templates and
# removes the others, at start and on SIGHUP, unless a render holds one
# (render.sh keeps a shared flock on its cache dir while it runs).
cache=$T/state/render/cache
mkdir -p "$cache/aaaaaaaaaaaaaaaa/static-1" "$cache/bbbbbbbbbbbbbbbb" "$cache/not-a-version"
head -c 1048576 /dev/zero >"$cache/aaaaaaaaaaaaaaaa/static-1/w000.nut"
# A render of the version bbbb... still running (its lock, as render.sh
# takes it: on a descriptor its processes keep).
(exec 9<"$cache/bbbbbbbbbbbbbbbb" && flock -s 9 && exec sleep 600) &
holder=$!
t_track "$holder"
sim_start
mkdir "$T/gb-templates"
cp -R "$GB_TEMPLATES_DIR/ru-birthday" "$T/gb-templates/"
export GB_TEMPLATES_DIR=$T/gb-templates
gb_start
t_check "at start, the cache of a version no template has is removed" \
	test ! -e "$cache/aaaaaaaaaaaaaaaa"
t_check "and logged with its size" \
	grep -q 'msg="render cache of an old template version removed" version=aaaaaaaaaaaaaaaa mb=1' "$T/greetbotd.log"
t_check "one a render still holds is kept" test -d "$cache/bbbbbbbbbbbbbbbb"
t_check "and that is logged too" \
	grep -q 'msg="render cache in use: kept until the next prune" version=bbbbbbbbbbbbbbbb' "$T/greetbotd.log"
t_check "what is not a version's cache is left alone" test -d "$cache/not-a-version"
video=$(parent_order 5151 "Маша") || video=""
v1=$(GREETBOT_TEMPLATES_DIR=$GB_TEMPLATES_DIR "$G" --json template list |
	jq -r '.[] | select(.id == "ru-birthday") | .version')
t_check "an order renders and fills the cache of the current version $v1" \
	test -s "$video" -a -n "$(ls -A "$cache/$v1" 2>/dev/null)"
# The operator edits the template: a new version; SIGHUP loads it.
sed -i 's/^title = .*/title = С праздником!/' "$GB_TEMPLATES_DIR/ru-birthday/template.conf"
# ... and the render that held bbbb... has ended.
kill "$holder"
wait "$holder" 2>/dev/null || true
n=$(grep -c 'msg=reloaded' "$T/greetbotd.log" || true)
kill -HUP "$GB_PID"
t_wait_log "$T/greetbotd.log" 'msg=reloaded' 30 $((n + 1)) || true
t_check "on SIGHUP after an edit, the old version's cache ($v1) is removed" test ! -e "$cache/$v1"
t_check "and the one no render holds any more" test ! -e "$cache/bbbbbbbbbbbbbbbb"
video=$(parent_order 5152 "Ваня") || video=""
t_check "the new version renders into a cache of its own" \
	test -s "$video" -a "$(find "$cache" -mindepth 1 -maxdepth 1 -name '[0-9a-f]*' | wc -l)" = 1

t_done

#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# A render script that plants things where its outputs go, chosen by the
# name (tests/t/0330-hostile-outputs.sh), as a compromised renderer would:
# links to files it cannot read, a hard link, a FIFO, processes that
# outlive it to swap files after its exit, and an output someone else
# still holds open. The test puts in the template
# the paths to aim at (secret-path: a root-only file, db-path, victim-path:
# a directory outside the work tree; handoff-path: a directory to meet
# the test in) and a valid small MP4 (good.mp4).
set -u
tdir=$GREETBOT_TEMPLATE_DIR
good=$tdir/good.mp4
target=$(cat "$tdir/secret-path")
out=$GREETBOT_OUTPUT
case ${GREETBOT_MODE:-video}:$GREETBOT_NAME in
preview:Ира)	ln -s "$target" "$out"; exit 0 ;;	# the voice: a link to a secret
preview:*)	exit 1 ;;				# the bot asks in text
video:Аня)	ln -s "$target" "$out"; exit 0 ;;	# a link to a root-only file
video:Боря)	ln -s "$(cat "$tdir/db-path")" "$out"; exit 0 ;;	# a link to the database
video:Вера)	ln "$target" "$out" 2>/dev/null || ln -s "$target" "$out"; exit 0 ;;
video:Гоша)	mkfifo "$out"; exit 0 ;;		# a FIFO
video:Зина)	cp "$good" "$out"; ln -s "$target" "$GREETBOT_THUMB"; exit 0 ;;
video:Даня)
	# A good output, and a survivor that swaps it for a link after exit.
	cp "$good" "$out"
	setsid bash -c 'sleep 0.3; rm -f "$1"; ln -s "$2" "$1"; sleep 600' _ "$out" \
		"$target" </dev/null >/dev/null 2>&1 &
	exit 0 ;;
video:Лёша)
	# A good output that a writer outside the render's uid still holds
	# open at the exit (as another slot's renderer, handed its
	# descriptor, could): the test opens it, then lets the script end.
	cp "$good" "$out"
	h=$(cat "$tdir/handoff-path")
	printf '%s\n' "$out" >"$h/out-path"
	read -r _ <"$h/go"
	exit 0 ;;
video:Женя)
	# A survivor that swaps a dir of the work tree for a link to a victim
	# dir while greetbotd empties the tree.
	mkdir -p sub/a sub/b
	for i in $(seq 200); do : >"sub/a/f$i"; done
	cp "$good" "$out"
	setsid bash -c 'for _ in $(seq 2000); do rm -rf sub 2>/dev/null;
		ln -sfn "$1" sub 2>/dev/null; mkdir -p sub2; done; sleep 600' _ \
		"$(cat "$tdir/victim-path")" </dev/null >/dev/null 2>&1 &
	exit 0 ;;
*)	cp "$good" "$out"; exit 0 ;;
esac

# SPDX-License-Identifier: ISC
# greetbot: see README.md. `make run` and `make test` are the two commands.

PREFIX	?= /usr/local
DESTDIR	?=
BUILD	?= build
CC	?= cc

PKGS	 = libevent libcurl libcjson hiredis sqlite3
WARN	 = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Werror
CFLAGS	?= -O2 -g
SANFLAGS ?=
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) \
	   $(shell pkg-config --cflags $(PKGS)) -MMD -MP
# --as-needed: a program loads only the libraries it calls (greetbotd no
# libcurl, nor the TLS stack behind it).
LDLIBS	 = -Wl,--as-needed $(shell pkg-config --libs $(PKGS)) -lunistring -lm
LDFLAGS	?=

# The modules (folder/name: folder/name.c and .h), by folder, and what
# each program links. lib/ is shared by every program and sees nothing
# else; the others see lib/ and jobs/ (the render contract and the job
# state machine); a folder's own headers are found beside its sources.
LIB_MODS  = lib/log lib/xmalloc lib/config lib/db lib/texts lib/names lib/child lib/tg lib/httplimit lib/chan \
	   lib/privsep lib/history
JOBS_MODS = jobs/jobs jobs/notice jobs/renderer jobs/rendsrv jobs/sandbox jobs/template \
	   jobs/cache
RUNNER_MODS = jobs/runner jobs/relay jobs/worker jobs/unsaved jobs/speculate jobs/results \
	   jobs/queue jobs/proc jobs/health jobs/retention jobs/syncq
SUPERVISOR_MODS = supervisor/supervisor supervisor/service supervisor/notify
BOT_MODS  = bot/bot bot/conversation bot/preview bot/delivery bot/webhook bot/update
TGSIM_MODS = tgsim/tgsim tgsim/table tgsim/http tgsim/chat tgsim/waiter tgsim/updates \
	   tgsim/webhook tgsim/media tgsim/api tgsim/control tgsim/apispec tgsim/multipart
GREETCTL_MODS = greetctl/greetctl greetctl/ctl greetctl/output greetctl/http greetctl/run \
	   greetctl/lint greetctl/sample greetctl/cmd-query greetctl/cmd-action greetctl/cmd-status \
	   greetctl/cmd-template greetctl/cmd-chat greetctl/cmd-parked greetctl/cmd-support \
	   greetctl/cmd-privacy greetctl/backup greetctl/cmd-backup

# greetbotd makes no Bot API call (lib/tg is the bots').
GREETBOTD_LINKS = $(SUPERVISOR_MODS) $(RUNNER_MODS) $(JOBS_MODS) $(filter-out lib/tg,$(LIB_MODS))
GREETBOT_TG_LINKS = $(BOT_MODS) $(JOBS_MODS) $(LIB_MODS)
TGSIM_LINKS = $(TGSIM_MODS) $(LIB_MODS)
GREETCTL_LINKS = $(GREETCTL_MODS) $(JOBS_MODS) $(LIB_MODS)

# One module of each program holds main(); the unit tests and the fuzz
# targets link the rest, from one archive.
MAINS	 = supervisor/supervisor bot/bot tgsim/tgsim greetctl/greetctl
ALL_MODS = $(LIB_MODS) $(JOBS_MODS) $(RUNNER_MODS) $(SUPERVISOR_MODS) $(BOT_MODS) $(TGSIM_MODS) \
	   $(GREETCTL_MODS)
INC	 = -Ilib -Ijobs
TEST_INC = $(INC) -Isupervisor -Ibot -Itgsim -Igreetctl
objs	 = $(patsubst %,$(BUILD)/obj/%.o,$(1))
LIB	 = $(BUILD)/libgreetbot.a

PROGS	 = $(BUILD)/bin/greetbotd $(BUILD)/bin/greetbot-tg $(BUILD)/bin/tgsim \
	   $(BUILD)/bin/greetctl
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

TEMPLATES = $(wildcard templates/*/template.conf)
MEDIA_STAMPS = $(TEMPLATES:%/template.conf=%/.media-stamp)
# What `make media` makes the party greetings from: drawings, the song.
MEDIA_SRC = $(wildcard scripts/media/*)
# Small-frame copies for the tests of the order path (tests/small-template.sh).
TEST_TEMPLATES = $(TEMPLATES:templates/%/template.conf=$(BUILD)/test-templates/%/.media-stamp)

.PHONY: all deps run test test-long asan bench fault fuzz install deb clean media

all: $(PROGS) $(UNIT_BINS) $(BUILD)/tests/syscall-filter media $(TEST_TEMPLATES)

deps:
	@scripts/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-demo.sh

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh

# The tests of long faults ("# run: long": minutes of a hung Redis, of a
# failing Bot API); CI runs them after make test.
test-long: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) TEST_TIER=long tests/run.sh

# The sanitizer build: same tests, binaries under build-asan/.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CC=gcc \
	    SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined" all
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bench/run.sh

# Fault injection: orders through tgsim while every process is killed at
# seeded moments (tests/fault/run.sh; a short run is tests/t/0600).
fault: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/fault/run.sh

# libFuzzer targets (clang), each bounded in time; see fuzz/README.md.
fuzz:
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk run

media: $(MEDIA_STAMPS)

.SECONDEXPANSION:
$(BUILD)/test-templates/%/.media-stamp: $$(filter-out templates/$$*/media,$$(wildcard templates/$$*/*)) \
    scripts/gen-media.sh $(MEDIA_SRC) tests/small-template.sh
	@rm -rf $(@D)
	@tests/small-template.sh templates/$* $(@D)
	@scripts/gen-media.sh $(@D)
	@touch $@

# Template media are made from ffmpeg's own sources, the SVG drawings
# (rsvg-convert) and the song's notes (fluidsynth); nothing is downloaded.
templates/%/.media-stamp: templates/%/template.conf scripts/gen-media.sh $(MEDIA_SRC)
	@scripts/gen-media.sh templates/$*
	@touch $@

# lib/ sees only itself: nothing shared depends on a program's folder.
$(BUILD)/obj/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Ilib -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(INC) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(TEST_INC) -c -o $@ $<

$(LIB): $(call objs,$(filter-out $(MAINS),$(ALL_MODS)))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/greetbotd: $(call objs,$(GREETBOTD_LINKS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/greetbot-tg: $(call objs,$(GREETBOT_TG_LINKS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/tgsim: $(call objs,$(TGSIM_LINKS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# greetctl without -c reads the installed configuration (greetctl(8)).
$(BUILD)/obj/greetctl/greetctl.o: ALL_CFLAGS += \
	-DGREETCTL_CONFIG='"$(SYSCONFDIR)/greetbot/greetbot.conf"'

$(BUILD)/bin/greetctl: $(call objs,$(GREETCTL_LINKS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A static pattern: the objects are named, so none is an intermediate file
# that make would leave missing (and a binary stale) after a move.
$(UNIT_BINS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A test's tool (tests/t/0800): a program run under the unit's system
# call filter, which only systemd applies otherwise. Plain libc, no
# sanitizer: it runs in the package test's chroot. The calls' numbers are
# this machine's headers', listed by the preprocessor.
$(BUILD)/tests/syscalls.h:
	@mkdir -p $(@D)
	echo '#include <sys/syscall.h>' | $(CC) -dM -E - | \
	    sed -n 's/^#define __NR_\([a-z0-9_]*\) .*/\1/p' | sort -u | \
	    awk '{ printf "\t{ \"%s\", __NR_%s },\n", $$1, $$1 }' >$@

$(BUILD)/tests/syscall-filter: tests/tools/syscall-filter.c $(BUILD)/tests/syscalls.h
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -I$(BUILD)/tests -o $@ $<

# Installed layout. SYSCONFDIR is what the unit's -c and the example's
# token file name; SYSTEMD_UNIT_DIR is where the unit goes (make deb: /lib).
SYSCONFDIR ?= /etc
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
SHARE	 = $(PREFIX)/share/greetbot
# Installed files whose paths name the prefix are rewritten from /usr/local.
SUBST	 = sed -e 's|/usr/local|$(PREFIX)|g' -e 's|/etc/greetbot|$(SYSCONFDIR)/greetbot|g'

install: $(PROGS) media
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/greetbot \
	    $(DESTDIR)$(SHARE)/scripts/render.d
	install -m 755 $(BUILD)/bin/greetbotd $(DESTDIR)$(PREFIX)/bin/greetbotd
	install -m 755 $(BUILD)/bin/greetbot-tg $(DESTDIR)$(PREFIX)/libexec/greetbot/greetbot-tg
	install -m 755 $(BUILD)/bin/tgsim $(DESTDIR)$(PREFIX)/bin/tgsim
	install -m 755 $(BUILD)/bin/greetctl $(DESTDIR)$(PREFIX)/bin/greetctl
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -d $(DESTDIR)$(PREFIX)/share/man/man5
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/greetctl.8 man/greetbotd.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 man/greetbot.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 man/tgsim.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 755 scripts/render.sh $(DESTDIR)$(SHARE)/scripts/render.sh
	install -m 644 scripts/render.d/*.sh $(DESTDIR)$(SHARE)/scripts/render.d/
	install -m 755 scripts/render.d/*.pl $(DESTDIR)$(SHARE)/scripts/render.d/
	install -m 644 scripts/render.d/*.txt $(DESTDIR)$(SHARE)/scripts/render.d/
	for d in templates messages data; do \
	    find "$$d" -type d -exec install -d -m 755 '$(DESTDIR)$(SHARE)/{}' ';' && \
	    find "$$d" -type f ! -name '.*' ! -perm -u+x \
		-exec install -m 644 '{}' '$(DESTDIR)$(SHARE)/{}' ';' && \
	    find "$$d" -type f ! -name '.*' -perm -u+x \
		-exec install -m 755 '{}' '$(DESTDIR)$(SHARE)/{}' ';' || exit 1; \
	done
	install -d $(DESTDIR)$(PREFIX)/share/doc/greetbot $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	install -m 644 README.md docs/ARCHITECTURE.md $(DESTDIR)$(PREFIX)/share/doc/greetbot/
	$(SUBST) etc/greetbot.conf.example > $(DESTDIR)$(PREFIX)/share/doc/greetbot/greetbot.conf.example
	$(SUBST) etc/greetbotd.service > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/greetbotd.service
	chmod 644 $(DESTDIR)$(PREFIX)/share/doc/greetbot/greetbot.conf.example \
	    $(DESTDIR)$(SYSTEMD_UNIT_DIR)/greetbotd.service
	install -d $(DESTDIR)$(SHARE)/prometheus
	install -m 644 etc/prometheus/greetbot.rules.yml etc/prometheus/greetbot.rules.test.yml \
	    etc/prometheus/grafana-dashboard.json $(DESTDIR)$(SHARE)/prometheus/

# The Debian package: a hardened build of its own (build-deb/build), staged
# with `make install PREFIX=/usr` and wrapped by pkg/deb/build.sh (control,
# maintainer scripts, conffile, dpkg-deb). Output: build-deb/greetbot_*.deb.
DEB_DIR	 = build-deb

deb:
	@scripts/install-deps.sh deb
	@rm -rf $(DEB_DIR)/root
	@export DEB_BUILD_MAINT_OPTIONS=hardening=+all && \
	$(MAKE) --no-print-directory BUILD=$(DEB_DIR)/build \
	    CFLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
	    LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" PREFIX=/usr SYSCONFDIR=/etc \
	    SYSTEMD_UNIT_DIR=/lib/systemd/system DESTDIR=$(CURDIR)/$(DEB_DIR)/root install >/dev/null
	@pkg/deb/build.sh $(DEB_DIR)/root $(DEB_DIR)

clean:
	rm -rf build build-asan $(DEB_DIR) templates/*/.media-stamp templates/*/media

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/tests/*.d)

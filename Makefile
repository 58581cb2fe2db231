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
	   $(shell pkg-config --cflags $(PKGS)) -Isrc -MMD -MP
LDLIBS	 = $(shell pkg-config --libs $(PKGS)) -lunistring -lm
LDFLAGS	?=

# One file per process role holds its main(); everything else is a module.
MAINS	 = src/supervisor.c src/bot.c src/tgsim.c src/greetctl.c
LIB_SRCS = $(filter-out $(MAINS),$(wildcard src/*.c))
LIB_OBJS = $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB	 = $(BUILD)/libgreetbot.a

PROGS	 = $(BUILD)/bin/greetbotd $(BUILD)/bin/greetbot-tg $(BUILD)/bin/tgsim \
	   $(if $(wildcard src/greetctl.c),$(BUILD)/bin/greetctl)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

TEMPLATES = $(wildcard templates/*/template.conf)
MEDIA_STAMPS = $(TEMPLATES:%/template.conf=%/.media-stamp)
# What `make media` makes the party greetings from: drawings, the song.
MEDIA_SRC = $(wildcard scripts/media/*)
# Small-frame copies for the tests of the order path (tests/small-template.sh).
TEST_TEMPLATES = $(TEMPLATES:templates/%/template.conf=$(BUILD)/test-templates/%/.media-stamp)

.PHONY: all deps run test asan bench fault fuzz install deb clean media

# Keep the unit tests' objects: they are intermediate files to make.
.SECONDARY:

all: $(PROGS) $(UNIT_BINS) media $(TEST_TEMPLATES)

deps:
	@scripts/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-demo.sh

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh

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

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/greetbotd: $(BUILD)/obj/supervisor.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/greetbot-tg: $(BUILD)/obj/bot.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/tgsim: $(BUILD)/obj/tgsim.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/greetctl: $(BUILD)/obj/greetctl.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

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

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)

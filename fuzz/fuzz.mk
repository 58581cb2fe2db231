# SPDX-License-Identifier: ISC
# fuzz/fuzz.mk: libFuzzer targets, built with clang and ASan + UBSan into
# build-fuzz/, each run for FUZZ_SECONDS. The top Makefile's `make fuzz`
# runs `make -f fuzz/fuzz.mk run`; fuzz/README.md says what each covers.
#
#   make fuzz                               every target, 30 s each
#   make fuzz FUZZ_TARGETS=names FUZZ_SECONDS=600
#   make -f fuzz/fuzz.mk bins               build only
#
# The binaries are built by this file read again after the top Makefile
# (FUZZ_INNER), whose variables and rules build the library into
# FUZZ_BUILD with clang and the sanitizers, as `make asan` does with gcc:
# the sources, packages and warnings stay listed in one place.

FUZZ_TARGETS	?= update names config template multipart
FUZZ_SECONDS	?= 30
FUZZ_BUILD	?= build-fuzz
FUZZ_CC		?= clang
FUZZ_CFLAGS	?= -O1 -g -fno-omit-frame-pointer
FUZZ_FLAGS	?=

ifndef FUZZ_INNER

.PHONY: run bins fuzz-deps

FUZZ_MAKE = $(MAKE) --no-print-directory -f Makefile -f fuzz/fuzz.mk FUZZ_INNER=1 \
	BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_CFLAGS)" \
	SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
	LDFLAGS="-fsanitize=fuzzer,address,undefined"

run: fuzz-deps
	@+$(FUZZ_MAKE) bins
	@FUZZ_FLAGS="$(FUZZ_FLAGS)" fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bins:
	@+$(FUZZ_MAKE) bins

# clang and libFuzzer's runtime (Debian ships it apart from clang).
fuzz-deps:
	@scripts/install-deps.sh fuzz

else

FUZZ_BINS = $(FUZZ_TARGETS:%=$(BUILD)/bin/fuzz_%)

.PHONY: bins

bins: $(FUZZ_BINS)

$(BUILD)/fuzz/%.o: fuzz/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(TEST_INC) -Ifuzz -c -o $@ $<

$(BUILD)/bin/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(wildcard $(BUILD)/fuzz/*.d)

endif

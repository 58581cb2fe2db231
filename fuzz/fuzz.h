/* SPDX-License-Identifier: ISC */
/*
 * fuzz.h: the entry points of the fuzz targets. fuzz/fuzz_<target>.c
 * defines fuzz_<target>() and, with FUZZ_TARGET(), libFuzzer's
 * LLVMFuzzerTestOneInput() calling it. tests/unit/test_fuzz_corpus.c
 * defines FUZZ_REPLAY and feeds every file of fuzz/corpus/<target>/ to
 * the same functions, so each regression input runs in `make test` too.
 * An entry returns 0; a broken invariant aborts (a finding for libFuzzer,
 * a failed test for the replay).
 */
#ifndef GREETBOT_FUZZ_H
#define GREETBOT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	fuzz_update(const uint8_t *, size_t);
int	fuzz_names(const uint8_t *, size_t);
int	fuzz_config(const uint8_t *, size_t);
int	fuzz_template(const uint8_t *, size_t);
int	fuzz_multipart(const uint8_t *, size_t);

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#ifdef FUZZ_REPLAY
#define FUZZ_TARGET(entry)
#else
#define FUZZ_TARGET(entry)						\
int									\
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)			\
{									\
	return entry(data, len);					\
}
#endif

/* An invariant of the code under test: abort, saying which, when false. */
#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz: %s:%d: %s does not hold\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif

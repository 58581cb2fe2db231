/* SPDX-License-Identifier: ISC */
/* unit.h: a TAP-style harness for the C unit tests; tests/run.sh counts
 * the "ok"/"not ok" lines. Each test binary calls unit_done() last. */
#ifndef GREETBOT_UNIT_H
#define GREETBOT_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_n, unit_failed;

/* Record one check: prints "ok N - desc" or "not ok N - desc". */
#define UNIT_CHECK(cond, ...) do {					\
	int c_ = (cond) != 0;						\
	unit_n++;							\
	if (c_) {							\
		printf("ok %d - ", unit_n);				\
	} else {							\
		unit_failed++;						\
		printf("not ok %d - ", unit_n);				\
	}								\
	printf(__VA_ARGS__);						\
	printf("%s\n", c_ ? "" : "  [" #cond " at " __FILE__ "]");	\
} while (0)

#define UNIT_STREQ(got, want, ...) do {					\
	const char *g_ = (got), *w_ = (want);				\
	int eq_ = (g_ == NULL && w_ == NULL) ||				\
	    (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0);		\
	UNIT_CHECK(eq_, __VA_ARGS__);					\
	if (!eq_)							\
		printf("#   got \"%s\", want \"%s\"\n",			\
		    g_ ? g_ : "(null)", w_ ? w_ : "(null)");		\
} while (0)

/* A check that cannot run here (tests/run.sh counts it as skipped). */
#define UNIT_SKIP(...) do {						\
	unit_n++;							\
	printf("ok %d # SKIP ", unit_n);				\
	printf(__VA_ARGS__);						\
	printf("\n");							\
} while (0)

static inline int
unit_done(void)
{
	printf("# %d checks, %d failed\n", unit_n, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif

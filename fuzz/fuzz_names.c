/* SPDX-License-Identifier: ISC */
/*
 * fuzz_names.c: a name as a parent types it, through names_normalize().
 * Besides the sanitizers it checks what names.h promises: both results
 * or neither, a display form validates again to itself and its key, and
 * the decomposed form of a name (NFD) is the same name.
 */
#include <string.h>

#include <uninorm.h>
#include <unistr.h>

#include "fuzz.h"
#include "names.h"

/* The NFD form of valid UTF-8 gets the same answer, when it still fits. */
static void
fuzz_names_nfd(const uint8_t *data, size_t len, enum names_error e, const char *display,
    const char *key)
{
	char *display2, *key2;
	uint8_t *nfd;
	size_t n;

	if (u8_check(data, len) != NULL ||
	    (nfd = u8_normalize(UNINORM_NFD, data, len, NULL, &n)) == NULL)
		return;
	if (n <= NAMES_MAX_BYTES) {
		FUZZ_ASSERT(names_normalize((const char *)nfd, n, &display2, &key2) == e);
		FUZZ_ASSERT(e != NAMES_OK || strcmp(display, display2) == 0);
		FUZZ_ASSERT(e != NAMES_OK || strcmp(key, key2) == 0);
		free(display2);
		free(key2);
	}
	free(nfd);
}

int
fuzz_names(const uint8_t *data, size_t len)
{
	char *display, *key, *display2, *key2;
	enum names_error e;

	e = names_normalize((const char *)data, len, &display, &key);
	FUZZ_ASSERT(names_error_id(e) != NULL);
	fuzz_names_nfd(data, len, e, display, key);
	if (e != NAMES_OK) {
		FUZZ_ASSERT(display == NULL && key == NULL);
		return 0;
	}
	FUZZ_ASSERT(display != NULL && key != NULL);
	FUZZ_ASSERT(*display != '\0' && *key != '\0');
	FUZZ_ASSERT(u8_check((const uint8_t *)display, strlen(display)) == NULL);
	e = names_normalize(display, strlen(display), &display2, &key2);
	FUZZ_ASSERT(e == NAMES_OK);
	FUZZ_ASSERT(strcmp(display, display2) == 0);
	FUZZ_ASSERT(strcmp(key, key2) == 0);
	free(display);
	free(key);
	free(display2);
	free(key2);
	return 0;
}

FUZZ_TARGET(fuzz_names)

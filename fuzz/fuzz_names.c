/*
 * fuzz_names.c: a name as a parent types it, through names_normalize().
 * Besides the sanitizers it checks what names.h promises: both results
 * or neither, and a display form validates again to itself and its key.
 */
#include <string.h>

#include <unistr.h>

#include "fuzz.h"
#include "names.h"

int
fuzz_names(const uint8_t *data, size_t len)
{
	char *display, *key, *display2, *key2;
	enum names_error e;

	e = names_normalize((const char *)data, len, &display, &key);
	FUZZ_ASSERT(names_error_id(e) != NULL);
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

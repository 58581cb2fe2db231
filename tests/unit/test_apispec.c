/* SPDX-License-Identifier: ISC */
/* test_apispec.c: the Bot API method list as tgsim uses it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apispec.h"
#include "unit.h"

/* The shipped list, found from the source tree (tests/run.sh runs from
 * there; TOP overrides). */
static struct apispec *
load_shipped(void)
{
	const char *top = getenv("TOP"), *err = NULL;
	char path[4096];
	struct apispec *spec;

	snprintf(path, sizeof(path), "%s/data/bot-api-10.1.min.json",
	    top ? top : ".");
	spec = apispec_load(path, &err);
	UNIT_CHECK(spec != NULL, "loads %s (%s)", path, err ? err : "ok");
	return spec;
}

/* Load a file holding text; returns the spec or NULL. */
static struct apispec *
load_text(const char *text, const char **err)
{
	char path[] = "/tmp/test_apispec.XXXXXX";
	struct apispec *spec;
	int fd;

	if ((fd = mkstemp(path)) == -1)
		return NULL;
	(void)!write(fd, text, strlen(text));
	close(fd);
	spec = apispec_load(path, err);
	unlink(path);
	return spec;
}

/* Method names and parameters. */
static void
test_methods(const struct apispec *spec)
{
	const char *given[] = { "chat_id", "parse_mode" };
	const char *missing[4] = { 0 };

	UNIT_STREQ(apispec_version(spec), "Bot API 10.1", "version");
	UNIT_CHECK(apispec_nmethods(spec) > 100, "many methods (%zu)",
	    apispec_nmethods(spec));
	UNIT_STREQ(apispec_method(spec, "sendMessage"), "sendMessage", "exact name");
	UNIT_STREQ(apispec_method(spec, "SENDmessage"), "sendMessage",
	    "case-insensitive name");
	UNIT_STREQ(apispec_method(spec, "getme"), "getMe", "getMe");
	UNIT_CHECK(apispec_method(spec, "sendMessages") == NULL, "unknown method");
	UNIT_CHECK(apispec_method(spec, "") == NULL, "empty method");
	UNIT_CHECK(apispec_has_param(spec, "sendVideo", "video"), "sendVideo video");
	UNIT_CHECK(apispec_has_param(spec, "sendvideo", "supports_streaming"),
	    "param via case-insensitive method");
	UNIT_CHECK(!apispec_has_param(spec, "sendVideo", "Video"),
	    "param names are case-sensitive");
	UNIT_CHECK(!apispec_has_param(spec, "sendMessage", "video"), "foreign param");
	UNIT_CHECK(!apispec_has_param(spec, "getMe", "x"), "getMe has none");
	UNIT_CHECK(!apispec_has_param(spec, "nope", "x"), "unknown method, no params");
	UNIT_CHECK(apispec_missing(spec, "sendMessage", given, 2, missing, 4) == 1,
	    "sendMessage misses one");
	UNIT_STREQ(missing[0], "text", "it is text");
	UNIT_CHECK(apispec_missing(spec, "sendMessage", NULL, 0, missing, 1) == 2,
	    "count beyond max");
	UNIT_STREQ(missing[0], "chat_id", "spec order");
	UNIT_CHECK(apispec_missing(spec, "getUpdates", NULL, 0, missing, 4) == 0,
	    "getUpdates needs nothing");
	UNIT_CHECK(apispec_missing(spec, "getMe", NULL, 0, missing, 4) == 0,
	    "getMe needs nothing");
	UNIT_CHECK(apispec_type_has_field(spec, "Message", "video"), "Message.video");
	UNIT_CHECK(apispec_type_has_field(spec, "CallbackQuery", "chat_instance"),
	    "CallbackQuery.chat_instance");
	UNIT_CHECK(!apispec_type_has_field(spec, "Message", "vidéo"), "no such field");
	UNIT_CHECK(!apispec_type_has_field(spec, "Nope", "id"), "no such type");
}

/* Unusable files are refused with a reason. */
static void
test_bad_files(void)
{
	const char *err = NULL;

	UNIT_CHECK(apispec_load("/nonexistent/x.json", &err) == NULL && err != NULL,
	    "missing file (%s)", err ? err : "-");
	err = NULL;
	UNIT_CHECK(load_text("{\"version\":", &err) == NULL && err != NULL,
	    "truncated JSON");
	err = NULL;
	UNIT_CHECK(load_text("[]", &err) == NULL && err != NULL, "not an object");
	err = NULL;
	UNIT_CHECK(load_text("{\"version\":\"x\",\"methods\":{}}", &err) == NULL &&
	    err != NULL, "no methods");
	err = NULL;
	UNIT_CHECK(load_text("{\"version\":\"x\",\"methods\":{\"a\":{\"fields\":[1]}}}",
	    &err) == NULL && err != NULL, "malformed fields");
}

/* A small hand-made list works without types. */
static void
test_small(void)
{
	const char *err = NULL, *missing[2];
	struct apispec *spec;

	spec = load_text("{\"version\":\"v\",\"methods\":{\"b\":{},\"A\":{\"fields\":"
	    "[{\"name\":\"x\",\"required\":true},{\"name\":\"y\"}]}}}", &err);
	UNIT_CHECK(spec != NULL, "small list loads");
	if (spec == NULL)
		return;
	UNIT_STREQ(apispec_method(spec, "a"), "A", "lookup in small list");
	UNIT_STREQ(apispec_method(spec, "B"), "b", "second method");
	UNIT_CHECK(apispec_missing(spec, "a", NULL, 0, missing, 2) == 1, "x required");
	UNIT_CHECK(!apispec_type_has_field(spec, "A", "x"), "no types at all");
	apispec_free(spec);
}

int
main(void)
{
	struct apispec *spec;

	if ((spec = load_shipped()) != NULL) {
		test_methods(spec);
		apispec_free(spec);
	}
	test_bad_files();
	test_small();
	return unit_done();
}

/* SPDX-License-Identifier: ISC */
/*
 * test_log.c: the log API quotes field values itself: every %s value of
 * the fields is a logfmt value (quoted when needed, escaped, secrets
 * redacted), other conversions are printed as printf would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

static char path[] = "/tmp/greetbot-log.XXXXXX";
static int fd;

/* What the last log call wrote (the line without ts= and its newline). */
static const char *
last(void)
{
	static char buf[16384];
	char *p;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	ftruncate(fd, 0);
	lseek(fd, 0, SEEK_SET);
	if ((p = strchr(buf, '\n')) != NULL)
		*p = '\0';
	p = strstr(buf, " level=");
	return p != NULL ? p + 1 : buf;
}

int
main(void)
{
	int saved = dup(2);

	if ((fd = mkstemp(path)) == -1)
		return 1;
	dup2(fd, 2);
	log_init("t", LOG_LEVEL_DEBUG);
	log_add_secret("123456:SECRETSECRET");

	log_info("started");
	UNIT_STREQ(last(), "level=info proc=t msg=started", "a message alone");
	log_info("render finished", "job=%lld status=%s seconds=%.2f", 12LL, "ok", 1.5);
	UNIT_STREQ(last(), "level=info proc=t msg=\"render finished\" job=12 status=ok "
	    "seconds=1.50", "numbers as printf, a plain word as it is");
	log_warnx("bad", "reason=%s", "line 3: unknown key \"x\"");
	UNIT_STREQ(last(), "level=warn proc=t msg=bad reason=\"line 3: unknown key \\\"x\\\"\"",
	    "a value with spaces and quotes is quoted and escaped");
	log_info("x", "name=%s", "a\tb\nc=d");
	UNIT_STREQ(last(), "level=info proc=t msg=x name=\"a\\x09b\\x0ac=d\"",
	    "control bytes as \\xNN, '=' quoted");
	log_info("x", "empty=%s n=%d", "", -3);
	UNIT_STREQ(last(), "level=info proc=t msg=x empty=\"\" n=-3", "an empty value is \"\"");
	log_info("x", "url=%s", "https://api/bot123456:SECRETSECRET/getMe");
	UNIT_STREQ(last(), "level=info proc=t msg=x url=https://api/bot<redacted>/getMe",
	    "a secret in a value is redacted");
	log_info("x", "sql=%.5s pct=100%% u=%zu hex=%016llx c=%c w=%5d|", "SELECT 1", (size_t)7,
	    0xabcULL, 'q', 42);
	UNIT_STREQ(last(), "level=info proc=t msg=x sql=SELEC pct=100% u=7 hex=0000000000000abc "
	    "c=q w=   42|", "precision, %%, size_t, long long hex, char and width");
	log_info("x", "a=%*d b=%.*s", 3, 7, 2, "abc");
	UNIT_STREQ(last(), "level=info proc=t msg=x a=  7 b=ab", "* width and precision");
	log_info("x", "ld=%ld lu=%lu i=%i u=%u", -5L, 6UL, 8, 9U);
	UNIT_STREQ(last(), "level=info proc=t msg=x ld=-5 lu=6 i=8 u=9", "long and int kinds");
	errno = ENOENT;
	log_warn("mkdir", "path=%s", "/no such");
	UNIT_STREQ(last(), "level=warn proc=t msg=mkdir error=\"No such file or directory\" "
	    "path=\"/no such\"", "log_warn adds the errno's text first");
	log_set_level(LOG_LEVEL_INFO);
	log_debug("hidden", "n=%d", 1);
	UNIT_STREQ(last(), "", "a debug line below the level is not written");
	log_set_bot("kids");
	log_info("x");
	UNIT_STREQ(last(), "level=info proc=t bot=kids msg=x", "bot= after proc=");

	dup2(saved, 2);
	close(fd);
	unlink(path);
	return unit_done();
}

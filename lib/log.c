/* log.c: one logfmt line per event on stderr, untrusted text escaped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_MAX_SECRETS 64	/* tokens (and their secret parts) of every bot */

static const char	*log_proc = "greetbot";
static char		 log_bot[48];	/* " bot=ID", or "" */
static enum log_level	 log_min = LOG_LEVEL_INFO;
static char		*log_secrets[LOG_MAX_SECRETS];
static int		 log_nsecrets;

static const char *level_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *proc, enum log_level level)
{
	log_proc = proc;
	log_min = level;
}

void
log_set_bot(const char *id)
{
	snprintf(log_bot, sizeof(log_bot), " bot=%s", id);
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_add_secret(const char *secret)
{
	const char *colon;

	if (secret == NULL || strlen(secret) < 4 || log_nsecrets == LOG_MAX_SECRETS)
		return;
	for (int i = 0; i < log_nsecrets; i++)
		if (strcmp(log_secrets[i], secret) == 0)
			return;
	/* Not xstrdup: log must not depend on xmalloc, which logs. */
	if ((log_secrets[log_nsecrets] = strdup(secret)) != NULL)
		log_nsecrets++;
	/* A token "<bot id>:<secret>" also when only its secret part shows:
	 * percent-encoded (":" as "%3A") or cut at the colon. The whole
	 * token, added first, is still masked as a whole. */
	if ((colon = strchr(secret, ':')) != NULL)
		log_add_secret(colon + 1);
}

void
log_redact(char *s)
{
	static const char mask[] = "<redacted>";

	for (int i = 0; i < log_nsecrets; i++) {
		size_t slen = strlen(log_secrets[i]);
		char *p;

		/* A secret is at least 4 bytes; the mask may be longer, so
		 * shorten it to the secret's length when it does not fit. */
		while ((p = strstr(s, log_secrets[i])) != NULL) {
			size_t mlen = slen < sizeof(mask) - 1 ? slen : sizeof(mask) - 1;
			memcpy(p, mask, mlen);
			memmove(p + mlen, p + slen, strlen(p + slen) + 1);
		}
	}
}

char *
log_quote(char *buf, size_t len, const char *s)
{
	size_t o = 0;
	int quote = (*s == '\0');

	if (len < 8) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			quote = 1;
	if (quote)
		buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < len; p++) {
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < ' ' || *p == 0x7f) {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
		} else
			buf[o++] = (char)*p;
	}
	if (quote)
		buf[o++] = '"';
	buf[o] = '\0';
	log_redact(buf);
	return buf;
}

/* Format "ts=... level=... proc=... msg=... [fields]" and write it in one call. */
static void
log_emit(enum log_level level, const char *err, const char *fmt, va_list ap)
{
	char msg[4096], qmsg[8192], line[12288], ts[40];
	char *fields;
	struct timespec now;
	struct tm tm;
	int n;

	if (level > log_min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if ((fields = strchr(msg, '\t')) != NULL)
		*fields++ = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);
	log_quote(qmsg, sizeof(qmsg), msg);
	n = snprintf(line, sizeof(line), "ts=%s level=%s proc=%s%s msg=%s",
	    ts, level_names[level], log_proc, log_bot, qmsg);
	if (err != NULL && n > 0 && (size_t)n < sizeof(line)) {
		char qerr[512];
		n += snprintf(line + n, sizeof(line) - (size_t)n, " error=%s",
		    log_quote(qerr, sizeof(qerr), err));
	}
	if (fields != NULL && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s", fields);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	line[n] = '\0';
	log_redact(line);
	(void)!write(STDERR_FILENO, line, strlen(line));
}

#define LOG_FN(fn, level, with_errno)					\
void									\
fn(const char *fmt, ...)						\
{									\
	va_list ap;							\
	int saved = errno;						\
	va_start(ap, fmt);						\
	log_emit(level, with_errno ? strerror(saved) : NULL, fmt, ap);	\
	va_end(ap);							\
	errno = saved;							\
}

LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

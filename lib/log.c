/* SPDX-License-Identifier: ISC */
/* log.c: one logfmt line per event on stderr, untrusted text escaped. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
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

/* Format one value by its conversion spec (with * taken as w and p). */
#define FMT_ONE(type) do {						\
	type v_ = va_arg(*ap, type);					\
	if (star_w && star_p)						\
		snprintf(val, len, spec, w, p, v_);			\
	else if (star_w || star_p)					\
		snprintf(val, len, spec, star_w ? w : p, v_);		\
	else								\
		snprintf(val, len, spec, v_);				\
} while (0)

/*
 * One conversion of a fields format at *fmt (after its '%'): formatted
 * into val, *fmt moved past it. Returns the conversion character.
 */
static char
field_value(const char **fmt, va_list *ap, char *val, size_t len)
{
	const char *f = *fmt;
	char spec[32], length[3] = "", conv;
	int star_w = 0, star_p = 0, w = 0, p = 0;
	size_t n;

	while (*f != '\0' && strchr("-+ #0", *f) != NULL)
		f++;
	if (*f == '*')
		star_w = 1, f++;
	while (isdigit((unsigned char)*f))
		f++;
	if (*f == '.') {
		f++;
		if (*f == '*')
			star_p = 1, f++;
		while (isdigit((unsigned char)*f))
			f++;
	}
	while (*f != '\0' && strchr("hlzjtL", *f) != NULL && strlen(length) < 2)
		length[strlen(length)] = *f++;
	conv = *f != '\0' ? *f++ : 's';
	n = (size_t)(f - *fmt) + 1;
	snprintf(spec, sizeof(spec), "%%%.*s", (int)(n - 1 < sizeof(spec) - 2 ? n - 1 :
	    sizeof(spec) - 2), *fmt);
	*fmt = f;
	if (star_w)
		w = va_arg(*ap, int);
	if (star_p)
		p = va_arg(*ap, int);
	switch (conv) {
	case 'd':
	case 'i':
		if (strcmp(length, "ll") == 0)
			FMT_ONE(long long);
		else if (strcmp(length, "l") == 0)
			FMT_ONE(long);
		else if (strcmp(length, "z") == 0 || strcmp(length, "t") == 0)
			FMT_ONE(ssize_t);
		else if (strcmp(length, "j") == 0)
			FMT_ONE(intmax_t);
		else
			FMT_ONE(int);
		break;
	case 'u':
	case 'o':
	case 'x':
	case 'X':
		if (strcmp(length, "ll") == 0)
			FMT_ONE(unsigned long long);
		else if (strcmp(length, "l") == 0)
			FMT_ONE(unsigned long);
		else if (strcmp(length, "z") == 0 || strcmp(length, "t") == 0)
			FMT_ONE(size_t);
		else if (strcmp(length, "j") == 0)
			FMT_ONE(uintmax_t);
		else
			FMT_ONE(unsigned);
		break;
	case 'c':
		FMT_ONE(int);
		break;
	case 'p':
		FMT_ONE(void *);
		break;
	case 's':
		FMT_ONE(const char *);
		break;
	default:	/* f F e E g G a A */
		if (strcmp(length, "L") == 0)
			FMT_ONE(long double);
		else
			FMT_ONE(double);
		break;
	}
	return conv;
}

/* The fields of a line: fmt's text as it is, each %s value quoted. */
static void
fields_format(char *out, size_t outlen, const char *fmt, va_list *ap)
{
	char val[2048], q[4200];
	size_t o = 0;

	while (*fmt != '\0' && o + 1 < outlen) {
		const char *add = q;

		if (*fmt != '%' || fmt[1] == '%') {
			out[o++] = *fmt;
			fmt += *fmt == '%' ? 2 : 1;
			continue;
		}
		fmt++;
		if (field_value(&fmt, ap, val, sizeof(val)) == 's')
			log_quote(q, sizeof(q), val);
		else
			add = val;
		o += (size_t)snprintf(out + o, outlen - o, "%s", add);
		if (o >= outlen)
			o = outlen - 1;
	}
	out[o] = '\0';
}

/* Format "ts=... level=... proc=... msg=... [error=] [fields]" and write
 * it in one call. */
static void
log_emit(enum log_level level, const char *err, const char *msg, const char *fmt,
    va_list *ap)
{
	char fields[8192], qmsg[1024], line[12288], ts[40];
	struct timespec now;
	struct tm tm;
	int n;

	while (*fmt == ' ')	/* the macros' separator */
		fmt++;
	fields_format(fields, sizeof(fields), fmt, ap);
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
	if (fields[0] != '\0' && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s", fields);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	line[n] = '\0';
	log_redact(line);
	(void)!write(STDERR_FILENO, line, strlen(line));
}

/*
 * Warnings come in floods when something fails in a loop (accept() out of
 * descriptors, a peer gone mad): at most WARN_RATE a second after a burst
 * of WARN_BURST; the rest are counted and said in one line when the flood
 * ends. Information lines are not limited: they follow real work.
 */
#define WARN_RATE	200
#define WARN_BURST	1000

static int
warn_allowed(void)
{
	static double tokens = WARN_BURST, last;
	static long dropped;
	static int summing;
	struct timespec ts;
	double now;

	if (summing)
		return 1;	/* the summary line itself */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (last != 0)
		tokens += (now - last) * WARN_RATE;
	if (tokens > WARN_BURST)
		tokens = WARN_BURST;
	last = now;
	if (tokens < 1) {
		dropped++;
		return 0;
	}
	tokens -= 1;
	if (dropped > 0) {
		long n = dropped;

		dropped = 0;
		summing = 1;
		log_line(LOG_LEVEL_WARN, 0, "warnings dropped: too many at once", "count=%ld", n);
		summing = 0;
	}
	return 1;
}

void
log_line(enum log_level level, int with_errno, const char *msg, const char *fields, ...)
{
	va_list ap;
	int saved = errno;

	if (level > log_min || (level == LOG_LEVEL_WARN && !warn_allowed()))
		return;
	va_start(ap, fields);
	log_emit(level, with_errno ? strerror(saved) : NULL, msg, fields, &ap);
	va_end(ap);
	errno = saved;
}

void
log_fatal(int with_errno, const char *msg, const char *fields, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fields);
	log_emit(LOG_LEVEL_ERROR, with_errno ? strerror(saved) : NULL, msg, fields, &ap);
	va_end(ap);
	exit(1);
}

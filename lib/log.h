/* SPDX-License-Identifier: ISC */
/* log.h: logfmt lines on stderr, OpenSMTPD-style fatal/fatalx. */
#ifndef GREETBOT_LOG_H
#define GREETBOT_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Name this process (proc=) and the lowest level printed. */
void	log_init(const char *proc, enum log_level level);
void	log_set_level(enum log_level level);
/* Lines say which bot they are about: "proc=greetbot-tg bot=ID". */
void	log_set_bot(const char *id);
/* "error", "warn", "info" or "debug" (any case); -1 for anything else. */
int	log_level_parse(const char *s, enum log_level *out);
/* A secret (the bot token) that is replaced by "<redacted>" in every line;
 * for "<id>:<secret>" the part after the colon on its own too. */
void	log_add_secret(const char *secret);

/*
 * One line: "ts=... level=... proc=... [bot=...] msg=MSG [error=...]
 * FIELDS". MSG says what happened and is a constant; FIELDS is a printf
 * format of logfmt fields, "job=%lld path=%s", and the log API quotes
 * every %s value itself (quotes when needed, control bytes as \xNN,
 * secrets redacted), so no caller can forget. The macros paste a literal
 * before both (a space before the fields: no format is empty), so each
 * must be a string literal: a message with arguments, or a variable for a
 * format, does not compile.
 *
 *   log_info("render finished", "job=%lld status=%s", id, status);
 *   fatal("mkdir", "path=%s", dir);	(error= is strerror(errno))
 */
void	log_line(enum log_level, int with_errno, const char *msg, const char *fields, ...)
	    __attribute__((format(printf, 4, 5)));
void	log_fatal(int with_errno, const char *msg, const char *fields, ...)
	    __attribute__((format(printf, 3, 4), noreturn));

#define log_info(msg, ...)	log_line(LOG_LEVEL_INFO, 0, "" msg, " " __VA_ARGS__)
#define log_debug(msg, ...)	log_line(LOG_LEVEL_DEBUG, 0, "" msg, " " __VA_ARGS__)
#define log_warn(msg, ...)	log_line(LOG_LEVEL_WARN, 1, "" msg, " " __VA_ARGS__)
#define log_warnx(msg, ...)	log_line(LOG_LEVEL_WARN, 0, "" msg, " " __VA_ARGS__)
#define fatal(msg, ...)		log_fatal(1, "" msg, " " __VA_ARGS__)
#define fatalx(msg, ...)	log_fatal(0, "" msg, " " __VA_ARGS__)

/*
 * Escape untrusted text for a logfmt value: quoted when needed, control
 * and non-printable bytes as \xNN, secrets redacted. Returns buf.
 */
char	*log_quote(char *buf, size_t len, const char *s);

/* Replace every registered secret in s (in place, result never longer). */
void	log_redact(char *s);

#endif

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
int	log_level_parse(const char *s, enum log_level *out);
/* A secret (the bot token) that is replaced by "<redacted>" in every line;
 * for "<id>:<secret>" the part after the colon on its own too. */
void	log_add_secret(const char *secret);

/*
 * The message is the msg= field; extra logfmt fields may follow it as
 * "msg\tkey=value key2=value2": everything after a tab is emitted verbatim
 * (build values with log_quote()).
 */
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Escape untrusted text for a logfmt value: quoted when needed, control
 * and non-printable bytes as \xNN, secrets redacted. Returns buf.
 */
char	*log_quote(char *buf, size_t len, const char *s);

/* Replace every registered secret in s (in place, result never longer). */
void	log_redact(char *s);

#endif

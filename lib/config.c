/* SPDX-License-Identifier: ISC */
/* config.c: one table of keys drives defaults, the file and the environment. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "xmalloc.h"

enum key_type { KEY_STR, KEY_INT, KEY_INT64, KEY_PATH };

struct key {
	const char	*name;
	enum key_type	 type;
	size_t		 off;
	const char	*def;
	long long	 min, max;
	int		 restart;	/* a change needs a restart, not SIGHUP */
	const char *const *choices;	/* an enumeration's words, NULL-terminated */
};

#define S(n, d)		{ #n, KEY_STR, offsetof(struct config, n), d, 0, 0, 0, NULL }
#define P(n, d)		{ #n, KEY_PATH, offsetof(struct config, n), d, 0, 0, 0, NULL }
#define I(n, d, lo, hi)	{ #n, KEY_INT, offsetof(struct config, n), d, lo, hi, 0, NULL }
#define L(n, d)		{ #n, KEY_INT64, offsetof(struct config, n), d, INT64_MIN, INT64_MAX, \
			  0, NULL }
/* One word of a list (any case, kept as the list spells it). */
#define E(n, d, ...)	{ #n, KEY_STR, offsetof(struct config, n), d, 0, 0, 0, \
			  (const char *const[]){ __VA_ARGS__, NULL } }
/* The same, for keys that only a restart can change. */
#define SR(n, d)	{ #n, KEY_STR, offsetof(struct config, n), d, 0, 0, 1, NULL }
#define PR(n, d)	{ #n, KEY_PATH, offsetof(struct config, n), d, 0, 0, 1, NULL }
#define IR(n, d, lo, hi) { #n, KEY_INT, offsetof(struct config, n), d, lo, hi, 1, NULL }
#define ER(n, d, ...)	{ #n, KEY_STR, offsetof(struct config, n), d, 0, 0, 1, \
			  (const char *const[]){ __VA_ARGS__, NULL } }

static const struct key keys[] = {
	SR(bot_id, "main"),
	SR(telegram_token, ""),
	PR(telegram_token_file, ""),
	SR(telegram_api_url, "https://api.telegram.org"),
	I(poll_timeout, "25", 0, 50),
	ER(telegram_mode, "polling", "polling", "webhook"),
	SR(webhook_url, ""),
	SR(webhook_listen, "127.0.0.1:8443"),
	SR(webhook_path, ""),
	SR(webhook_secret, ""),
	PR(webhook_secret_file, ""),
	IR(webhook_max_connections, "40", 1, 100),
	SR(redis_url, ""),
	SR(redis_prefix, "greetbot"),
	SR(redis_server, "redis-server"),
	PR(state_dir, "state"),
	PR(db_path, ""),
	P(templates_dir, "templates"),
	S(default_template, "ru-birthday"),
	P(render_script, "scripts/render.sh"),
	P(messages_dir, "messages"),
	P(bot_program, ""),
	I(bot_enabled, "1", 0, 1),
	I(render_enabled, "1", 0, 1),
	I(speculate, "1", 0, 1),
	SR(node_name, ""),
	I(workers, "0", 0, 256),
	I(render_timeout, "60", 1, 3600),
	I(render_grace, "5", 0, 300),
	I(drain_grace, "30", 0, 3600),
	I(render_cpu, "120", 1, 36000),
	I(render_memory_mb, "2048", 16, 1 << 20),
	I(render_fsize_mb, "200", 1, 1 << 20),
	I(render_nofile, "256", 16, 65536),
	I(render_nproc, "256", 1, 65536),
	SR(render_user, "nobody"),
	SR(service_user, ""),
	IR(render_uid_base, "65600", 0, 2000000000),
	I(render_validate, "1", 0, 1),
	I(max_attempts, "3", 1, 100),
	I(max_open_requests, "5", 1, 1000),
	I(rate_global, "30", 1, 10000),
	I(rate_chat, "1", 1, 1000),
	SR(http_listen, "127.0.0.1:8080"),
	L(admin_chat_id, "0"),
	I(alert_window, "3600", 0, 86400 * 7),
	I(history_days, "90", 1, 3650),
	S(default_language, "ru"),
	E(log_level, "info", "error", "warn", "info", "debug"),
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

/*
 * Keys a [bot ID] section may set. The first five are the bot's own and
 * never inherited from the top level (two bots must not share a token or
 * a webhook path); the others default to the top-level value.
 */
static const char *const bot_keys[] = {
	"telegram_token", "telegram_token_file", "webhook_path", "webhook_secret",
	"webhook_secret_file",
	"telegram_api_url", "poll_timeout", "telegram_mode", "webhook_url",
	"webhook_listen", "webhook_max_connections", "default_template", "messages_dir",
	"max_open_requests", "rate_global", "rate_chat", "admin_chat_id",
	"default_language",
};
#define BOT_OWN_KEYS	5

/* One "key = value" line of a [bot ID] section. */
struct section_key {
	const struct key	*key;
	char			*value;
	int			 line;
	struct section_key	*next;
};

struct config_section {
	char			*id;
	int			 line;
	int			 enabled;
	struct section_key	*keys, **tail;
	struct config_section	*next;
};

/* Make a relative path absolute against the working directory. */
static char *
absolute(const char *v)
{
	char cwd[PATH_MAX];
	char *p;

	if (*v == '\0' || *v == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return xstrdup(v);
	xasprintf(&p, "%s/%s", cwd, v);
	return p;
}

/*
 * An enumeration's value: one of its words, in any case, stored as the
 * list spells it (the code compares it with strcmp). Anything else is an
 * error naming the key, the value and the words: an unknown word would
 * otherwise be taken for the default without a word.
 */
static int
key_set_word(struct config *c, const struct key *k, const char *v, char *err,
    size_t errlen)
{
	char **field = (char **)((char *)c + k->off), list[160];
	size_t used = 0;

	for (const char *const *w = k->choices; *w != NULL; w++)
		if (strcasecmp(v, *w) == 0) {
			free(*field);
			*field = xstrdup(*w);
			return 0;
		}
	list[0] = '\0';
	for (const char *const *w = k->choices; *w != NULL && used < sizeof(list); w++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
		    w == k->choices ? "" : w[1] == NULL ? " or " : ", ", *w);
	snprintf(err, errlen, "%s: %s, not \"%s\"", k->name, list, v);
	return -1;
}

/* Store one value into its field; -1 with a reason if it does not parse. */
static int
key_set(struct config *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	char *field = (char *)c + k->off, *end;
	long long n;

	switch (k->type) {
	case KEY_STR:
	case KEY_PATH:
		if (k->choices != NULL)
			return key_set_word(c, k, v, err, errlen);
		free(*(char **)field);
		*(char **)field = k->type == KEY_PATH ? absolute(v) : xstrdup(v);
		return 0;
	case KEY_INT:
	case KEY_INT64:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || n < k->min || n > k->max) {
			snprintf(err, errlen, "%s: not a number in %lld..%lld: \"%s\"",
			    k->name, k->min, k->max, v);
			return -1;
		}
		if (k->type == KEY_INT)
			*(int *)field = (int)n;
		else
			*(int64_t *)field = (int64_t)n;
		return 0;
	}
	return -1;
}

static const struct key *
key_find(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Trim white space at both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
bot_key(const char *name)
{
	for (size_t i = 0; i < sizeof(bot_keys) / sizeof(bot_keys[0]); i++)
		if (strcmp(bot_keys[i], name) == 0)
			return (int)i;
	return -1;
}

/* A bot id: 1-32 of a-z 0-9 _ - (it names rows, a webhook path, an
 * environment variable). */
static int
bot_id_valid(const char *id)
{
	size_t n = strlen(id);

	return n >= 1 && n <= 32 && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* "[bot ID]": a new section; -1 with a reason. */
static int
section_start(struct config *c, char *k, const char *path, int lineno, char *err,
    size_t errlen)
{
	struct config_section *sec, **pp;
	char *e = k + strlen(k) - 1, *id;

	if (*e != ']') {
		snprintf(err, errlen, "%s:%d: a section is [bot ID]", path, lineno);
		return -1;
	}
	*e = '\0';
	k = trim(k + 1);
	if (strncmp(k, "bot", 3) != 0 || !isspace((unsigned char)k[3])) {
		snprintf(err, errlen, "%s:%d: unknown section \"[%s]\" (sections are [bot ID])",
		    path, lineno, k);
		return -1;
	}
	id = trim(k + 3);
	if (!bot_id_valid(id)) {
		snprintf(err, errlen, "%s:%d: bot id \"%s\": 1-32 characters of a-z 0-9 _ -",
		    path, lineno, id);
		return -1;
	}
	for (pp = &c->sections; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0) {
			snprintf(err, errlen, "%s:%d: bot %s is configured twice (also at line %d)",
			    path, lineno, id, (*pp)->line);
			return -1;
		}
	sec = xcalloc(1, sizeof(*sec));
	sec->id = xstrdup(id);
	sec->line = lineno;
	sec->enabled = 1;
	sec->tail = &sec->keys;
	*pp = sec;
	return 0;
}

/* A key inside a section: kept for the bot's view, checked now. */
static int
section_key(struct config_section *sec, const char *k, const char *v, const char *path,
    int lineno, char *err, size_t errlen)
{
	struct section_key *sk;
	const struct key *key;
	struct config tmp;
	char why[256];
	int rc;

	if (strcmp(k, "enabled") == 0 || strcmp(k, "bot_enabled") == 0) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
			snprintf(err, errlen, "%s:%d: enabled: 0 or 1, not \"%s\"", path, lineno, v);
			return -1;
		}
		sec->enabled = *v == '1';
		return 0;
	}
	if ((key = key_find(k)) == NULL || bot_key(k) == -1) {
		snprintf(err, errlen, "%s:%d: %s \"%s\" in [bot %s]: a bot section takes "
		    "enabled, telegram_token(_file), telegram_api_url, telegram_mode, the "
		    "webhook keys, default_template, messages_dir, default_language, "
		    "admin_chat_id, max_open_requests, rate_global, rate_chat", path, lineno,
		    key == NULL ? "unknown key" : "key", k, sec->id);
		return -1;
	}
	/* Parse it once now, for the error's line number. */
	memset(&tmp, 0, sizeof(tmp));
	rc = key_set(&tmp, key, v, why, sizeof(why));
	if (key->type == KEY_STR || key->type == KEY_PATH)
		free(*(char **)((char *)&tmp + key->off));
	if (rc == -1) {
		snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
		return -1;
	}
	sk = xcalloc(1, sizeof(*sk));
	sk->key = key;
	sk->value = xstrdup(v);
	sk->line = lineno;
	*sec->tail = sk;
	sec->tail = &sk->next;
	return 0;
}

/* Parse "key = value" lines; '#' starts a comment line; "[bot ID]" starts
 * a bot's section, which lasts to the next one. */
static int
config_read_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *line = NULL, *k, *v, *eq, why[256];
	size_t cap = 0;
	int lineno = 0, rc = 0;
	struct config_section *sec = NULL;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, f) != -1) {
		const struct key *key;

		lineno++;
		k = trim(line);
		if (*k == '\0' || *k == '#')
			continue;
		if (*k == '[') {
			if ((rc = section_start(c, k, path, lineno, err, errlen)) == 0)
				for (sec = c->sections; sec->next != NULL; sec = sec->next)
					;
			continue;
		}
		if ((eq = strchr(k, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		if (sec != NULL) {
			rc = section_key(sec, k, v, path, lineno, err, errlen);
			continue;
		}
		if ((key = key_find(k)) == NULL) {
			snprintf(err, errlen, "%s:%d: unknown key \"%s\"", path, lineno, k);
			rc = -1;
		} else if (key_set(c, key, v, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -1;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/* GREETBOT_<KEY>: the variable of a key. */
static void
key_env_name(char *var, size_t len, const char *key)
{
	size_t j = (size_t)snprintf(var, len, "GREETBOT_");

	for (const char *p = key; *p && j + 1 < len; p++)
		var[j++] = (char)toupper((unsigned char)*p);
	var[j] = '\0';
}

/* GREETBOT_<KEY> in the environment overrides the file. */
static int
config_read_env(struct config *c, char *err, size_t errlen)
{
	char var[96], why[256];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v;

		key_env_name(var, sizeof(var), keys[i].name);
		if ((v = getenv(var)) == NULL)
			continue;
		if (key_set(c, &keys[i], v, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: %s", var, why);
			return -1;
		}
	}
	return 0;
}

/* Whether the rest of a secret's file (after a blank first line) is white
 * space only; else the secret is on a later line than the first. */
static int
secret_rest_blank(FILE *f)
{
	int ch;

	while ((ch = getc(f)) != EOF)
		if (!isspace(ch))
			return 0;
	return 1;
}

/*
 * A secret's file holds it on its first line: into *dst unless *dst is
 * set already (the key itself wins over its file). A directory, a file
 * that cannot be read, and for a bot that is enabled (needed) one with
 * nothing on its first line are errors naming the key, the file and what
 * is wrong: read as no secret, the file would pass for one that was never
 * configured ("no telegram_token or telegram_token_file", again and
 * again). A disabled bot may wait with an empty file.
 */
static int
config_read_secret(const char *key, const char *path, char **dst, int needed,
    char *err, size_t errlen)
{
	struct stat st;
	char buf[512] = "";
	const char *why = NULL;
	FILE *f = NULL;
	int fd;

	if (**dst != '\0' || *path == '\0')
		return 0;
	/* Not blocking: a FIFO without a writer is an empty file, not a hang. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1 ||
	    fstat(fd, &st) == -1)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = "is a directory, not a file";
	else if ((f = fdopen(fd, "r")) == NULL)
		why = strerror(errno);
	else if (fgets(buf, sizeof(buf), f) == NULL && ferror(f))
		why = strerror(errno);
	if (why == NULL && *trim(buf) == '\0' && needed)
		why = secret_rest_blank(f) ? "is empty" : "has nothing on its first line";
	if (f != NULL)
		fclose(f);
	else if (fd != -1)
		close(fd);
	if (why != NULL) {
		snprintf(err, errlen, "%s %s: %s", key, path, why);
		return -1;
	}
	free(*dst);
	*dst = xstrdup(trim(buf));
	return 0;
}

/* The token file holds the token on its first line, the secret file the
 * secret: needed when the bot is enabled. */
static int
config_read_token(struct config *c, char *err, size_t errlen)
{
	return config_read_secret("telegram_token_file", c->telegram_token_file,
	    &c->telegram_token, c->bot_enabled, err, errlen) == -1 ||
	    config_read_secret("webhook_secret_file", c->webhook_secret_file,
	    &c->webhook_secret, c->bot_enabled, err, errlen) == -1 ? -1 : 0;
}

/*
 * The webhook keys (telegram_mode is one of its words already). The
 * secret is Telegram's secret_token: 1-256 of A-Z a-z 0-9 _ - (never
 * printed here). The default path is /telegram/<bot_id> (bytes other
 * than letters, digits and ._~- as _): not the token, which must never
 * be in a URL. The keys a webhook needs are required of a bot only (the
 * top level of a file with [bot] sections and no token of its own is no
 * bot).
 */
static int
config_check_webhook(struct config *c, int bot, char *err, size_t errlen)
{
	size_t n = strlen(c->webhook_secret);
	int webhook = strcmp(c->telegram_mode, "webhook") == 0;

	if (n > 256 || strspn(c->webhook_secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") != n) {
		snprintf(err, errlen, "webhook_secret: 1-256 characters of A-Z a-z 0-9 _ -");
		return -1;
	}
	if (*c->webhook_path == '\0') {
		char *p;

		free(c->webhook_path);
		xasprintf(&c->webhook_path, "/telegram/%s", c->bot_id);
		for (p = c->webhook_path + strlen("/telegram/"); *p != '\0'; p++)
			if (!isalnum((unsigned char)*p) && strchr("._~-", *p) == NULL)
				*p = '_';
	} else if (*c->webhook_path != '/') {
		snprintf(err, errlen, "webhook_path: must start with /");
		return -1;
	}
	if (strrchr(c->webhook_listen, ':') == NULL) {
		snprintf(err, errlen, "webhook_listen: HOST:PORT, not \"%s\"",
		    c->webhook_listen);
		return -1;
	}
	if (!webhook || !bot)
		return 0;
	if (*c->webhook_url == '\0') {
		snprintf(err, errlen, "telegram_mode = webhook needs webhook_url");
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "telegram_mode = webhook needs webhook_secret or "
		    "webhook_secret_file");
		return -1;
	}
	return 0;
}

/* dst: a copy of every key's value in src. */
static void
config_copy(struct config *dst, const struct config *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < NKEYS; i++) {
		const char *from = (const char *)src + keys[i].off;
		char *to = (char *)dst + keys[i].off;

		if (keys[i].type == KEY_STR || keys[i].type == KEY_PATH)
			*(char **)to = xstrdup(*(char *const *)from);
		else if (keys[i].type == KEY_INT)
			*(int *)to = *(const int *)from;
		else
			*(int64_t *)to = *(const int64_t *)from;
	}
	dst->path = src->path != NULL ? xstrdup(src->path) : NULL;
}

/* GREETBOT_BOT_<ID>_<KEY>: a section's key from the environment. */
static void
bot_env_name(char *var, size_t len, const char *id, const char *key)
{
	size_t j = (size_t)snprintf(var, len, "GREETBOT_BOT_");

	for (const char *p = id; *p != '\0' && j + 1 < len; p++)
		var[j++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	if (j + 1 < len)
		var[j++] = '_';
	for (const char *p = key; *p != '\0' && j + 1 < len; p++)
		var[j++] = (char)toupper((unsigned char)*p);
	var[j] = '\0';
}

/*
 * GREETBOT_ variables that are no setting but that the programs use or
 * hand each other, or that the tests and scripts read: never warned about.
 */
static const char *const env_used[] = {
	/* greetbotd's pipes to greetbot-tg (supervisor/service.c) */
	"GREETBOT_WAKE_FD", "GREETBOT_NOTIFY_FD",
	/* the render contract (jobs/renderer.c, scripts/render.sh): a
	 * renderer's environment, or a shell trying a template by hand */
	"GREETBOT_NAME", "GREETBOT_TEMPLATE_DIR", "GREETBOT_CACHE_DIR", "GREETBOT_OUTPUT",
	"GREETBOT_THUMB", "GREETBOT_MODE", "GREETBOT_WORK_DIR", "GREETBOT_STRESS",
	"GREETBOT_THREADS",
	/* scripts/run-demo.sh; the tests (tests/README, 0800) */
	"GREETBOT_CONFIG", "GREETBOT_RUN_DIR", "GREETBOT_KEEP", "GREETBOT_DEB_CACHE",
};

#define WARNINGS_MAX	16	/* warnings kept of one load; the rest are counted */
#define ENV_PREFIX	(sizeof("GREETBOT_") - 1)

/* Edits from a to b (optimal string alignment: two neighbours swapped
 * are one edit), for "did you mean"; SIZE_MAX past 80 characters. */
static size_t
edit_distance(const char *a, const char *b)
{
	unsigned short d[81][81];
	size_t la = strlen(a), lb = strlen(b);

	if (la > 80 || lb > 80)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned short)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned short)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1u < v)
				v = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < v)
				v = d[i][j - 1] + 1u;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1u < v)
				v = d[i - 2][j - 2] + 1u;
			d[i][j] = (unsigned short)v;
		}
	return d[la][lb];
}

/* Every setting's variable: GREETBOT_<KEY> (the first NKEYS), then
 * GREETBOT_BOT_<ID>_<KEY> of each section. */
static char **
env_settings(const struct config *c, size_t *n)
{
	size_t nsec = 0, nbk = sizeof(bot_keys) / sizeof(bot_keys[0]);
	char **v, var[160];

	for (const struct config_section *sec = c->sections; sec; sec = sec->next)
		nsec++;
	v = xcalloc(NKEYS + nsec * (nbk + 1), sizeof(*v));
	*n = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		key_env_name(var, sizeof(var), keys[i].name);
		v[(*n)++] = xstrdup(var);
	}
	for (const struct config_section *sec = c->sections; sec; sec = sec->next)
		for (size_t i = 0; i <= nbk; i++) {
			bot_env_name(var, sizeof(var), sec->id, i < nbk ? bot_keys[i] : "enabled");
			v[(*n)++] = xstrdup(var);
		}
	return v;
}

/*
 * The setting an unknown variable name most likely meant, into out: the
 * closest by edits (a typo: at most 2), else the one key whose name ends
 * in _NAME or starts with NAME_ (GREETBOT_TOKEN: GREETBOT_TELEGRAM_TOKEN).
 * 0 when none is likely.
 */
static int
env_guess(const char *name, char *const *set, size_t n, char *out, size_t len)
{
	const char *tail = name + ENV_PREFIX, *best = NULL, *part = NULL;
	size_t dist = SIZE_MAX, tl = strlen(tail), nparts = 0;

	for (size_t i = 0; i < n; i++) {
		const char *k = set[i] + ENV_PREFIX;
		size_t d = edit_distance(tail, k), kl = strlen(k);

		if (d < dist)
			dist = d, best = set[i];
		if (i < NKEYS && tl > 0 && kl > tl && ((strncmp(k, tail, tl) == 0 &&
		    k[tl] == '_') || (strcmp(k + kl - tl, tail) == 0 && k[kl - tl - 1] == '_')))
			nparts++, part = set[i];
	}
	if (dist > 2)
		best = nparts == 1 ? part : NULL;
	if (best != NULL)
		snprintf(out, len, "%s", best);
	return best != NULL;
}

/* Whether name is GREETBOT_BOT_<something>_<KEY> of a key a section takes. */
static int
env_bot_shaped(const char *name)
{
	size_t nl = strlen(name), pl = strlen("GREETBOT_BOT_");
	char var[96];

	if (strncmp(name, "GREETBOT_BOT_", pl) != 0)
		return 0;
	for (size_t i = 0; i <= sizeof(bot_keys) / sizeof(bot_keys[0]); i++) {
		size_t vl;

		key_env_name(var, sizeof(var), i < sizeof(bot_keys) / sizeof(bot_keys[0]) ?
		    bot_keys[i] : "enabled");
		vl = strlen(var) - ENV_PREFIX;	/* the KEY of GREETBOT_KEY */
		if (nl > pl + vl + 1 && strcmp(name + nl - vl, var + ENV_PREFIX) == 0 &&
		    name[nl - vl - 1] == '_')
			return 1;
	}
	return 0;
}

/* Keep one warning (WARNINGS_MAX of them; the rest are counted). */
static void
config_warn(struct config *c, const char *text, int *more)
{
	if (c->nwarnings == WARNINGS_MAX) {
		(*more)++;
		return;
	}
	c->warnings = xrealloc(c->warnings, (size_t)(c->nwarnings + 1) * sizeof(*c->warnings));
	c->warnings[c->nwarnings++] = xstrdup(text);
}

/*
 * A GREETBOT_ variable that is no setting is a warning naming it and the
 * setting it most likely meant ("GREETBOT_WROKERS is not a setting; did
 * you mean GREETBOT_WORKERS?"): a misspelt override is otherwise ignored
 * without a word. Not an error: a sysadmin's shell may carry others.
 */
static void
config_check_env(struct config *c)
{
	extern char **environ;
	size_t n;
	char **set = env_settings(c, &n), name[128], guess[160], text[400];
	int more = 0;

	for (char **e = environ; *e != NULL; e++) {
		size_t nl = strcspn(*e, "=");
		int known = 0;

		if (strncmp(*e, "GREETBOT_", ENV_PREFIX) != 0 || nl >= sizeof(name))
			continue;
		memcpy(name, *e, nl);
		name[nl] = '\0';
		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(name, set[i]) == 0;
		for (size_t i = 0; i < sizeof(env_used) / sizeof(env_used[0]) && !known; i++)
			known = strcmp(name, env_used[i]) == 0;
		if (known)
			continue;
		if (env_guess(name, set, n, guess, sizeof(guess)))
			snprintf(text, sizeof(text), "%s is not a setting; did you mean %s?", name,
			    guess);
		else if (env_bot_shaped(name))
			snprintf(text, sizeof(text), "%s is not a setting: no [bot ID] section "
			    "of the configuration has its ID", name);
		else
			snprintf(text, sizeof(text), "%s is not a setting (see greetbot.conf(5))",
			    name);
		config_warn(c, text, &more);
	}
	if (more > 0) {
		snprintf(text, sizeof(text), "and %d more GREETBOT_ variables that are not "
		    "settings", more);
		c->warnings = xrealloc(c->warnings, (size_t)(c->nwarnings + 1) *
		    sizeof(*c->warnings));
		c->warnings[c->nwarnings++] = xstrdup(text);
	}
	for (size_t i = 0; i < n; i++)
		free(set[i]);
	free(set);
}

/* The whole configuration as a section's bot sees it. */
static struct config *
bot_view(const struct config *c, const struct config_section *sec, int *enabled,
    char *err, size_t errlen)
{
	struct config *v = xcalloc(1, sizeof(*v));
	char var[160], why[256];
	const char *e;

	config_copy(v, c);
	/* Its own keys start from their defaults, not from the top level's. */
	for (int i = 0; i < BOT_OWN_KEYS; i++) {
		const struct key *k = key_find(bot_keys[i]);
		(void)key_set(v, k, k->def, why, sizeof(why));
	}
	(void)key_set(v, key_find("bot_id"), sec->id, why, sizeof(why));
	for (const struct section_key *sk = sec->keys; sk != NULL; sk = sk->next)
		(void)key_set(v, sk->key, sk->value, why, sizeof(why));
	*enabled = sec->enabled;
	bot_env_name(var, sizeof(var), sec->id, "enabled");
	if ((e = getenv(var)) != NULL) {
		if (strcmp(e, "0") != 0 && strcmp(e, "1") != 0) {
			snprintf(err, errlen, "%s: 0 or 1, not \"%s\"", var, e);
			goto fail;
		}
		*enabled = *e == '1';
	}
	for (size_t i = 0; i < sizeof(bot_keys) / sizeof(bot_keys[0]); i++) {
		bot_env_name(var, sizeof(var), sec->id, bot_keys[i]);
		if ((e = getenv(var)) == NULL)
			continue;
		if (key_set(v, key_find(bot_keys[i]), e, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: %s", var, why);
			goto fail;
		}
	}
	v->bot_enabled = *enabled;
	if (config_read_token(v, why, sizeof(why)) == -1 ||
	    config_check_webhook(v, 1, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "[bot %s] (line %d): %s", sec->id, sec->line, why);
		goto fail;
	}
	if (*enabled && *v->telegram_token == '\0') {
		snprintf(err, errlen, "[bot %s] (line %d): no telegram_token or "
		    "telegram_token_file (or enabled = 0)", sec->id, sec->line);
		goto fail;
	}
	return v;
fail:
	config_free(v);
	free(v);
	return NULL;
}

/*
 * The bots: the main one (the top-level keys) when there is no section or
 * the top level has a token, then one per section. Two bots never share
 * a token (Telegram hands a bot's updates to one poller) nor, in webhook
 * mode, a listening address.
 */
static int
config_bots(struct config *c, char *err, size_t errlen)
{
	const struct config_section *sec;
	int n = 0, main_bot;

	for (sec = c->sections; sec != NULL; sec = sec->next)
		n++;
	c->bots = xcalloc((size_t)n + 1, sizeof(*c->bots));
	if (c->sections == NULL || *c->telegram_token != '\0') {
		struct config_bot *b = &c->bots[c->nbots];

		b->cfg = xcalloc(1, sizeof(*b->cfg));
		config_copy(b->cfg, c);
		b->id = xstrdup(c->bot_id);
		b->enabled = c->bot_enabled;
		b->index = c->nbots++;
	}
	main_bot = c->nbots;	/* 1: the top level is a bot */
	for (sec = c->sections; sec != NULL; sec = sec->next) {
		struct config_bot *b = &c->bots[c->nbots];

		if (main_bot && strcmp(sec->id, c->bot_id) == 0) {
			snprintf(err, errlen, "[bot %s] (line %d): the top-level bot (bot_id, "
			    "with the top-level token) has that id already", sec->id, sec->line);
			return -1;
		}
		if ((b->cfg = bot_view(c, sec, &b->enabled, err, errlen)) == NULL)
			return -1;
		b->id = xstrdup(sec->id);
		b->index = c->nbots++;
	}
	if (c->nbots > CONFIG_BOTS_MAX) {
		snprintf(err, errlen, "%d bots configured: at most %d", c->nbots,
		    CONFIG_BOTS_MAX);
		return -1;
	}
	for (int i = 0; i < c->nbots; i++)
		for (int j = 0; j < i; j++) {
			const struct config *a = c->bots[j].cfg, *b = c->bots[i].cfg;

			if (*b->telegram_token != '\0' &&
			    strcmp(a->telegram_token, b->telegram_token) == 0) {
				snprintf(err, errlen, "bots %s and %s have the same token: each "
				    "bot needs its own", c->bots[j].id, c->bots[i].id);
				return -1;
			}
			if (c->bots[i].enabled && c->bots[j].enabled &&
			    strcmp(a->telegram_mode, "webhook") == 0 &&
			    strcmp(b->telegram_mode, "webhook") == 0 &&
			    strcmp(a->webhook_listen, b->webhook_listen) == 0) {
				snprintf(err, errlen, "bots %s and %s both listen on %s for "
				    "webhooks: give each its own webhook_listen", c->bots[j].id,
				    c->bots[i].id, a->webhook_listen);
				return -1;
			}
		}
	return 0;
}

const struct config_bot *
config_bot(const struct config *c, const char *id)
{
	for (int i = 0; i < c->nbots; i++)
		if (strcmp(c->bots[i].id, id) == 0)
			return &c->bots[i];
	return NULL;
}

int
config_select(struct config *c, const char *id, char *err, size_t errlen)
{
	const struct config_bot *b;

	if (id == NULL && c->nbots != 1) {
		snprintf(err, errlen, c->nbots == 0 ? "no bot is configured" :
		    "%d bots are configured: say which (--bot ID)", c->nbots);
		return -1;
	}
	if ((b = id == NULL ? &c->bots[0] : config_bot(c, id)) == NULL) {
		size_t used = (size_t)snprintf(err, errlen, "no bot \"%s\" in the "
		    "configuration (bots:", id);

		for (int i = 0; i < c->nbots && used < errlen; i++)
			used += (size_t)snprintf(err + used, errlen - used, " %s", c->bots[i].id);
		if (used < errlen)
			snprintf(err + used, errlen - used, ")");
		return -1;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const char *from = (const char *)b->cfg + keys[i].off;
		char *to = (char *)c + keys[i].off;

		if (keys[i].type == KEY_STR || keys[i].type == KEY_PATH) {
			free(*(char **)to);
			*(char **)to = xstrdup(*(char *const *)from);
		} else if (keys[i].type == KEY_INT)
			*(int *)to = *(const int *)from;
		else
			*(int64_t *)to = *(const int64_t *)from;
	}
	c->bot_enabled = b->enabled;
	c->bot_index = b->index;
	free(c->selected);
	c->selected = xstrdup(b->id);
	return 0;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (key_set(c, &keys[i], keys[i].def, err, errlen) == -1)
			return -1;
	if (path != NULL) {
		c->path = absolute(path);
		if (config_read_file(c, path, err, errlen) == -1)
			return -1;
	}
	if (config_read_env(c, err, errlen) == -1 ||
	    config_read_token(c, err, errlen) == -1 ||
	    config_check_webhook(c, c->sections == NULL || *c->telegram_token != '\0', err,
	    errlen) == -1)
		return -1;
	/* No bot and no db_path: a render node without a database. */
	if (*c->db_path == '\0' && (c->bot_enabled || c->sections != NULL)) {
		free(c->db_path);
		xasprintf(&c->db_path, "%s/greetbot.db", c->state_dir);
	}
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = n > 0 ? (int)n : 1;
	}
	if (*c->node_name == '\0') {
		char host[256] = "localhost";
		gethostname(host, sizeof(host) - 1);
		free(c->node_name);
		c->node_name = xstrdup(host);
	}
	if (config_bots(c, err, errlen) == -1)
		return -1;
	config_check_env(c);
	return 0;
}

/* The field of key k in c, as text, for comparing two configurations. */
static void
key_text(const struct config *c, const struct key *k, char *buf, size_t len)
{
	const char *field = (const char *)c + k->off;

	if (k->type == KEY_INT)
		snprintf(buf, len, "%d", *(const int *)field);
	else if (k->type == KEY_INT64)
		snprintf(buf, len, "%lld", (long long)*(const int64_t *)field);
	else
		snprintf(buf, len, "%s", *(char *const *)field);
}

/* The bots: each one's enabled flag and view are taken; a different set
 * of bots (their order gives their preview slots) waits for a restart. */
static void
config_reload_bots(struct config *c, struct config *n, char *changed, size_t changedlen,
    size_t *used)
{
	int same = c->nbots == n->nbots;

	for (int i = 0; same && i < c->nbots; i++)
		same = strcmp(c->bots[i].id, n->bots[i].id) == 0;
	if (!same && *used < changedlen)
		*used += (size_t)snprintf(changed + *used, changedlen - *used, "%sbots(needs "
		    "restart)", *used ? "," : "");
	for (int i = 0; i < c->nbots; i++) {
		struct config_bot *nb = (struct config_bot *)config_bot(n, c->bots[i].id);
		struct config *tmp;
		int e;

		if (nb == NULL)
			continue;
		if (nb->enabled != c->bots[i].enabled && *used < changedlen)
			*used += (size_t)snprintf(changed + *used, changedlen - *used,
			    "%s%s.enabled", *used ? "," : "", nb->id);
		e = c->bots[i].enabled, c->bots[i].enabled = nb->enabled, nb->enabled = e;
		tmp = c->bots[i].cfg, c->bots[i].cfg = nb->cfg, nb->cfg = tmp;
	}
}

int
config_reload(struct config *c, char *changed, size_t changedlen, char *err, size_t errlen)
{
	struct config n;
	size_t used = 0;

	/* A lone bot stays selected when its id changes (a restart takes it). */
	if (config_load(&n, c->path, err, errlen) == -1 ||
	    (c->selected != NULL && config_select(&n, config_bot(&n, c->selected) != NULL ||
	    n.nbots != 1 ? c->selected : NULL, err, errlen) == -1)) {
		config_free(&n);
		return -1;
	}
	changed[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		char a[512], b[512];
		void *cur = (char *)c + k->off, *new = (char *)&n + k->off;
		size_t size = k->type == KEY_INT ? sizeof(int) : k->type == KEY_INT64 ?
		    sizeof(int64_t) : sizeof(char *);
		char tmp[sizeof(int64_t) > sizeof(char *) ? sizeof(int64_t) : sizeof(char *)];

		if (k->type == KEY_STR || k->type == KEY_PATH) {
			/* Whole strings: a change past any buffer's end counts. */
			if (strcmp(*(char **)cur, *(char **)new) == 0)
				continue;
		} else {
			key_text(c, k, a, sizeof(a));
			key_text(&n, k, b, sizeof(b));
			if (strcmp(a, b) == 0)
				continue;
		}
		/* The list is cut, never overrun, when it does not fit. */
		if (used < changedlen)
			used += (size_t)snprintf(changed + used, changedlen - used, "%s%s%s",
			    used ? "," : "", k->name, k->restart ? "(needs restart)" : "");
		if (k->restart)
			continue;
		/* Swap, so that config_free(&n) frees the old value. */
		memcpy(tmp, cur, size);
		memcpy(cur, new, size);
		memcpy(new, tmp, size);
	}
	config_reload_bots(c, &n, changed, changedlen, &used);
	config_free(&n);
	return 0;
}

void
config_free(struct config *c)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].type == KEY_STR || keys[i].type == KEY_PATH)
			free(*(char **)((char *)c + keys[i].off));
	free(c->path);
	for (int i = 0; i < c->nbots; i++) {
		config_free(c->bots[i].cfg);
		free(c->bots[i].cfg);
		free(c->bots[i].id);
	}
	free(c->bots);
	while (c->sections != NULL) {
		struct config_section *sec = c->sections;

		c->sections = sec->next;
		while (sec->keys != NULL) {
			struct section_key *sk = sec->keys;

			sec->keys = sk->next;
			free(sk->value);
			free(sk);
		}
		free(sec->id);
		free(sec);
	}
	free(c->selected);
	for (int i = 0; i < c->nwarnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	memset(c, 0, sizeof(*c));
}

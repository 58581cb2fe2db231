/* config.c: one table of keys drives defaults, the file and the environment. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
};

#define S(n, d)		{ #n, KEY_STR, offsetof(struct config, n), d, 0, 0, 0 }
#define P(n, d)		{ #n, KEY_PATH, offsetof(struct config, n), d, 0, 0, 0 }
#define I(n, d, lo, hi)	{ #n, KEY_INT, offsetof(struct config, n), d, lo, hi, 0 }
#define L(n, d)		{ #n, KEY_INT64, offsetof(struct config, n), d, INT64_MIN, INT64_MAX, 0 }
/* The same, for keys that only a restart can change. */
#define SR(n, d)	{ #n, KEY_STR, offsetof(struct config, n), d, 0, 0, 1 }
#define PR(n, d)	{ #n, KEY_PATH, offsetof(struct config, n), d, 0, 0, 1 }
#define IR(n, d, lo, hi) { #n, KEY_INT, offsetof(struct config, n), d, lo, hi, 1 }

static const struct key keys[] = {
	SR(bot_id, "main"),
	SR(telegram_token, ""),
	PR(telegram_token_file, ""),
	SR(telegram_api_url, "https://api.telegram.org"),
	I(poll_timeout, "25", 0, 50),
	SR(telegram_mode, "polling"),
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
	IR(render_uid_base, "65600", 0, 2000000000),
	I(render_validate, "1", 0, 1),
	I(max_attempts, "3", 1, 100),
	I(max_open_requests, "5", 1, 1000),
	I(rate_global, "30", 1, 10000),
	I(rate_chat, "1", 1, 1000),
	SR(http_listen, "127.0.0.1:8080"),
	L(admin_chat_id, "0"),
	I(alert_window, "3600", 0, 86400 * 7),
	S(default_language, "ru"),
	S(log_level, "info"),
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

/* Store one value into its field; -1 with a reason if it does not parse. */
static int
key_set(struct config *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	char *field = (char *)c + k->off, *end;
	long long n;

	switch (k->type) {
	case KEY_STR:
	case KEY_PATH:
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

/* Parse "key = value" lines; '#' starts a comment line. */
static int
config_read_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *line = NULL, *k, *v, *eq, why[256];
	size_t cap = 0;
	int lineno = 0, rc = 0;

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
		if ((eq = strchr(k, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
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

/* GREETBOT_<KEY> in the environment overrides the file. */
static int
config_read_env(struct config *c, char *err, size_t errlen)
{
	char var[96], why[256];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v;
		size_t j;

		j = (size_t)snprintf(var, sizeof(var), "GREETBOT_");
		for (const char *p = keys[i].name; *p && j + 1 < sizeof(var); p++)
			var[j++] = (char)toupper((unsigned char)*p);
		var[j] = '\0';
		if ((v = getenv(var)) == NULL)
			continue;
		if (key_set(c, &keys[i], v, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: %s", var, why);
			return -1;
		}
	}
	return 0;
}

/* A secret's file holds it on its first line: into *dst unless *dst is
 * set already (the key itself wins over its file). */
static int
config_read_secret(const char *key, const char *path, char **dst, char *err,
    size_t errlen)
{
	FILE *f;
	char buf[512];

	if (**dst != '\0' || *path == '\0')
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
		return -1;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	free(*dst);
	*dst = xstrdup(trim(buf));
	return 0;
}

/* The token file holds the token on its first line. */
static int
config_read_token(struct config *c, char *err, size_t errlen)
{
	return config_read_secret("telegram_token_file", c->telegram_token_file,
	    &c->telegram_token, err, errlen) == -1 ||
	    config_read_secret("webhook_secret_file", c->webhook_secret_file,
	    &c->webhook_secret, err, errlen) == -1 ? -1 : 0;
}

/*
 * telegram_mode and the webhook keys. The secret is Telegram's
 * secret_token: 1-256 of A-Z a-z 0-9 _ - (never printed here). The
 * default path is /telegram/<bot_id> (bytes other than letters, digits
 * and ._~- as _): not the token, which must never be in a URL.
 */
static int
config_check_webhook(struct config *c, char *err, size_t errlen)
{
	size_t n = strlen(c->webhook_secret);
	int webhook = strcmp(c->telegram_mode, "webhook") == 0;

	if (!webhook && strcmp(c->telegram_mode, "polling") != 0) {
		snprintf(err, errlen, "telegram_mode: polling or webhook, not \"%s\"",
		    c->telegram_mode);
		return -1;
	}
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
	if (!webhook)
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
	    config_check_webhook(c, err, errlen) == -1)
		return -1;
	/* No bot and no db_path: a render node without a database. */
	if (*c->db_path == '\0' && c->bot_enabled) {
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

int
config_reload(struct config *c, char *changed, size_t changedlen, char *err, size_t errlen)
{
	struct config n;
	size_t used = 0;

	if (config_load(&n, c->path, err, errlen) == -1) {
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
	memset(c, 0, sizeof(*c));
}

/* SPDX-License-Identifier: ISC */
/* test_config.c: the config file, environment overrides and errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "texts.h"
#include "unit.h"
#include "webhook.h"

static char dir[] = "/tmp/greetbot-unit.XXXXXX";

static const char *
write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_defaults_and_file(void)
{
	struct config c;
	char err[256];
	const char *p = write_file("a.conf", "# comment\n\n workers = 3 \n"
	    "state_dir = /var/lib/x\nadmin_chat_id = -1001234567890123\n");

	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "a valid file loads");
	UNIT_CHECK(c.workers == 3, "workers from the file, spaces trimmed");
	UNIT_STREQ(c.state_dir, "/var/lib/x", "state_dir from the file");
	UNIT_STREQ(c.db_path, "/var/lib/x/greetbot.db", "db_path defaults into state_dir");
	UNIT_CHECK(c.admin_chat_id == -1001234567890123LL, "64-bit chat ids");
	UNIT_CHECK(c.max_attempts == 3, "max_attempts defaults to 3");
	UNIT_CHECK(c.history_days == 90, "history_days defaults to 90");
	UNIT_STREQ(c.telegram_api_url, "https://api.telegram.org", "api url default");
	UNIT_STREQ(c.http_listen, "127.0.0.1:8080", "http_listen default is loopback");
	config_free(&c);
}

static void
test_env_overrides(void)
{
	struct config c;
	char err[256];
	const char *p = write_file("b.conf", "workers = 3\n");

	setenv("GREETBOT_WORKERS", "7", 1);
	setenv("GREETBOT_TELEGRAM_TOKEN", "1:abc", 1);
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "loads with env");
	UNIT_CHECK(c.workers == 7, "GREETBOT_WORKERS overrides the file");
	UNIT_STREQ(c.telegram_token, "1:abc", "token from the environment");
	config_free(&c);
	setenv("GREETBOT_WORKERS", "many", 1);
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1, "a bad number is refused");
	UNIT_CHECK(strstr(err, "GREETBOT_WORKERS") != NULL, "the error names the variable: %s", err);
	config_free(&c);
	unsetenv("GREETBOT_WORKERS");
	unsetenv("GREETBOT_TELEGRAM_TOKEN");
}

static void
test_errors(void)
{
	struct config c;
	char err[256];
	const char *p = write_file("c.conf", "workers = 2\nwrokers = 3\n");

	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1, "an unknown key is refused");
	UNIT_CHECK(strstr(err, "c.conf:2") && strstr(err, "wrokers"),
	    "the error gives file, line and key: %s", err);
	config_free(&c);
	p = write_file("h.conf", "history_days = 0\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 && strstr(err, "history_days"),
	    "history_days 0 is refused (a day at least), naming the key: %s", err);
	config_free(&c);
	p = write_file("h.conf", "history_days = 3651\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1, "history_days over ten years is "
	    "refused: %s", err);
	config_free(&c);
	p = write_file("d.conf", "just words\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1, "a line without = is refused");
	config_free(&c);
	p = write_file("token", "  42:secret  \n");
	setenv("GREETBOT_TELEGRAM_TOKEN_FILE", p, 1);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == 0, "token file loads");
	UNIT_STREQ(c.telegram_token, "42:secret", "token read from the file, trimmed");
	config_free(&c);
	unsetenv("GREETBOT_TELEGRAM_TOKEN_FILE");
}

/* Whether one of c's warnings holds text. */
static int
warned(const struct config *c, const char *text)
{
	for (int i = 0; i < c->nwarnings; i++)
		if (strstr(c->warnings[i], text) != NULL)
			return 1;
	return 0;
}

static void
test_secret_files(void)
{
	struct config c;
	char err[512] = "", sub[300];
	const char *p;

	p = write_file("token", "");
	setenv("GREETBOT_TELEGRAM_TOKEN_FILE", p, 1);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "telegram_token_file") && strstr(err, p) && strstr(err, "is empty"),
	    "an empty token file is refused, naming the key and the file: %s", err);
	config_free(&c);
	write_file("token", " \n\t\n");
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == -1 && strstr(err, "is empty"),
	    "a token file of white space is empty too: %s", err);
	config_free(&c);
	write_file("token", "\n42:secret\n");
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "nothing on its first line"), "a token below a blank first line is "
	    "refused: %s", err);
	config_free(&c);
	setenv("GREETBOT_BOT_ENABLED", "0", 1);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == 0 && *c.telegram_token == '\0',
	    "a render node (bot_enabled 0) needs no token: %s", err);
	config_free(&c);
	unsetenv("GREETBOT_BOT_ENABLED");
	snprintf(sub, sizeof(sub), "%s/token.d", dir);
	mkdir(sub, 0700);
	setenv("GREETBOT_TELEGRAM_TOKEN_FILE", sub, 1);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "telegram_token_file") && strstr(err, "token.d: is a directory"),
	    "a directory as token file is refused: %s", err);
	config_free(&c);
	setenv("GREETBOT_BOT_ENABLED", "0", 1);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == -1 && strstr(err, "directory"),
	    "even for a render node: %s", err);
	config_free(&c);
	unsetenv("GREETBOT_BOT_ENABLED");
	snprintf(sub, sizeof(sub), "%s/no-such-token", dir);
	setenv("GREETBOT_TELEGRAM_TOKEN_FILE", sub, 1);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "no-such-token: No such file"), "a missing one too: %s", err);
	config_free(&c);
	unsetenv("GREETBOT_TELEGRAM_TOKEN_FILE");
	p = write_file("secret", "");
	setenv("GREETBOT_WEBHOOK_SECRET_FILE", p, 1);
	p = write_file("w.conf", "telegram_mode = webhook\nwebhook_url = https://x/hook\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 &&
	    strstr(err, "webhook_secret_file") && strstr(err, "is empty"),
	    "an empty secret file is refused as such, not as no secret: %s", err);
	config_free(&c);
	unsetenv("GREETBOT_WEBHOOK_SECRET_FILE");
	/* A bot's own: an enabled one's empty file is refused, a disabled one waits. */
	write_file("token", "");
	snprintf(sub, sizeof(sub), "[bot a]\ntelegram_token_file = %s/token\n"
	    "[bot b]\ntelegram_token = 2:b\n", dir);
	p = write_file("s4.conf", sub);
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 && strstr(err, "[bot a]") &&
	    strstr(err, "is empty"), "a section's empty token file is refused: %s", err);
	config_free(&c);
	snprintf(sub, sizeof(sub), "[bot a]\ntelegram_token_file = %s/token\nenabled = 0\n"
	    "[bot b]\ntelegram_token = 2:b\n", dir);
	p = write_file("s4.conf", sub);
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "a disabled bot may wait with "
	    "an empty token file: %s", err);
	config_free(&c);
	snprintf(sub, sizeof(sub), "%s/token.d", dir);
	rmdir(sub);
}

static void
test_words(void)
{
	struct config c;
	char err[256] = "";
	const char *p = write_file("l.conf", "workers = 1\nlog_level = verbose\n");

	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 && strstr(err, "l.conf:2") &&
	    strstr(err, "log_level: error, warn, info or debug, not \"verbose\""),
	    "an unknown log_level is refused with the choices: %s", err);
	config_free(&c);
	setenv("GREETBOT_LOG_LEVEL", "loud", 1);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "GREETBOT_LOG_LEVEL") && strstr(err, "\"loud\""),
	    "from the environment too: %s", err);
	config_free(&c);
	setenv("GREETBOT_LOG_LEVEL", "DEBUG", 1);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == 0, "any case: %s", err);
	UNIT_STREQ(c.log_level, "debug", "kept as the list spells it");
	config_free(&c);
	unsetenv("GREETBOT_LOG_LEVEL");
	p = write_file("l.conf", "telegram_mode = pull\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 && strstr(err, "l.conf:1") &&
	    strstr(err, "telegram_mode: polling or webhook, not \"pull\""),
	    "telegram_mode the same way, with its line: %s", err);
	config_free(&c);
	p = write_file("l.conf", "[bot a]\ntelegram_token = 1:a\ntelegram_mode = pull\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 && strstr(err, "l.conf:3"),
	    "in a bot's section too: %s", err);
	config_free(&c);
}

static void
test_env_warnings(void)
{
	struct config c;
	char err[256] = "";
	const char *p = write_file("e.conf", "[bot a-b]\ntelegram_token = 1:x\n");
	int n;

	setenv("GREETBOT_WROKERS", "2", 1);
	setenv("GREETBOT_TOKEN", "1:x", 1);
	setenv("GREETBOT_BOT_A_B_TELEGRAM_MODE", "polling", 1);
	setenv("GREETBOT_BOT_A_B_DEFALT_TEMPLATE", "x", 1);
	setenv("GREETBOT_BOT_SHOP_TELEGRAM_TOKEN", "3:x", 1);
	setenv("GREETBOT_COMPLETELY_DIFFERENT", "1", 1);
	setenv("GREETBOT_WAKE_FD", "3", 1);
	setenv("GREETBOT_OUTPUT", "/tmp/x.mp4", 1);
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "unknown variables do not stop "
	    "a load: %s", err);
	UNIT_CHECK(warned(&c, "GREETBOT_WROKERS is not a setting; did you mean "
	    "GREETBOT_WORKERS?"), "a misspelt variable is named, with the closest setting");
	UNIT_CHECK(warned(&c, "GREETBOT_TOKEN is not a setting; did you mean "
	    "GREETBOT_TELEGRAM_TOKEN?"), "a key's last word alone finds the key");
	UNIT_CHECK(warned(&c, "GREETBOT_BOT_A_B_DEFALT_TEMPLATE is not a setting; did you "
	    "mean GREETBOT_BOT_A_B_DEFAULT_TEMPLATE?"), "a section's variables too");
	UNIT_CHECK(warned(&c, "GREETBOT_BOT_SHOP_TELEGRAM_TOKEN is not a setting: no [bot ID] "
	    "section"), "a bot's variable for a bot not configured");
	UNIT_CHECK(warned(&c, "GREETBOT_COMPLETELY_DIFFERENT is not a setting (see"),
	    "and one like nothing: no guess");
	UNIT_CHECK(!warned(&c, "GREETBOT_BOT_A_B_TELEGRAM_MODE") && !warned(&c, "WAKE_FD") &&
	    !warned(&c, "GREETBOT_OUTPUT"), "a section's setting, greetbotd's pipes and the "
	    "render contract are not warned about");
	n = 0;
	for (int i = 0; i < c.nwarnings; i++)
		n += strstr(c.warnings[i], "GREETBOT_WROKERS") != NULL;
	UNIT_CHECK(n == 1, "each is named once (%d)", n);
	config_free(&c);
	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == 0 &&
	    warned(&c, "GREETBOT_BOT_A_B_TELEGRAM_MODE is not a setting: no [bot ID]"),
	    "without the section its variable is warned about");
	config_free(&c);
	for (const char **v = (const char *[]){ "GREETBOT_WROKERS", "GREETBOT_TOKEN",
	    "GREETBOT_BOT_A_B_TELEGRAM_MODE", "GREETBOT_BOT_A_B_DEFALT_TEMPLATE",
	    "GREETBOT_BOT_SHOP_TELEGRAM_TOKEN", "GREETBOT_COMPLETELY_DIFFERENT",
	    "GREETBOT_WAKE_FD", "GREETBOT_OUTPUT", NULL }; *v != NULL; v++)
		unsetenv(*v);
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0 && !warned(&c, "WROKERS"),
	    "gone from the environment, no warning");
	config_free(&c);
}

static void
test_webhook(void)
{
	struct config c;
	char err[256];
	const char *p;

	UNIT_CHECK(config_load(&c, NULL, err, sizeof(err)) == 0, "webhook: defaults load");
	UNIT_STREQ(c.telegram_mode, "polling", "polling by default");
	UNIT_STREQ(c.webhook_listen, "127.0.0.1:8443", "the webhook server is on loopback");
	UNIT_STREQ(c.webhook_path, "/telegram/main", "the path is derived from bot_id");
	UNIT_CHECK(c.webhook_max_connections == 40, "max_connections defaults to 40");
	config_free(&c);
	p = write_file("w.conf", "telegram_mode = webhook\nwebhook_url = https://x/hook\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 && strstr(err, "webhook_secret"),
	    "webhook mode without a secret is refused: %s", err);
	config_free(&c);
	p = write_file("w.conf", "telegram_mode = webhook\nwebhook_secret = abc_DEF-123\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 && strstr(err, "webhook_url"),
	    "webhook mode without a url is refused: %s", err);
	config_free(&c);
	p = write_file("w.conf", "webhook_secret = no spaces\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 && strstr(err, "no spaces") == NULL,
	    "a secret outside A-Z a-z 0-9 _ - is refused, and not shown: %s", err);
	config_free(&c);
	p = write_file("w.conf", "telegram_mode = hook\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1, "an unknown mode is refused");
	config_free(&c);
	p = write_file("secret", "  s3cret_-X \n");
	setenv("GREETBOT_WEBHOOK_SECRET_FILE", p, 1);
	p = write_file("w.conf", "telegram_mode = webhook\nwebhook_url = https://x/hook\n"
	    "bot_id = shop/1\nwebhook_max_connections = 100\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "webhook mode with a secret "
	    "file loads: %s", err);
	UNIT_STREQ(c.webhook_secret, "s3cret_-X", "the secret is read from its file, trimmed");
	UNIT_STREQ(c.webhook_path, "/telegram/shop_1", "a bot_id unfit for a path is made fit");
	UNIT_CHECK(c.webhook_max_connections == 100, "max_connections from the file");
	config_free(&c);
	unsetenv("GREETBOT_WEBHOOK_SECRET_FILE");
	p = write_file("w.conf", "webhook_max_connections = 101\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1, "max_connections is 1-100");
	config_free(&c);
	UNIT_CHECK(webhook_secret_equal("abc", "abc"), "equal secrets match");
	UNIT_CHECK(!webhook_secret_equal("abd", "abc") && !webhook_secret_equal("ab", "abc") &&
	    !webhook_secret_equal("abcd", "abc") && !webhook_secret_equal("", "abc"),
	    "a different, shorter or longer secret does not");
}

static void
test_reload(void)
{
	struct config c;
	char err[256], changed[256];
	const char *p = write_file("r.conf", "workers = 3\nstate_dir = /var/a\n");

	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "reload: first load");
	write_file("r.conf", "workers = 4\nstate_dir = /var/b\nrate_chat = 2\n");
	UNIT_CHECK(config_reload(&c, changed, sizeof(changed), err, sizeof(err)) == 0,
	    "reload succeeds");
	UNIT_CHECK(c.workers == 4 && c.rate_chat == 2, "live keys take their new values");
	UNIT_STREQ(c.state_dir, "/var/a", "a restart-only key keeps its value");
	UNIT_STREQ(changed, "state_dir(needs restart),db_path(needs restart),workers,rate_chat",
	    "the changed keys are listed, restart-only ones marked");
	write_file("r.conf", "workers = lots\n");
	UNIT_CHECK(config_reload(&c, changed, sizeof(changed), err, sizeof(err)) == -1 &&
	    c.workers == 4, "a broken file keeps the running configuration");
	config_free(&c);
}

static void
test_texts(void)
{
	struct texts *t;
	char err[256], *s;

	mkdir(dir, 0700);
	write_file("ru", "hello = Привет, {name}!\\nКак дела?\nonly_ru = да\n");
	write_file("en", "# comment\nhello = Hello, {name}!\n");
	t = texts_load(dir, "ru", err, sizeof(err));
	UNIT_CHECK(t != NULL, "texts load");
	s = texts_fmt(t, "en", "hello", "Mary");
	UNIT_STREQ(s, "Hello, Mary!", "en text with the name");
	free(s);
	s = texts_fmt(t, texts_lang(t, "ru-RU"), "hello", "Маша");
	UNIT_STREQ(s, "Привет, Маша!\nКак дела?", "ru-RU maps to ru, \\n is a newline");
	free(s);
	UNIT_STREQ(texts_get(t, "en", "only_ru"), "да", "a missing key falls back to ru");
	UNIT_STREQ(texts_lang(t, "de"), "ru", "an unknown language gets the default");
	UNIT_STREQ(texts_get(t, "en", "nope"), "nope", "an unknown key shows the key");
	texts_free(t);
	UNIT_CHECK(texts_load(dir, "fr", err, sizeof(err)) == NULL, "no file for the default: error");
}

static void
test_redact(void)
{
	char buf[256];

	log_add_secret("123456:SECRETTOKEN");
	snprintf(buf, sizeof(buf), "GET /bot123456:SECRETTOKEN/getMe failed");
	log_redact(buf);
	UNIT_CHECK(strstr(buf, "SECRET") == NULL, "the token is redacted: %s", buf);
	log_quote(buf, sizeof(buf), "a \"b\"\n\x01 c=d");
	UNIT_STREQ(buf, "\"a \\\"b\\\"\\x0a\\x01 c=d\"", "untrusted text is quoted and escaped");
}

static void
test_bots(void)
{
	struct config c;
	char err[512], changed[512];
	const char *p;

	/* No section: one bot, the top level's. */
	p = write_file("s1.conf", "telegram_token = 1:one\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "one bot loads: %s", err);
	UNIT_CHECK(c.nbots == 1, "no section: one bot (%d)", c.nbots);
	UNIT_STREQ(c.bots[0].id, "main", "it is the main bot");
	UNIT_CHECK(config_select(&c, NULL, err, sizeof(err)) == 0, "the only bot is chosen alone");
	config_free(&c);

	write_file("s2-token", "2:kids-secret\n");
	p = write_file("s2.conf",
	    "messages_dir = /srv/texts\ndefault_template = ru-birthday\n"
	    "admin_chat_id = 77\nworkers = 2\n"
	    "[bot family]\ntelegram_token = 1:family\n"
	    "[bot kids]\n# the second\ntelegram_token_file = s2-token\n"
	    "default_template = en-birthday\nenabled = 0\nmessages_dir = /srv/kids\n");
	if (chdir(dir) == -1)
		return;
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "two bot sections load: %s", err);
	UNIT_CHECK(c.nbots == 2, "two bots and no main (no top-level token): %d", c.nbots);
	UNIT_STREQ(c.bots[0].id, "family", "in file order");
	UNIT_STREQ(c.bots[1].id, "kids", "in file order (2)");
	UNIT_CHECK(c.bots[0].enabled && !c.bots[1].enabled, "enabled defaults to 1, kids off");
	UNIT_STREQ(c.bots[1].cfg->telegram_token, "2:kids-secret", "token from its own file");
	UNIT_STREQ(c.bots[1].cfg->default_template, "en-birthday", "its own template");
	UNIT_STREQ(c.bots[0].cfg->default_template, "ru-birthday", "inherited template");
	UNIT_STREQ(c.bots[0].cfg->messages_dir, "/srv/texts", "inherited texts");
	UNIT_STREQ(c.bots[1].cfg->messages_dir, "/srv/kids", "its own texts");
	UNIT_CHECK(c.bots[1].cfg->admin_chat_id == 77, "inherited admin chat");
	UNIT_STREQ(c.bots[1].cfg->webhook_path, "/telegram/kids", "its own webhook path");
	UNIT_CHECK(*c.db_path != '\0', "bots mean a database");
	UNIT_CHECK(config_select(&c, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "--bot") != NULL, "several bots: one must be named: %s", err);
	UNIT_CHECK(config_select(&c, "nope", err, sizeof(err)) == -1 &&
	    strstr(err, "family kids") != NULL, "an unknown bot lists the bots: %s", err);
	UNIT_CHECK(config_select(&c, "kids", err, sizeof(err)) == 0, "a bot is selected");
	UNIT_STREQ(c.bot_id, "kids", "its id becomes bot_id");
	UNIT_STREQ(c.telegram_token, "2:kids-secret", "its token becomes the token");
	UNIT_CHECK(c.bot_index == 1 && c.bot_enabled == 0, "its index and flag");
	UNIT_CHECK(c.workers == 2, "global keys stay");

	/* SIGHUP: the kids bot turned on; its token change waits. */
	write_file("s2.conf",
	    "messages_dir = /srv/texts\ndefault_template = ru-birthday\n"
	    "admin_chat_id = 77\nworkers = 2\n"
	    "[bot family]\ntelegram_token = 1:family\n"
	    "[bot kids]\ntelegram_token = 2:other\n"
	    "default_template = en-birthday\nenabled = 1\nmessages_dir = /srv/kids2\n");
	UNIT_CHECK(config_reload(&c, changed, sizeof(changed), err, sizeof(err)) == 0,
	    "reload with bots: %s", err);
	UNIT_CHECK(strstr(changed, "kids.enabled") != NULL, "the flag change is named: %s",
	    changed);
	UNIT_CHECK(c.bots[1].enabled, "and taken");
	UNIT_STREQ(c.messages_dir, "/srv/kids2", "the selected bot's texts are reloaded");
	UNIT_STREQ(c.telegram_token, "2:kids-secret", "a token change needs a restart");
	write_file("s2.conf", "[bot family]\ntelegram_token = 1:family\n"
	    "[bot kids]\ntelegram_token = 2:kids-secret\n[bot new]\ntelegram_token = 3:n\n");
	UNIT_CHECK(config_reload(&c, changed, sizeof(changed), err, sizeof(err)) == 0,
	    "reload with a new bot");
	UNIT_CHECK(strstr(changed, "bots(needs restart)") != NULL && c.nbots == 2,
	    "a new bot waits for a restart: %s", changed);
	config_free(&c);

	/* Mistakes, each with its line. */
	static const struct { const char *text, *want, *what; } bad[] = {
	    { "[bot a]\ntelegram_token = 1:x\n[bot b]\ntelegram_token = 1:x\n",
		"same token", "two bots, one token" },
	    { "[bot a]\ntelegram_token = 1:x\n[bot a]\ntelegram_token = 2:x\n",
		"configured twice", "one id twice" },
	    { "[bot a]\ntelegram_token = 1:x\nworkers = 3\n", ":3:", "a global key in a section" },
	    { "[bot A!]\n", "a-z 0-9", "a bad id" },
	    { "[robot a]\n", "unknown section", "an unknown section" },
	    { "[bot a]\nenabled = yes\n", "0 or 1", "a bad flag" },
	    { "[bot a]\n", "no telegram_token", "an enabled bot without a token" },
	    { "telegram_token = 9:m\n[bot main]\ntelegram_token = 1:x\n", "top-level bot",
		"a section with the main bot's id" },
	    { "telegram_mode = webhook\nwebhook_url = https://x.example\n"
	      "[bot a]\ntelegram_token = 1:x\nwebhook_secret = s1\n"
	      "[bot b]\ntelegram_token = 2:x\nwebhook_secret = s2\n", "both listen",
		"two webhook bots on one address" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = write_file("s3.conf", bad[i].text);
		UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == -1 &&
		    strstr(err, bad[i].want) != NULL, "%s is refused: %s", bad[i].what, err);
		config_free(&c);
	}
	p = write_file("s3.conf", "[bot main]\ntelegram_token = 1:x\n");
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0 && c.nbots == 1 &&
	    strcmp(c.bots[0].id, "main") == 0,
	    "a section may be named main when the top level is no bot: %s", err);
	config_free(&c);
	/* The environment reaches a section's keys. */
	p = write_file("s3.conf", "[bot a-b]\ntelegram_token = 1:x\n");
	setenv("GREETBOT_BOT_A_B_DEFAULT_TEMPLATE", "en-birthday", 1);
	setenv("GREETBOT_BOT_A_B_ENABLED", "0", 1);
	UNIT_CHECK(config_load(&c, p, err, sizeof(err)) == 0, "env for a section: %s", err);
	UNIT_STREQ(c.bots[0].cfg->default_template, "en-birthday",
	    "GREETBOT_BOT_<ID>_<KEY> sets the bot's key");
	UNIT_CHECK(!c.bots[0].enabled, "and its enabled flag");
	unsetenv("GREETBOT_BOT_A_B_DEFAULT_TEMPLATE");
	unsetenv("GREETBOT_BOT_A_B_ENABLED");
	config_free(&c);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	test_defaults_and_file();
	test_env_overrides();
	test_errors();
	test_secret_files();
	test_words();
	test_env_warnings();
	test_webhook();
	test_reload();
	test_texts();
	test_redact();
	test_bots();
	for (const char **f = (const char *[]){ "a.conf", "b.conf", "c.conf", "d.conf",
	    "token", "w.conf", "secret", "ru", "en", "r.conf", "s1.conf", "s2.conf",
	    "s2-token", "s3.conf", "s4.conf", "l.conf", "e.conf", NULL }; *f != NULL; f++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, *f);
		unlink(path);
	}
	rmdir(dir);
	return unit_done();
}

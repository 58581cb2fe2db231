/* SPDX-License-Identifier: ISC */
/*
 * greetctl.c: the operator's command line (SPEC 8). Queries read SQLite
 * read-only; actions are short transactions that leave rows for greetbotd
 * and greetbot-tg (a job, an outbox row), never a way around them.
 * Templates are linted (lint.c) and rendered with greetbotd's own
 * isolation (renderer.c) in a private event loop (sample.c).
 *
 * This file is main: the options, the synopsis and the table of commands.
 * Each command family has a file of its own (cmd-*.c); what they share is
 * declared in greetctl.h.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "greetctl.h"
#include "log.h"

/* The installed configuration (the Makefile's SYSCONFDIR). */
#ifndef GREETCTL_CONFIG
#define GREETCTL_CONFIG	"/etc/greetbot/greetbot.conf"
#endif

/* The synopsis; exit 2 (bad usage), or 0 for --help. */
void
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: greetctl [-c config] [--bot ID] [--json] command [argument ...]\n"
	    "  status\n"
	    "  users\n"
	    "  requests [--user ID] [--state STATE]\n"
	    "  assets [--state STATE]\n"
	    "  attempts ASSET\n"
	    "  parked [-v]\n"
	    "  retry ASSET | retry --all-failed\n"
	    "  send USER TEXT\n"
	    "  cancel REQUEST\n"
	    "  block USER | unblock USER\n"
	    "  history USER\n"
	    "  forget USER\n"
	    "  template list\n"
	    "  template check [--no-render] [--keep] [--name NAME] ID\n"
	    "  template preview [--keep] [-o PATH] ID NAME\n"
	    "  chat --tgsim HOST:PORT --chat-id N [--lang CODE] [--linger SECONDS]\n"
	    "  backup [--media] [--force] DEST\n"
	    "  restore [--media] [--force] SRC\n");
	exit(code);
}

/* A decimal id from the command line, else bad usage. */
int64_t
arg_id(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		warnx("%s: not a number: %s", what, s);
		usage(EXIT_USAGE);
	}
	return (int64_t)v;
}

/* One of the states in list (any case), else bad usage. */
const char *
arg_state(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcasecmp(s, *list) == 0)
			return *list;
	warnx("unknown state: %s", s);
	usage(EXIT_USAGE);
}

/*
 * The configuration file greetctl reads: -c's; else GREETCTL_CONFIG's
 * (empty: none); else the installed one (the file the systemd unit gives
 * greetbotd) when it exists, so that greetctl on an installed system sees
 * what greetbotd sees. NULL: the built-in defaults, as greetbotd without
 * -c, whose relative paths are the working directory's.
 */
static const char *
config_path(const char *given)
{
	const char *env = getenv("GREETCTL_CONFIG");

	if (given != NULL)
		return given;
	if (env != NULL)
		return *env != '\0' ? env : NULL;
	return access(GREETCTL_CONFIG, F_OK) == 0 ? GREETCTL_CONFIG : NULL;
}

/* --- main ------------------------------------------------------------------- */

static const struct command {
	const char	*name;
	int		(*run)(int, char **);
} commands[] = {
	{ "status", cmd_status },
	{ "users", cmd_users },
	{ "requests", cmd_requests },
	{ "assets", cmd_assets },
	{ "attempts", cmd_attempts },
	{ "parked", cmd_parked },
	{ "retry", cmd_retry },
	{ "send", cmd_send },
	{ "cancel", cmd_cancel },
	{ "block", cmd_block },
	{ "unblock", cmd_block },
	{ "history", cmd_history },
	{ "forget", cmd_forget },
	{ "template", cmd_template },
	{ "chat", cmd_chat },
	{ "backup", cmd_backup },
	{ "restore", cmd_restore },
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "bot", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *bot = NULL;
	char err[512];
	int ch, rc;

	log_init("greetctl", LOG_LEVEL_WARN);
	while ((ch = getopt_long(argc, argv, "+c:b:jh", opts, NULL)) != -1) {
		if (ch == 'c')
			path = optarg;
		else if (ch == 'b')
			bot = optarg;
		else if (ch == 'j')
			gc.json = 1;
		else if (ch == 'h')
			usage(0);
		else
			usage(EXIT_USAGE);
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(EXIT_USAGE);
	if (config_load(&gc.cfg, config_path(path), err, sizeof(err)) == -1)
		errx(1, "config: %s%s", err, path == NULL && config_path(NULL) != NULL ?
		    " (the installed configuration, read without -c; give -c FILE for another)" :
		    "");
	for (int i = 0; i < gc.cfg.nwarnings; i++)
		warnx("config: %s", gc.cfg.warnings[i]);
	log_add_secret(gc.cfg.telegram_token);
	for (int i = 0; i < gc.cfg.nbots; i++)
		log_add_secret(gc.cfg.bots[i].cfg->telegram_token);
	scope_select(bot);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0) {
			rc = commands[i].run(argc, argv);
			curl_global_cleanup();
			config_free(&gc.cfg);
			free(gc.scope);
			return rc;
		}
	warnx("unknown command: %s", argv[0]);
	usage(EXIT_USAGE);
}

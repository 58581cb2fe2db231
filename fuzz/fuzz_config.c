/* SPDX-License-Identifier: ISC */
/*
 * fuzz_config.c: the text of a greetbot.conf through config_load() and
 * config_reload() (SIGHUP). The text is handed over as a memfd (both read
 * a path), and the environment is fixed first: no GREETBOT_<KEY>
 * overrides but the token, so that a telegram_token_file named by the
 * input is never opened (a FIFO or a terminal would block; reading files
 * is not parsing).
 */
#include <sys/mman.h>

#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

extern char **environ;

/* Unset every GREETBOT_ variable, then set the token. */
static void
fuzz_config_env(void)
{
	char name[256];
	size_t n;

	for (int i = 0; environ[i] != NULL; ) {
		if (strncmp(environ[i], "GREETBOT_", 9) != 0) {
			i++;
			continue;
		}
		n = strcspn(environ[i], "=");
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, environ[i], n);
		name[n] = '\0';
		unsetenv(name);	/* environ shifts down: look at i again */
	}
	setenv("GREETBOT_TELEGRAM_TOKEN", "1:fuzz", 1);
}

/* Make the memfd hold len bytes of data. */
static void
fuzz_config_write(int fd, const uint8_t *data, size_t len)
{
	if (ftruncate(fd, 0) == -1 ||
	    (len > 0 && pwrite(fd, data, len, 0) != (ssize_t)len)) {
		perror("fuzz_config: write");
		abort();
	}
}

/* Whether every key in a config_reload list is one that needs a restart. */
static int
fuzz_config_restart_only(const char *changed)
{
	const char *mark = "(needs restart)";
	size_t n;

	for (const char *p = changed; *p != '\0'; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		if (n < strlen(mark) || strncmp(p + n - strlen(mark), mark, strlen(mark)) != 0)
			return 0;
	}
	return 1;
}

/*
 * SIGHUP: the file now holds next. Reloading the same text changes
 * nothing; after a reload, reloading again leaves only the keys that
 * wait for a restart.
 */
static void
fuzz_config_reload(struct config *c, int fd, const uint8_t *next, size_t len, int same)
{
	char changed[512], all[4096], err[1024];	/* 512: as bot.c has it */

	fuzz_config_write(fd, next, len);
	if (config_reload(c, changed, sizeof(changed), err, sizeof(err)) == -1) {
		FUZZ_ASSERT(!same && err[0] != '\0');
		return;
	}
	FUZZ_ASSERT(!same || changed[0] == '\0');
	FUZZ_ASSERT(config_reload(c, all, sizeof(all), err, sizeof(err)) == 0);
	FUZZ_ASSERT(fuzz_config_restart_only(all));
}

/*
 * The input is the file; a line "%%" splits it into the file as loaded
 * and as reloaded (without one, the same file is reloaded).
 */
int
fuzz_config(const uint8_t *data, size_t len)
{
	static int env_fixed;
	const uint8_t *next = data;
	size_t first = len, nlen = len;
	const char *split;
	struct config c;
	char path[64], err[1024];
	int fd;

	if (!env_fixed) {
		fuzz_config_env();
		env_fixed = 1;
	}
	if ((split = memmem(data, len, "\n%%\n", 4)) != NULL) {
		first = (size_t)(split - (const char *)data) + 1;
		next = (const uint8_t *)split + 4;
		nlen = len - first - 3;
	}
	if ((fd = memfd_create("fuzz-config", MFD_CLOEXEC)) == -1) {
		perror("memfd_create");
		abort();
	}
	fuzz_config_write(fd, data, first);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	if (config_load(&c, path, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(c.bot_id != NULL && c.state_dir != NULL && c.db_path != NULL);
		FUZZ_ASSERT(c.workers > 0 && c.node_name != NULL);
		FUZZ_ASSERT(strcmp(c.telegram_token, "1:fuzz") == 0);
		fuzz_config_reload(&c, fd, next, nlen, split == NULL);
	} else
		FUZZ_ASSERT(err[0] != '\0');	/* an error says why */
	config_free(&c);
	close(fd);
	return 0;
}

FUZZ_TARGET(fuzz_config)

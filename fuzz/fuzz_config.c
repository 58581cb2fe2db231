/*
 * fuzz_config.c: the text of a greetbot.conf through config_load(). The
 * text is handed over as a memfd (config_load reads a path), and the
 * environment is fixed first: no GREETBOT_<KEY> overrides but the token,
 * so that a telegram_token_file named by the input is never opened (a
 * FIFO or a terminal would block; reading files is not parsing).
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

int
fuzz_config(const uint8_t *data, size_t len)
{
	static int env_fixed;
	struct config c;
	char path[64], err[1024];
	int fd;

	if (!env_fixed) {
		fuzz_config_env();
		env_fixed = 1;
	}
	if ((fd = memfd_create("fuzz-config", MFD_CLOEXEC)) == -1) {
		perror("memfd_create");
		abort();
	}
	if (len > 0 && write(fd, data, len) != (ssize_t)len) {
		perror("write");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	if (config_load(&c, path, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(c.bot_id != NULL && c.state_dir != NULL && c.db_path != NULL);
		FUZZ_ASSERT(c.workers > 0 && c.node_name != NULL);
		FUZZ_ASSERT(strcmp(c.telegram_token, "1:fuzz") == 0);
	} else
		FUZZ_ASSERT(err[0] != '\0');	/* an error says why */
	config_free(&c);
	close(fd);
	return 0;
}

FUZZ_TARGET(fuzz_config)

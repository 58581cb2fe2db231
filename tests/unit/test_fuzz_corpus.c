/* SPDX-License-Identifier: ISC */
/*
 * test_fuzz_corpus.c: every file of fuzz/corpus/<target>/ (the seeds and
 * the inputs of past findings) through the fuzz targets' own entry
 * functions, without libFuzzer, so each stays a regression test of
 * `make test` and `make asan`. The targets are compiled into this one
 * file (FUZZ_REPLAY leaves out their LLVMFuzzerTestOneInput). A broken
 * invariant aborts the program, which tests/run.sh counts as a failure;
 * the files run in name order, so the culprit is the one after the last
 * "ok". FUZZ_CORPUS names another corpus directory.
 */
#define FUZZ_REPLAY

#include "../../fuzz/fuzz_config.c"
#include "../../fuzz/fuzz_multipart.c"
#include "../../fuzz/fuzz_names.c"
#include "../../fuzz/fuzz_template.c"
#include "../../fuzz/fuzz_update.c"

#include <dirent.h>

#include "unit.h"

static const struct replay_target {
	const char	*name;
	int		(*entry)(const uint8_t *, size_t);
} replay_targets[] = {
	{ "config", fuzz_config },
	{ "multipart", fuzz_multipart },
	{ "names", fuzz_names },
	{ "template", fuzz_template },
	{ "update", fuzz_update },
};

/* A file's bytes in a buffer of exactly its size (so ASan sees overreads),
 * as libFuzzer hands them; NULL when it cannot be read. */
static uint8_t *
replay_read(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return NULL;
	}
	*len = (size_t)sb.st_size;
	buf = xmalloc(*len > 0 ? *len : 1);
	if (*len > 0 && read(fd, buf, *len) != (ssize_t)*len) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	return buf;
}

/* Feed every file of dir/name to the target's entry function. */
static void
replay_one(const char *dir, const struct replay_target *t)
{
	struct dirent **names;
	char *sub, *path;
	uint8_t *buf;
	size_t len;
	int n, files = 0;

	xasprintf(&sub, "%s/%s", dir, t->name);
	if ((n = scandir(sub, &names, NULL, alphasort)) == -1) {
		UNIT_CHECK(0, "%s: cannot read the corpus directory", sub);
		free(sub);
		return;
	}
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			xasprintf(&path, "%s/%s", sub, names[i]->d_name);
			buf = replay_read(path, &len);
			fflush(stdout);
			UNIT_CHECK(buf != NULL && t->entry(buf, len) == 0, "%s", path);
			files += buf != NULL;
			free(buf);
			free(path);
		}
		free(names[i]);
	}
	free(names);
	UNIT_CHECK(files > 0, "%s holds inputs (%d)", sub, files);
	free(sub);
}

int
main(void)
{
	const char *dir = getenv("FUZZ_CORPUS");

	log_init("test_fuzz_corpus", LOG_LEVEL_WARN);
	for (size_t i = 0; i < sizeof(replay_targets) / sizeof(replay_targets[0]); i++)
		replay_one(dir != NULL ? dir : "fuzz/corpus", &replay_targets[i]);
	return unit_done();
}

/*
 * unit.c: the runner of the unit tests. tests/unit/NAME.c holds the tests of
 * daemon/NAME.c; UNIT_TESTS in unit.h lists them all, once. Each test runs
 * in its own temporary directory (the process chdirs into it), with a fresh
 * default configuration, against a real LMDB environment where it opens one.
 *
 * Output: one line per test ("ok NAME" or "FAIL NAME: why"; "ok NAME #
 * skipped: why" for a test that cannot run on this machine, counted as
 * passed), then "unit: N passed, N failed" (", N skipped" when some were).
 * Exit status 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"
#include "unit.h"

struct config	*cfg;

int		 failed;
char		 why[512];
char		 skip_note[256];

/* A fresh default configuration (no file, no environment). */
static void
fresh_config(void)
{
	char	*cause = NULL;

	config_free(cfg);
	cfg = config_load(NULL, &cause);
	if (cfg == NULL) {
		fprintf(stderr, "config_load: %s\n", cause);
		exit(2);
	}
}

/* Write text to path, a new file. */
void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

/* ------------------------------------------------------------ runner */

static const struct {
	const char	*name;
	void		(*fn)(void);
} tests[] = {
#define T(n)	{ #n, n },
	UNIT_TESTS
#undef T
};

int
main(int argc, char **argv)
{
	char	 tmpl[] = "/tmp/batchd-unit.XXXXXX", cmd[64], *dir, top[4096];
	size_t	 i;
	int	 passed = 0, nfailed = 0, nskipped = 0;

	(void)argc;
	(void)argv;
	log_init(LOG_LVL_ERROR);
	if ((base = event_base_new()) == NULL)
		return 2;
	event_base_priority_init(base, 3);
	if (getcwd(top, sizeof top) == NULL)
		return 2;
	for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		strcpy(tmpl, "/tmp/batchd-unit.XXXXXX");
		if ((dir = mkdtemp(tmpl)) == NULL || chdir(dir) == -1)
			return 2;
		fresh_config();
		failed = 0;
		skip_note[0] = '\0';
		tests[i].fn();
		if (failed) {
			printf("FAIL %s: %s\n", tests[i].name, why);
			nfailed++;
		} else if (skip_note[0] != '\0') {
			printf("ok   %s # skipped: %s\n", tests[i].name,
			    skip_note);
			passed++;
			nskipped++;
		} else {
			printf("ok   %s\n", tests[i].name);
			passed++;
		}
		if (chdir(top) == -1)
			return 2;
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 2;
	}
	config_free(cfg);
	event_base_free(base);
	if (nskipped != 0)
		printf("unit: %d passed, %d failed, %d skipped\n", passed,
		    nfailed, nskipped);
	else
		printf("unit: %d passed, %d failed\n", passed, nfailed);
	return nfailed != 0;
}

/*
 * cronnext.c: prints the next fires of cron expressions in time zones,
 * with batchd's own cron.c and tz.c, for tests/integration/test_cron.py,
 * which compares them with an oracle (python3-croniter and zoneinfo).
 *
 * Each line of standard input is "EXPR<TAB>ZONE<TAB>AFTER_MS<TAB>N"; the
 * answer, one line each, is "ok F1 F2 ... FN" (the N fires after AFTER_MS,
 * each after the one before, in milliseconds; -1: no more) or "error
 * TEXT" (what cron_parse() or tz_get() said).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchd.h"

void
xmalloc_fail(const char *what, size_t n, size_t size)
{
	fprintf(stderr, "cronnext: %s(%zu, %zu) failed\n", what, n, size);
	abort();
}

/* One request line; answers it on stdout. */
static void
answer(char *line)
{
	const struct tz	*z;
	struct cron	 c;
	char		*f[4], *cause, err[256];
	int64_t		 t;
	long		 n;
	int		 i;

	for (i = 0; i < 4; i++)
		if ((f[i] = strsep(&line, "\t")) == NULL) {
			printf("error bad request line\n");
			return;
		}
	if (cron_parse(f[0], &c, err, sizeof err) == -1) {
		printf("error cron: %s\n", err);
		return;
	}
	if ((z = tz_get(f[1], &cause)) == NULL) {
		printf("error timezone: %s\n", cause);
		free(cause);
		return;
	}
	t = strtoll(f[2], NULL, 10);
	n = strtol(f[3], NULL, 10);
	printf("ok");
	for (i = 0; i < n; i++) {
		if (t != -1)
			t = cron_next(&c, z, t);
		printf(" %lld", (long long)t);
	}
	printf("\n");
}

int
main(int argc, char **argv)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 len;

	if (argc > 1)
		tz_dir = argv[1];
	while ((len = getline(&line, &cap, stdin)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		answer(line);
		fflush(stdout);
	}
	free(line);
	tz_free_all();
	return 0;
}

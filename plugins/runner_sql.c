/*
 * runner_sql.c: SQL jobs. The .sql file (or the submitted query) is the
 * engine's standard input. The engine is the workspace's:
 *
 *	[plugin.sql]
 *	engine = sqlite3				the default
 *	engine.analytics = psql -v ON_ERROR_STOP=1 postgresql://...
 *
 * "sqlite3" means sqlite3 -bail on {data_dir}/sql/{workspace}.db, one
 * database per workspace; any other engine is a command line that reads
 * SQL on stdin and exits non-zero when a statement fails.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "words.h"

static int
command(const struct batchd_job *job, const char *file, char ***argv,
    char **stdin_path, char *err, size_t errlen)
{
	const char	*engine;
	char		 key[300], db[8192];
	char		**v = NULL;
	size_t		 nv = 0;

	snprintf(key, sizeof key, "engine.%s", job->workspace);
	if ((engine = job->setting(key)) == NULL &&
	    (engine = job->setting("engine")) == NULL)
		engine = "sqlite3";
	if (strcmp(engine, "sqlite3") == 0) {
		snprintf(db, sizeof db, "%s/sql", job->data_dir);
		if (mkdir(db, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", db, strerror(errno));
			return -1;
		}
		snprintf(db, sizeof db, "%s/sql/%s.db", job->data_dir,
		    job->workspace);
		if (words_add(&v, &nv, "sqlite3") == -1 ||
		    words_add(&v, &nv, "-bail") == -1 ||
		    words_add(&v, &nv, db) == -1)
			goto fail;
	} else if (words_split(engine, &v, &nv) == -1 || nv == 0)
		goto fail;
	if ((*stdin_path = strdup(file)) == NULL)
		goto fail;
	*argv = v;
	return 0;
fail:
	snprintf(err, errlen, "engine '%s' does not split into words", engine);
	words_free(v);
	return -1;
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_RUNNER,
	.name = "sql",
	.handles = BATCHD_JOB_SQL,
	.u.runner = { .command = command },
};

/*
 * runner_sql.c: SQL jobs. The .sql file (or the submitted query) is the
 * engine's standard input. The engine is the workspace's:
 *
 *	[plugin.sql]
 *	engine = sqlite3				the default
 *	engine.analytics = psql -v ON_ERROR_STOP=1 postgresql://...
 *
 * "sqlite3" means sqlite3 -safe -bail on {data_dir}/sql/{ws}/{ws}.db, one
 * database per workspace in a directory of its own (0700; the local
 * backend hands it to the job's uid, and it is the only part of data_dir
 * in the job's sandbox; sqlite's journals go beside the database). Safe
 * mode refuses .shell, .system, ATTACH, readfile(), writefile(),
 * load_extension() and the like. A database of an older batchd,
 * {data_dir}/sql/{ws}.db, moves into the directory on first use, with its
 * -journal, -wal and -shm files. Any other engine is a command line that
 * reads SQL on stdin and exits non-zero when a statement fails.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "words.h"

/* Move {data_dir}/sql/{ws}.db and its companions into dir. 0 or -1. */
static int
migrate(const struct batchd_job *job, const char *dir, char *err,
    size_t errlen)
{
	static const char	*const suffix[] = { "", "-journal", "-wal",
				    "-shm" };
	char			 from[8192], to[8192];
	struct stat		 st;
	size_t			 i;

	snprintf(to, sizeof to, "%s/%s.db", dir, job->workspace);
	if (lstat(to, &st) == 0)
		return 0;	/* moved already */
	for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(from, sizeof from, "%s/sql/%s.db%s", job->data_dir,
		    job->workspace, suffix[i]);
		snprintf(to, sizeof to, "%s/%s.db%s", dir, job->workspace,
		    suffix[i]);
		if (rename(from, to) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "moving %s to %s: %s", from, to,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
command(const struct batchd_job *job, const char *file, char ***argv,
    char **stdin_path, char *err, size_t errlen)
{
	const char	*engine;
	char		 key[300], dir[4096], db[8192];
	char		**v = NULL;
	size_t		 nv = 0;

	snprintf(key, sizeof key, "engine.%s", job->workspace);
	if ((engine = job->setting(key)) == NULL &&
	    (engine = job->setting("engine")) == NULL)
		engine = "sqlite3";
	if (strcmp(engine, "sqlite3") == 0) {
		snprintf(dir, sizeof dir, "%s/sql", job->data_dir);
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return -1;
		}
		snprintf(dir, sizeof dir, "%s/sql/%s", job->data_dir,
		    job->workspace);
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return -1;
		}
		if (migrate(job, dir, err, errlen) == -1)
			return -1;
		if (job->expose != NULL)
			job->expose(dir, 1);
		snprintf(db, sizeof db, "%s/%s.db", dir, job->workspace);
		if (words_add(&v, &nv, "sqlite3") == -1 ||
		    words_add(&v, &nv, "-safe") == -1 ||
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

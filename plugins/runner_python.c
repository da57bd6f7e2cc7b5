/*
 * runner_python.c: PYTHON jobs: INTERPRETER FILE ARGS..., where the
 * interpreter is chosen by the cluster's version:
 *
 *	[plugin.python]
 *	interpreter = python3			the default
 *	interpreter.3.11 = /usr/bin/python3.11	for clusters of version 3.11
 *	mpiexec = mpiexec			MPI launcher
 *	mpiexec_args = --oversubscribe		its extra arguments
 *
 * With workers_quantity W > 1 and the launcher on PATH, the job runs as W
 * ranks: mpiexec -n W [mpiexec_args] INTERPRETER FILE ARGS...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "words.h"

/* Is prog executable, directly or on the job's PATH? */
static int
on_path(const struct batchd_job *job, const char *prog)
{
	const char	*path = "/usr/local/bin:/usr/bin:/bin", *p, *e;
	char		 full[4096];
	size_t		 i;

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0;
	for (i = 0; job->env[i] != NULL; i++)
		if (strncmp(job->env[i], "PATH=", 5) == 0)
			path = job->env[i] + 5;
	for (p = path; *p != '\0'; p = *e == ':' ? e + 1 : e) {
		if ((e = strchr(p, ':')) == NULL)
			e = p + strlen(p);
		snprintf(full, sizeof full, "%.*s/%s", (int)(e - p), p, prog);
		if (access(full, X_OK) == 0)
			return 1;
	}
	return 0;
}

static int
command(const struct batchd_job *job, const char *file, char ***argv,
    char **stdin_path, char *err, size_t errlen)
{
	const char	*interp = NULL, *mpi, *mpiargs;
	char		 key[300], n[16];
	char		**v = NULL;
	size_t		 nv = 0;

	if (job->version != NULL && *job->version != '\0') {
		snprintf(key, sizeof key, "interpreter.%s", job->version);
		interp = job->setting(key);
	}
	if (interp == NULL && (interp = job->setting("interpreter")) == NULL)
		interp = "python3";
	if ((mpi = job->setting("mpiexec")) == NULL)
		mpi = "mpiexec";
	if ((mpiargs = job->setting("mpiexec_args")) == NULL)
		mpiargs = "";
	if (job->workers > 1 && on_path(job, mpi)) {
		snprintf(n, sizeof n, "%u", job->workers);
		if (words_add(&v, &nv, mpi) == -1 ||
		    words_add(&v, &nv, "-n") == -1 ||
		    words_add(&v, &nv, n) == -1 ||
		    words_split(mpiargs, &v, &nv) == -1)
			goto fail;
	}
	if (words_split(interp, &v, &nv) == -1 ||
	    words_add(&v, &nv, file) == -1)
		goto fail;
	if (job->args != NULL && words_split(job->args, &v, &nv) == -1) {
		snprintf(err, errlen, "args: unbalanced quotes");
		words_free(v);
		return -1;
	}
	*argv = v;
	*stdin_path = NULL;
	return 0;
fail:
	snprintf(err, errlen, "interpreter or launcher settings do not split "
	    "into words");
	words_free(v);
	return -1;
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_RUNNER,
	.name = "python",
	.handles = BATCHD_JOB_PYTHON,
	.u.runner = { .command = command },
};

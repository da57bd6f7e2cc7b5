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
 *
 * An interpreter or launcher installed outside the system's directories
 * (/usr, /bin, /sbin, /lib*, which every sandbox holds), e.g.
 * /opt/python3.12/bin/python3, is exposed read-only to the job's sandbox
 * with its installation: the directory above its bin/ (PREFIX/bin/prog),
 * for the path as found and for the file it links to.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "words.h"

/* Is prog executable, directly or on the job's PATH? Its path in full. */
static int
on_path(const struct batchd_job *job, const char *prog, char *full,
    size_t fullsize)
{
	const char	*path = "/usr/local/bin:/usr/bin:/bin", *p, *e;
	size_t		 i;

	if (strchr(prog, '/') != NULL) {
		snprintf(full, fullsize, "%s", prog);
		return access(prog, X_OK) == 0;
	}
	for (i = 0; job->env[i] != NULL; i++)
		if (strncmp(job->env[i], "PATH=", 5) == 0)
			path = job->env[i] + 5;
	for (p = path; *p != '\0'; p = *e == ':' ? e + 1 : e) {
		if ((e = strchr(p, ':')) == NULL)
			e = p + strlen(p);
		snprintf(full, fullsize, "%.*s/%s", (int)(e - p), p, prog);
		if (access(full, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* Expose the installation of the program at path, if outside the system's. */
static void
expose_prefix(const struct batchd_job *job, const char *path)
{
	static const char	*const sys[] = { "/usr/", "/bin/", "/sbin/",
				    "/lib" };
	char			 pre[PATH_MAX], *s;
	size_t			 i;

	if (path[0] != '/' || job->expose == NULL)
		return;
	for (i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (strncmp(path, sys[i], strlen(sys[i])) == 0)
			return;
	snprintf(pre, sizeof pre, "%s", path);
	for (i = 0; i < 2; i++)		/* PREFIX/bin/prog: PREFIX */
		if ((s = strrchr(pre, '/')) != NULL && s != pre)
			*s = '\0';
	job->expose(pre, 0);
}

/* Expose what running prog needs (see the head comment). */
static void
expose_prog(const struct batchd_job *job, const char *prog)
{
	char	full[PATH_MAX], real[PATH_MAX];

	if (!on_path(job, prog, full, sizeof full))
		return;
	expose_prefix(job, full);
	if (realpath(full, real) != NULL && strcmp(real, full) != 0)
		expose_prefix(job, real);
}

static int
command(const struct batchd_job *job, const char *file, char ***argv,
    char **stdin_path, char *err, size_t errlen)
{
	const char	*interp = NULL, *mpi, *mpiargs;
	char		 key[300], n[16], full[PATH_MAX];
	char		**v = NULL;
	size_t		 nv = 0, first;

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
	if (job->workers > 1 && on_path(job, mpi, full, sizeof full)) {
		expose_prog(job, mpi);
		snprintf(n, sizeof n, "%u", job->workers);
		if (words_add(&v, &nv, mpi) == -1 ||
		    words_add(&v, &nv, "-n") == -1 ||
		    words_add(&v, &nv, n) == -1 ||
		    words_split(mpiargs, &v, &nv) == -1)
			goto fail;
	}
	first = nv;
	if (words_split(interp, &v, &nv) == -1 || nv == first ||
	    words_add(&v, &nv, file) == -1)
		goto fail;
	expose_prog(job, v[first]);	/* the interpreter's first word */
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

/*
 * holdfetch.c: a WORKSPACE source for test_plugins.py. It copies the job's
 * file as the workspace source does, but leaves a process behind that
 * holds the fetch's stdout and stderr open for 3 s after the fetch has
 * returned, and makes {workdir}/../fetch-over once the fetch is gone: the
 * window in which the shim has reaped the fetch and still drains its
 * output, where a cancel once went unnoticed and the job started anyway.
 * A file named slow*.py is fetched slowly instead: the fetch writes its pid
 * into {workdir}/../fetching and sleeps 60 s before it copies, the window
 * of a cancel while the fetch is still running.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <batchd/plugin.h>

static int
fetch(const struct batchd_job *job, char **file, char *err, size_t errlen)
{
	char	 src[8192], over[8192], buf[65536];
	pid_t	 fetcher = getpid();
	ssize_t	 n;
	int	 in, out;

	snprintf(src, sizeof src, "%s/%s/%s", job->workspace_dir,
	    job->source_path, job->source_location);
	snprintf(over, sizeof over, "%s/../fetch-over", job->workdir);
	if (asprintf(file, "%s/%s", job->workdir, job->source_location) == -1)
		return -1;
	if (strncmp(job->source_location, "slow", 4) == 0) {
		snprintf(over, sizeof over, "%s/../fetching", job->workdir);
		if ((out = open(over, O_WRONLY | O_CREAT | O_TRUNC, 0644)) ==
		    -1 || dprintf(out, "%d\n", (int)getpid()) < 0)
			return -1;
		close(out);
		sleep(60);
		snprintf(over, sizeof over, "%s/../fetch-over", job->workdir);
	}
	if ((in = open(src, O_RDONLY)) == -1 ||
	    (out = open(*file, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1) {
		snprintf(err, errlen, "%s: cannot copy", src);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -1;
	close(in);
	close(out);
	if (fork() == 0) {
		while (getppid() == fetcher)	/* until the fetch has ended */
			usleep(1000);
		close(open(over, O_WRONLY | O_CREAT, 0644));
		sleep(3);			/* stdout, stderr still open */
		_exit(0);
	}
	return 0;
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_SOURCE,
	.name = "holdfetch",
	.handles = BATCHD_SOURCE_WORKSPACE,
	.u.source = { .fetch = fetch },
};

/*
 * source_workspace.c: WORKSPACE sources. The job's file is
 * {workspace_dir}/{source.path}/{source_location}, opened with openat2(2)
 * RESOLVE_BENEATH the workspace directory, so neither ".." nor a symlink
 * (absolute or relative) can leave the workspace; it is copied into the
 * attempt's work directory.
 */
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

static int
fetch(const struct batchd_job *job, char **file, char *err, size_t errlen)
{
	struct open_how	 how;
	const char	*name;
	char		 rel[8192], buf[65536];
	int		 root, in, out;
	ssize_t		 n;

	if ((root = open(job->workspace_dir, O_PATH | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "workspace directory %s: %s",
		    job->workspace_dir, strerror(errno));
		return -1;
	}
	snprintf(rel, sizeof rel, "%s/%s", job->source_path,
	    job->source_location);
	memset(&how, 0, sizeof how);
	how.flags = O_RDONLY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	in = (int)syscall(SYS_openat2, root, rel, &how, sizeof how);
	close(root);
	if (in == -1) {
		snprintf(err, errlen, "%s in workspace '%s': %s", rel,
		    job->workspace, errno == EXDEV ?
		    "resolves outside the workspace" : strerror(errno));
		return -1;
	}
	name = strrchr(job->source_location, '/');
	name = name == NULL ? job->source_location : name + 1;
	if (asprintf(file, "%s/%s", job->workdir, name) == -1) {
		close(in);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((out = open(*file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1) {
		snprintf(err, errlen, "%s: %s", *file, strerror(errno));
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n == -1)
		snprintf(err, errlen, "copying %s: %s", rel, strerror(errno));
	close(in);
	close(out);
	return n == -1 ? -1 : 0;
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_SOURCE,
	.name = "workspace",
	.handles = BATCHD_SOURCE_WORKSPACE,
	.u.source = { .fetch = fetch },
};

/*
 * identity.c: as whom an attempt's job runs. When batchd is root, a job
 * runs as its workspace's own uid (job_user = workspace, local backend;
 * identity_take(), in the op that starts the attempt, takes it from
 * storage or allocates it there) or as job_user; else, and on Slurm unless
 * job_user names a user, as batchd's own user. The shim (root) hands it
 * to the backend, which drops to it; DIR/work is the job's, and runs/, runs/RUN/ and DIR are
 * 0711 then (data_dir too, main.c), so that the job reaches DIR/work
 * without listing anything on the way; the rest of data_dir stays 0700
 * (a SQL job's database directory, sql/{ws}/, is the sql runner's to make
 * and hand over). The shim's sandbox binds DIR/work where it is, so the
 * 0711 path only matters to backends without one (Slurm).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchd.h"

struct uid_note {
	char		*ws;
	uint32_t	 uid;
};

static void
uid_note_log(void *arg)
{
	struct uid_note	*n = arg;

	log_info("ws=%s uid=%u gid=%u: the workspace's jobs run as it", n->ws,
	    n->uid, n->uid);
}

static void
uid_note_free(void *arg)
{
	struct uid_note	*n = arg;

	free(n->ws);
	free(n);
}

/*
 * In an op: as whom the job of r runs (see the top of the file), into *id.
 * A workspace's first job allocates its uid in t (logged once t commits);
 * a used-up job_uid_range is id->error, for exec_start() to fail the
 * attempt with. Workspace uids are no accounts: they serve the local
 * backend; another (Slurm) runs jobs as a user it knows, job_user's or
 * batchd's own. 0 or an LMDB error.
 */
int
identity_take(struct txn *t, const struct run *r, struct jobident *id)
{
	struct uid_note	*n;
	const char	*ws = r->ws, *bname = NULL;
	uint64_t	 per;
	uint32_t	 lo;
	int		 rc, fresh;

	memset(id, 0, sizeof *id);
	switch (cfg->job_mode) {
	case JU_SELF:
		return 0;
	case JU_USER:
		id->set = 1;
		id->uid = cfg->job_uid;
		id->gid = cfg->job_gid;
		return 0;
	case JU_WORKSPACE:
		break;
	}
	plugin_backend(r->instance_type, &bname);
	if (bname == NULL || strcmp(bname, "local") != 0)
		return 0;
	/* Each partition gives uids from its own slice of the range: two
	 * partitions never give one uid to two workspaces. */
	per = ((uint64_t)cfg->job_uid_hi - cfg->job_uid_lo + 1) /
	    cfg->partitions;
	lo = cfg->job_uid_lo + (uint32_t)(per * cfg->partition);
	rc = store_ws_uid(t, ws, lo, lo + (uint32_t)per - 1, &id->uid, &fresh);
	if (rc == ERANGE) {
		xasprintf(&id->error, "job_uid_range %s is used up: no uid "
		    "left for workspace '%s'", cfg->job_uid_range, ws);
		return 0;
	}
	if (rc != 0)
		return rc;
	id->set = 1;
	id->gid = id->uid;
	if (fresh) {
		n = xcalloc(1, sizeof *n);
		n->ws = xstrdup(ws);
		n->uid = id->uid;
		txn_defer(t, uid_note_log, n, uid_note_free);
	}
	return 0;
}

/*
 * The workspace's own directory, {workspace_root}/{ws}, is its jobs' to
 * write (the sandbox binds it read-write): made if missing, and handed to
 * the job's identity while root still owns it, so that an operator's own
 * choice of owner stands. Only the directory itself: what is in it keeps
 * its owner. 0, or -1 with *cause.
 */
int
identity_home(const char *ws, const struct jobident *id, char **cause)
{
	struct stat	 st;
	char		*path;
	int		 rc = 0;

	xasprintf(&path, "%s/%s", cfg->workspace_root, ws);
	if ((mkdir(path, 0755) == -1 && errno != EEXIST) ||
	    lstat(path, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		rc = -1;
	} else if (!S_ISDIR(st.st_mode)) {
		xasprintf(cause, "%s: not a directory", path);
		rc = -1;
	} else if (st.st_uid == 0 &&
	    lchown(path, id->uid, id->gid) == -1) {
		xasprintf(cause, "chown %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(path);
	return rc;
}

/*
 * DIR and DIR/work for a job of identity id: DIR/work is the job's; DIR and
 * runs/RUN/ are 0711 (batchd's umask took the bits mkdir was given). 0, or
 * -1 with *cause.
 */
int
identity_dirs(const char *dir, const char *work, const struct jobident *id,
    char **cause)
{
	char	*run, *slash;
	int	 rc = 0;

	if (mkdir_p(work, 0700) == -1) {
		xasprintf(cause, "%s: %s", work, strerror(errno));
		return -1;
	}
	if (!id->set)
		return 0;
	run = xstrdup(dir);
	if ((slash = strrchr(run, '/')) != NULL)
		*slash = '\0';
	if (chmod(run, 0711) == -1 || chmod(dir, 0711) == -1) {
		xasprintf(cause, "chmod %s: %s", dir, strerror(errno));
		rc = -1;
	} else if (chown(work, id->uid, id->gid) == -1) {
		xasprintf(cause, "chown %s: %s", work, strerror(errno));
		rc = -1;
	}
	free(run);
	return rc;
}

/*
 * batchd/plugin.h: the plugin ABI of batchd. Installed as
 * {prefix}/include/batchd/plugin.h; a plugin includes only this file.
 *
 * A plugin is a shared object exporting one symbol,
 *
 *	const struct batchd_plugin batchd_plugin = { ... };
 *
 * with abi = BATCHD_PLUGIN_ABI, a kind, a name and the callbacks of its kind.
 * batchd loads the plugins named in its configuration from plugin_dir at
 * start and refuses to start on a missing file, a missing symbol, an ABI
 * version it does not take or a kind or name other than configured. Each attempt's
 * supervisor (batchd-shim) loads them again and calls them, in this order:
 *
 *   backend  prepare()  (optional) make ready what the job's start
 *                       needs that does not depend on the fetch or the
 *                       runner, so that it is done while the fetch runs
 *                       (the local backend: the attempt's cgroup and most
 *                       of its sandbox); unprepare() undoes it when the
 *                       attempt ends before start() (a failed or
 *                       cancelled fetch, a runner's error)
 *   source   fetch()    put the job's file under job->workdir (may block:
 *                       it runs in a child process of its own whose stdout
 *                       and stderr go to the run's logs, with its own
 *                       timeout, fetch_timeout_s)
 *   runner   command()  the job's argv and stdin
 *   backend  start(), then poll() until the job is over; kill() to stop it
 *
 * A supervisor started for an attempt whose supervisor was lost (killed,
 * or its machine gone, with batchd's) while its job lives on outside it
 * (Slurm) calls only the backend's adopt(), then poll() and kill().
 *
 * No callback runs in batchd's event loop. Strings handed to a plugin are
 * valid during the call; what a plugin returns through char ** is
 * malloc(3)ed and freed by the caller. A failing callback returns -1 and
 * writes a message (no newline) into err (errlen bytes).
 *
 * Versioning: a change of any struct below or of a callback's meaning
 * bumps BATCHD_PLUGIN_ABI; fields are only added at the end of
 * struct batchd_job and struct batchd_backend, with the bump, so that
 * plugins of BATCHD_PLUGIN_ABI_MIN and later still load (batchd reads no
 * field of a plugin newer than the plugin's abi).
 */
#ifndef BATCHD_PLUGIN_H
#define BATCHD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BATCHD_PLUGIN_ABI	4	/* 2: job.note, outcome.timed_out;
					 * 3: job.expose, job.exposed_*,
					 * job.cgroup_parent, job.limit_memory,
					 * _pids, _cpu_millicores, backend
					 * prepare() and unprepare();
					 * 4: backend adopt() */
#define BATCHD_PLUGIN_ABI_MIN	3	/* the oldest that loads */

enum batchd_plugin_kind {
	BATCHD_PLUGIN_SOURCE = 1,
	BATCHD_PLUGIN_RUNNER = 2,
	BATCHD_PLUGIN_BACKEND = 3
};

/* Values of the proto enums SourceType and JobType. */
enum { BATCHD_SOURCE_WORKSPACE = 1, BATCHD_SOURCE_GIT = 2, BATCHD_SOURCE_S3 = 3,
    BATCHD_SOURCE_TEXT = 4 };	/* TEXT: the shim writes the file itself */
enum { BATCHD_JOB_PYTHON = 1, BATCHD_JOB_SQL = 2 };

/* One attempt of one run, as every plugin sees it. */
struct batchd_job {
	const char	 *run_uuid;
	const char	 *workspace;
	const char	 *cluster_uuid;
	uint32_t	  attempt;		/* 1-based */
	int		  type;			/* BATCHD_JOB_* */
	const char	 *instance_type;	/* the cluster's */
	uint32_t	  workers;		/* workers_quantity */
	const char	 *version;		/* the cluster's version */
	uint32_t	  timeout_s;		/* of this attempt */
	int		  source_type;		/* BATCHD_SOURCE_*, 0 for SQL */
	const char	 *source_path;		/* WORKSPACE: path in workspace */
	const char	 *repo_url;		/* GIT */
	const char	 *username;
	const char	 *token;		/* secret: never log it */
	const char	 *reference;		/* "" for the default branch */
	const char	 *bucket_path;		/* S3: "bucket/key" */
	const char	 *region;
	const char	 *source_location;	/* file within the source */
	const char	 *args;			/* unsplit */
	const char	 *sql;			/* submitted query, or NULL */
	const char	 *workdir;		/* the attempt's work directory */
	const char	 *workspace_dir;	/* {workspace_root}/{workspace} */
	const char	 *data_dir;		/* batchd's data_dir */
	char *const	 *env;			/* the job's environment */
	/* The plugin's own settings: "key = value" lines of the section
	 * [plugin.<name>] of batchd.conf; NULL if unset. */
	const char	*(*setting)(const char *key);
	/* For backends: run the job as uid:gid (uid (uid_t)-1: as the
	 * supervisor) with these limits (0: inherited). */
	uid_t		  uid;
	gid_t		  gid;
	uint64_t	  limit_nofile;
	uint64_t	  limit_as;
	uint64_t	  limit_cpu;
	/* For backends: what the job waits for before it runs (Slurm's
	 * pending reason), one line, shown as the run's reason_text while
	 * it is RUNNING; "" when it waits no more. Secrets are masked. */
	void		(*note)(const char *text);
	/* For runners: the job needs path (a directory or file outside its
	 * work directory and workspace) at the same place in its sandbox,
	 * writable if rw; the local backend binds nothing else of the
	 * host's file system but what the runner's interpreter needs. A
	 * writable path is handed to the job's uid like the work directory. */
	void		(*expose)(const char *path, int rw);
	/* For backends: what runners exposed, NULL-terminated. */
	char *const	 *exposed_ro;
	char *const	 *exposed_rw;
	/* For backends: the parent of the attempt's cgroup, a ':'-list of
	 * directories, one per cgroup hierarchy (batchd's cg_parent();
	 * NULL: no cgroup), under which the local backend makes
	 * "{run_uuid}.{attempt}" with these limits (0: none). A limit that
	 * cannot be enforced fails the start: never silently unlimited. */
	const char	 *cgroup_parent;
	uint64_t	  limit_memory;		/* bytes */
	uint64_t	  limit_pids;		/* processes and threads */
	uint64_t	  limit_cpu_millicores;	/* 1000: one CPU */
};

/* How the job ended, filled by a backend's poll(). */
struct batchd_outcome {
	int		 waitstatus;	/* as from wait(2) */
	int64_t		 user_us;
	int64_t		 sys_us;
	int64_t		 maxrss_kb;
	int		 timed_out;	/* the backend's own time limit (the
					 * attempt's timeout) ended it */
};

struct batchd_source {
	/* Fetch the job's file under job->workdir; its path in *file. */
	int	(*fetch)(const struct batchd_job *job, char **file, char *err,
		    size_t errlen);
};

struct batchd_runner {
	/* The job's argv (NULL-terminated) and stdin file (NULL:
	 * /dev/null) to run file, the fetched job file. */
	int	(*command)(const struct batchd_job *job, const char *file,
		    char ***argv, char **stdin_path, char *err, size_t errlen);
};

struct batchd_backend {
	/* Start argv in job->workdir with the job's environment, stdin
	 * from stdin_path, stdout and stderr to out_fd and err_fd (which
	 * the supervisor reads; they must reach them while the job runs).
	 * *handle is the backend's: on entry what prepare() gave, or NULL;
	 * on failure released (and any prepared process gone). */
	int	(*start)(const struct batchd_job *job, char *const *argv,
		    const char *stdin_path, int out_fd, int err_fd,
		    void **handle, char *err, size_t errlen);
	/* 1 when the job is over (outcome filled, handle released), 0 if
	 * not yet, -1 on error (err). Called on SIGCHLD and every
	 * poll_ms milliseconds. */
	int	(*poll)(void *handle, struct batchd_outcome *outcome,
		    char *err, size_t errlen);
	/* Send sig (SIGTERM, later SIGKILL) to all of the job. */
	void	(*kill)(void *handle, int sig);
	int	  poll_ms;	/* 0: only on SIGCHLD */
	/* Optional (NULL: start() does it all). Called before the fetch,
	 * with job as start() will get it except for exposed_ro and
	 * exposed_rw (the runner has not run yet): make ready what the
	 * start needs, into *handle, which is then passed to start() (in
	 * *handle) or, if the attempt ends before it, to unprepare(). Must
	 * not block on the job's start; -1 (err): the attempt fails as
	 * SPAWN_FAILED without a fetch. Its processes must not outlive the
	 * supervisor. start() without prepare() gets *handle == NULL. */
	int	(*prepare)(const struct batchd_job *job, void **handle,
		    char *err, size_t errlen);
	/* Undo prepare() (kill, remove, release) for an attempt that ends
	 * before its start(). A failing start() has released its handle. */
	void	(*unprepare)(void *handle);
	/*
	 * Optional (NULL, or a plugin of ABI 3: an attempt whose supervisor
	 * was lost fails as SUPERVISOR_LOST). Take over the job that start()
	 * started for this attempt in a supervisor since lost, without
	 * starting it again: as start() (*handle for poll() and kill(), the
	 * output into out_fd and err_fd), from where the logs stop: done[0]
	 * and done[1] count the bytes of what the backend wrote to the lost
	 * supervisor's out_fd and err_fd that the logs hold (exact unless a
	 * secret was masked in them or the run's log quota was reached).
	 * -1 (err): there is no such job (it fails as SUPERVISOR_LOST).
	 */
	int	(*adopt)(const struct batchd_job *job, int out_fd, int err_fd,
		    const uint64_t *done, void **handle, char *err,
		    size_t errlen);
};

struct batchd_plugin {
	uint32_t	 abi;		/* BATCHD_PLUGIN_ABI (MIN and up load) */
	int		 kind;		/* enum batchd_plugin_kind */
	const char	*name;
	/* source: the BATCHD_SOURCE_* it fetches; runner: the
	 * BATCHD_JOB_* it runs; backend: 0. */
	int		 handles;
	union {
		struct batchd_source	source;
		struct batchd_runner	runner;
		struct batchd_backend	backend;
	} u;
};

#endif /* BATCHD_PLUGIN_H */

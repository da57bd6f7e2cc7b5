/*
 * exec.c: the processes of attempts, each owned by a batchd-shim (shim.c).
 *
 * exec_start() runs after the commit that made an attempt RUNNING: it makes
 * the attempt's directory {data_dir}/runs/{run}/{attempt}/, fetches the
 * job's file into its work/ directory, builds argv and a clean environment,
 * and starts the shim with posix_spawn() in a session of its own, every
 * descriptor above 2 closed (LMDB's and the NATS socket are not
 * close-on-exec). The shim runs the job, writes its output to the log
 * files, enforces the timeout and records the result in DIR/exit, so the
 * attempt goes on while batchd restarts.
 *
 * batchd watches each shim through a pidfd and follows the log files
 * (logs.c). When the shim is gone, its DIR/exit says how the attempt ended;
 * without one the shim was lost and the attempt fails (SUPERVISOR_LOST).
 * After a restart, exec_reattach() finds live shims by DIR/shim.pid (pid and
 * start time, so a reused pid is not mistaken for one).
 *
 * Cancel: SIGTERM to the shim, which passes it to the job's process group
 * and sends SIGKILL kill_grace_s later.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"

struct proc {
	char			 uuid[UUID_LEN + 1];
	uint32_t		 attempt;
	char			*dir;
	pid_t			 shim;
	int			 pidfd;
	struct event		*exit_ev;
	struct lstream		*ls[2];
	LIST_ENTRY(proc)	 entry;
};

static LIST_HEAD(, proc) procs = LIST_HEAD_INITIALIZER(procs);
static size_t		 nprocs;
static char		*shim_path;

/* Replaced by tests: how processes start. */
int (*exec_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
    const posix_spawnattr_t *, char *const [], char *const []) = posix_spawn;

/* ------------------------------------------------------------ fetching */

/*
 * Open path beneath the directory dirfd, refusing to leave it by "..",
 * absolute symlinks or magic links. Returns an fd or -1 with errno.
 */
static int
open_beneath(int dirfd, const char *path)
{
	struct open_how	how;

	memset(&how, 0, sizeof how);
	how.flags = O_RDONLY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Copy everything from fd in to a new file path; 0 or -1 with errno. */
static int
copy_fd(int in, const char *path)
{
	char	buf[65536];
	ssize_t	n;
	int	out, saved;

	if ((out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	while ((n = read(in, buf, sizeof buf)) > 0) {
		if (write(out, buf, n) != n) {
			saved = errno == 0 ? EIO : errno;
			close(out);
			errno = saved;
			return -1;
		}
	}
	saved = errno;
	close(out);
	errno = saved;
	return n == 0 ? 0 : -1;
}

/*
 * Put the job's file into dir as *file (owned by the caller). WORKSPACE
 * files come from {workspace_root}/{ws}/{path}/{source_location}, resolved
 * beneath {workspace_root}/{ws}. Returns 0, or -1 with *cause.
 */
static int
fetch(const struct run *r, const char *dir, char **file, char **cause)
{
	const struct jobconfig	*c = &r->config;
	const char		*name;
	char			*root, *rel;
	int			 rootfd, fd;

	if (r->sql != NULL) {
		xasprintf(file, "%s/query.sql", dir);
		if ((fd = open(*file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) == -1 || write(fd, r->sql, strlen(r->sql)) !=
		    (ssize_t)strlen(r->sql)) {
			xasprintf(cause, "writing the query: %s",
			    strerror(errno));
			if (fd != -1)
				close(fd);
			return -1;
		}
		close(fd);
		return 0;
	}
	switch (c->source.type) {
	case SRC_WORKSPACE:
		break;
	case SRC_GIT:
	case SRC_S3:
		xasprintf(cause, "%s sources are not supported by this build",
		    c->source.type == SRC_GIT ? "GIT" : "S3");
		return -1;
	default:
		xasprintf(cause, "the run has no source");
		return -1;
	}
	xasprintf(&root, "%s/%s", cfg->workspace_root, r->ws);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd == -1) {
		xasprintf(cause, "workspace directory %s: %s", root,
		    strerror(errno));
		free(root);
		return -1;
	}
	xasprintf(&rel, "%s/%s", c->source.path, c->source_location);
	fd = open_beneath(rootfd, rel);
	close(rootfd);
	if (fd == -1) {
		xasprintf(cause, "%s in workspace '%s': %s", rel, r->ws,
		    errno == EXDEV ? "resolves outside the workspace" :
		    strerror(errno));
		free(root);
		free(rel);
		return -1;
	}
	name = strrchr(c->source_location, '/');
	name = name == NULL ? c->source_location : name + 1;
	xasprintf(file, "%s/%s", dir, name);
	if (copy_fd(fd, *file) == -1) {
		xasprintf(cause, "copying %s: %s", rel, strerror(errno));
		free(*file);
		*file = NULL;
		close(fd);
		free(root);
		free(rel);
		return -1;
	}
	close(fd);
	free(root);
	free(rel);
	return 0;
}

/* ------------------------------------------------------------ argv, env */

struct strv {
	char	**v;
	size_t	  n;
};

static void
strv_add(struct strv *s, char *str)
{
	s->v = xreallocarray(s->v, s->n + 2, sizeof *s->v);
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static void
strv_free(struct strv *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Is prog on PATH (or an executable path)? */
static int
on_path(const char *prog)
{
	const char	*path = getenv("PATH"), *p, *e;
	char		 full[PATH_MAX];

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0;
	for (p = path == NULL ? "/usr/bin:/bin" : path; *p != '\0'; p = e) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		snprintf(full, sizeof full, "%.*s/%s", (int)(e - p), p, prog);
		if (access(full, X_OK) == 0)
			return 1;
		if (*e == ':')
			e++;
	}
	return 0;
}

/* argv of the attempt; 0 or -1 with *cause. */
static int
build_argv(const struct run *r, const char *file, struct strv *argv,
    char **sqlfile, char **cause)
{
	char	**words = NULL;
	size_t	  n = 0, i;
	char	 *db;

	*sqlfile = NULL;
	if (r->config.type == JT_SQL) {
		xasprintf(&db, "%s/sql", cfg->data_dir);
		if (mkdir_p(db, 0700) == -1) {
			xasprintf(cause, "%s: %s", db, strerror(errno));
			free(db);
			return -1;
		}
		free(db);
		if (split_words(cfg->sql_engine, &words, &n, cause) == -1)
			return -1;
		for (i = 0; i < n; i++)
			strv_add(argv, words[i]);
		free(words);
		if (strcmp(cfg->sql_engine, "sqlite3") == 0) {
			strv_add(argv, xstrdup("-bail"));
			xasprintf(&db, "%s/sql/%s.db", cfg->data_dir, r->ws);
			strv_add(argv, db);
		}
		*sqlfile = xstrdup(file);
		return 0;
	}
	if (r->workers > 1 && on_path("mpiexec")) {
		strv_add(argv, xstrdup("mpiexec"));
		strv_add(argv, xstrdup("-n"));
		xasprintf(&db, "%u", r->workers);
		strv_add(argv, db);
	}
	strv_add(argv, xstrdup(cfg->python));
	strv_add(argv, xstrdup(file));
	if (r->config.args != NULL) {
		if (split_words(r->config.args, &words, &n, cause) == -1)
			return -1;
		for (i = 0; i < n; i++)
			strv_add(argv, words[i]);
		free(words);
	}
	return 0;
}

static void
build_env(const struct run *r, const char *dir, struct strv *env)
{
	char	*s;
	size_t	 i;

	strv_add(env, xstrdup("PATH=/usr/local/bin:/usr/bin:/bin"));
	xasprintf(&s, "HOME=%s", dir);
	strv_add(env, s);
	strv_add(env, xstrdup("LANG=C.UTF-8"));
	for (i = 0; i < r->config.env.n; i++) {
		xasprintf(&s, "%s=%s", r->config.env.v[i].key,
		    r->config.env.v[i].value);
		strv_add(env, s);
	}
	xasprintf(&s, "BATCHD_RUN_UUID=%s", r->uuid);
	strv_add(env, s);
	xasprintf(&s, "BATCHD_ATTEMPT=%u", r->attempt);
	strv_add(env, s);
	xasprintf(&s, "BATCHD_CLUSTER_UUID=%s", r->cluster_uuid);
	strv_add(env, s);
	xasprintf(&s, "BATCHD_WORKSPACE=%s", r->ws);
	strv_add(env, s);
}

/* ------------------------------------------------------------ shims */

static char *
attempt_dir(const char *uuid, uint32_t attempt)
{
	char	*dir;

	xasprintf(&dir, "%s/runs/%s/%u", cfg->data_dir, uuid, attempt);
	return dir;
}

/* Start time of pid in clock ticks since boot (field 22), or 0. */
static uint64_t
pid_start(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 v = 0;
	ssize_t			 n;
	int			 fd, i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

/*
 * Read DIR/exit into res; 0, or -1 if the shim left no result. The file is
 * "status=N timed_out=N cancelled=N utime_us=N stime_us=N maxrss_kb=N
 * wall_ms=N".
 */
static int
read_exit(const char *dir, struct result *res)
{
	long long	 st, to, ca, ut, stt, rss, wall;
	char		*path;
	FILE		*f;
	int		 n;

	xasprintf(&path, "%s/exit", dir);
	f = fopen(path, "re");
	free(path);
	if (f == NULL)
		return -1;
	n = fscanf(f, "status=%lld timed_out=%lld cancelled=%lld "
	    "utime_us=%lld stime_us=%lld maxrss_kb=%lld wall_ms=%lld",
	    &st, &to, &ca, &ut, &stt, &rss, &wall);
	fclose(f);
	if (n != 7)
		return -1;
	memset(res, 0, sizeof *res);
	res->waitstatus = (int)st;
	res->timed_out = to != 0;
	res->usage.user_us = ut;
	res->usage.sys_us = stt;
	res->usage.maxrss_kb = rss;
	res->usage.wall_ms = wall;
	return 0;
}

/* Fill res for a shim that is gone. */
static void
shim_result(const char *dir, struct result *res)
{
	if (read_exit(dir, res) == 0)
		return;
	memset(res, 0, sizeof *res);
	res->reason = R_SUPERVISOR_LOST;
	snprintf(res->text, sizeof res->text, "the attempt's supervisor "
	    "ended without a result");
}

static void
proc_free(struct proc *p)
{
	int	i;

	LIST_REMOVE(p, entry);
	nprocs--;
	for (i = 0; i < 2; i++)
		if (p->ls[i] != NULL)
			logs_finish(p->ls[i]);
	if (p->exit_ev != NULL)
		event_free(p->exit_ev);
	if (p->pidfd != -1)
		close(p->pidfd);
	free(p->dir);
	free(p);
}

/* The shim's pidfd is readable: it is gone. Finish the attempt. */
static void
on_shim_exit(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;
	struct result	 res;

	(void)fd;
	(void)what;
	waitpid(p->shim, NULL, WNOHANG);	/* ours, unless re-attached */
	shim_result(p->dir, &res);
	log_debug("run=%s attempt=%u shim=%d done status=0x%x%s%s", p->uuid,
	    p->attempt, (int)p->shim, res.waitstatus,
	    res.reason != R_NONE ? " " : "", res.text);
	run_attempt_ended(p->uuid, p->attempt, &res);
	proc_free(p);	/* reads the logs to their end first */
}

/* Track shim pid of attempt (uuid, attempt); logs followed from 0. */
static struct proc *
proc_watch(const char *ws, const char *uuid, uint32_t attempt, pid_t pid,
    int truncate, char **cause)
{
	struct proc	*p;
	int		 i;

	p = xcalloc(1, sizeof *p);
	snprintf(p->uuid, sizeof p->uuid, "%s", uuid);
	p->attempt = attempt;
	p->dir = attempt_dir(uuid, attempt);
	p->shim = pid;
	p->pidfd = -1;
	LIST_INSERT_HEAD(&procs, p, entry);
	nprocs++;
	for (i = 0; i < 2; i++) {
		p->ls[i] = logs_follow(ws, uuid, attempt,
		    i == 0 ? LS_STDOUT : LS_STDERR, truncate, cause);
		if (p->ls[i] == NULL) {
			proc_free(p);
			return NULL;
		}
	}
	return p;
}

/* Watch the shim's exit; -1 with *cause if it cannot be. */
static int
proc_arm(struct proc *p, char **cause)
{
	if ((p->pidfd = (int)syscall(SYS_pidfd_open, p->shim, 0)) == -1) {
		xasprintf(cause, "pidfd_open %d: %s", (int)p->shim,
		    strerror(errno));
		return -1;
	}
	p->exit_ev = event_new(base, p->pidfd, EV_READ, on_shim_exit, p);
	event_add(p->exit_ev, NULL);
	return 0;
}

static struct proc *
proc_find(const char *uuid, uint32_t attempt)
{
	struct proc	*p;

	LIST_FOREACH(p, &procs, entry)
		if (p->attempt == attempt && strcmp(p->uuid, uuid) == 0)
			return p;
	return NULL;
}

void
exec_init(void)
{
	char	self[PATH_MAX], *slash;
	ssize_t	n;

	if (cfg->shim != NULL) {
		shim_path = xstrdup(cfg->shim);
		return;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	xasprintf(&shim_path, "%s/batchd-shim", self);
	if (access(shim_path, X_OK) == -1)
		fatal_code(EXIT_CONFIG, "%s: not executable (set 'shim')",
		    shim_path);
}

/* Shutdown: stop watching; the shims and their jobs go on. */
void
exec_free(void)
{
	while (!LIST_EMPTY(&procs))
		proc_free(LIST_FIRST(&procs));
	free(shim_path);
	shim_path = NULL;
}

size_t
exec_count(void)
{
	return nprocs;
}

static void
fail_attempt(const struct run *r, enum reason why, char *cause)
{
	struct result	res;

	memset(&res, 0, sizeof res);
	res.reason = why;
	snprintf(res.text, sizeof res.text, "%s", cause);
	log_warnx("run=%s attempt=%u %s: %s", r->uuid, r->attempt,
	    reason_text(why), cause);
	free(cause);
	run_attempt_ended(r->uuid, r->attempt, &res);
}

/*
 * DIR/secrets for the shim to mask in the job's output: the values of
 * secret environment variables and the Git token, NUL-separated, 0600.
 */
static int
write_secrets(const struct run *r, const char *dir, char **cause)
{
	struct buf	 b = { 0 };
	char		*path;
	size_t		 i;
	int		 fd, rc = 0;

	for (i = 0; i < r->config.env.n; i++)
		if (config_env_secret(r->config.env.v[i].key) &&
		    *r->config.env.v[i].value != '\0')
			buf_add(&b, r->config.env.v[i].value,
			    strlen(r->config.env.v[i].value) + 1);
	if (r->config.source.token != NULL)
		buf_add(&b, r->config.source.token,
		    strlen(r->config.source.token) + 1);
	if (b.len == 0)
		return 0;
	xasprintf(&path, "%s/secrets", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || write(fd, b.p, b.len) != (ssize_t)b.len) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	if (fd != -1)
		close(fd);
	free(path);
	buf_free(&b);
	return rc;
}

/* The shim's options: credentials and limits from the configuration. */
static int
shim_options(struct strv *argv, const char *work, char **cause)
{
	struct passwd	*pw;
	char		*s;

	if (cfg->job_user != NULL && geteuid() == 0) {
		if ((pw = getpwnam(cfg->job_user)) == NULL) {
			xasprintf(cause, "job_user '%s' does not exist",
			    cfg->job_user);
			return -1;
		}
		if (chown(work, pw->pw_uid, pw->pw_gid) == -1) {
			xasprintf(cause, "chown %s: %s", work, strerror(errno));
			return -1;
		}
		strv_add(argv, xstrdup("-u"));
		xasprintf(&s, "%u:%u", (unsigned)pw->pw_uid,
		    (unsigned)pw->pw_gid);
		strv_add(argv, s);
	}
	if (cfg->job_limit_nofile != 0) {
		strv_add(argv, xstrdup("-n"));
		xasprintf(&s, "%u", cfg->job_limit_nofile);
		strv_add(argv, s);
	}
	if (cfg->job_limit_as != 0) {
		strv_add(argv, xstrdup("-a"));
		xasprintf(&s, "%zu", cfg->job_limit_as);
		strv_add(argv, s);
	}
	if (cfg->job_limit_cpu != 0) {
		strv_add(argv, xstrdup("-c"));
		xasprintf(&s, "%u", cfg->job_limit_cpu);
		strv_add(argv, s);
	}
	return 0;
}

/*
 * Start attempt r->attempt of r under a new shim. Failures to fetch or to
 * start end the attempt at once through run_attempt_ended().
 */
void
exec_start(const struct run *r)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, all;
	struct strv			 job = { 0 }, argv = { 0 }, env = { 0 };
	struct proc			*p;
	char				*dir, *work, *file = NULL, *sqlfile = NULL;
	char				*cause = NULL, *log;
	pid_t				 pid;
	size_t				 i;
	int				 rc;

	dir = attempt_dir(r->uuid, r->attempt);
	xasprintf(&work, "%s/work", dir);
	if (mkdir_p(work, 0700) == -1) {
		xasprintf(&cause, "%s: %s", work, strerror(errno));
		fail_attempt(r, R_SPAWN_FAILED, cause);
		goto out;
	}
	if (fetch(r, work, &file, &cause) == -1) {
		fail_attempt(r, R_FETCH_FAILED, cause);
		goto out;
	}
	if (build_argv(r, file, &job, &sqlfile, &cause) == -1) {
		fail_attempt(r, R_SPAWN_FAILED, cause);
		goto out;
	}
	build_env(r, work, &env);
	if (write_secrets(r, dir, &cause) == -1) {
		fail_attempt(r, R_SPAWN_FAILED, cause);
		goto out;
	}

	strv_add(&argv, xstrdup(shim_path != NULL ? shim_path : "batchd-shim"));
	if (shim_options(&argv, work, &cause) == -1) {
		fail_attempt(r, R_SPAWN_FAILED, cause);
		goto out;
	}
	strv_add(&argv, xstrdup(dir));
	strv_add(&argv, xstrdup(sqlfile != NULL ? sqlfile : "/dev/null"));
	strv_add(&argv, logs_path(r->uuid, r->attempt, LS_STDOUT));
	strv_add(&argv, logs_path(r->uuid, r->attempt, LS_STDERR));
	xasprintf(&log, "%u", r->config.timeout_s);
	strv_add(&argv, log);
	xasprintf(&log, "%u", cfg->kill_grace_s);
	strv_add(&argv, log);
	for (i = 0; i < job.n; i++)
		strv_add(&argv, xstrdup(job.v[i]));

	/* The log files exist (empty) before the shim appends to them. */
	if ((p = proc_watch(r->ws, r->uuid, r->attempt, 0, 1, &cause)) ==
	    NULL) {
		fail_attempt(r, R_SPAWN_FAILED, cause);
		goto out;
	}
	xasprintf(&log, "%s/shim.log", dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log,
	    O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	rc = exec_spawn(&pid, argv.v[0], &fa, &attr, argv.v, env.v);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(log);
	if (rc != 0) {
		proc_free(p);
		xasprintf(&cause, "%s: %s", argv.v[0], strerror(rc));
		fail_attempt(r, R_SPAWN_FAILED, cause);
		goto out;
	}
	p->shim = pid;
	if (proc_arm(p, &cause) == -1) {
		kill(pid, SIGTERM);
		proc_free(p);
		fail_attempt(r, R_SPAWN_FAILED, cause);
		goto out;
	}
	log_info("run=%s attempt=%u started shim=%d argv0=%s", r->uuid,
	    r->attempt, (int)pid, job.v[0]);
out:
	strv_free(&job);
	strv_free(&argv);
	strv_free(&env);
	free(sqlfile);
	free(file);
	free(work);
	free(dir);
}

/* Cancel: the shim stops the job's group (SIGTERM, then SIGKILL). */
void
exec_kill(const char *uuid, uint32_t attempt)
{
	struct proc	*p;

	if ((p = proc_find(uuid, attempt)) != NULL)
		kill(p->shim, SIGTERM);
}

/*
 * After a restart: is the shim of (uuid, attempt) alive? Then watch it
 * again (its logs are published again from their start) and return 1.
 * Else fill res from what it left and return 0.
 */
int
exec_reattach(const char *ws, const char *uuid, uint32_t attempt,
    struct result *res)
{
	unsigned long long	 start;
	struct proc		*p;
	char			*dir, *path, *cause = NULL;
	FILE			*f;
	int			 pid = 0, alive = 0;

	if (proc_find(uuid, attempt) != NULL)
		return 1;
	dir = attempt_dir(uuid, attempt);
	xasprintf(&path, "%s/shim.pid", dir);
	if ((f = fopen(path, "re")) != NULL) {
		alive = fscanf(f, "%d %llu", &pid, &start) == 2 && pid > 1 &&
		    start != 0 && pid_start(pid) == start;
		fclose(f);
	}
	free(path);
	if (alive && (p = proc_watch(ws, uuid, attempt, pid, 0,
	    &cause)) != NULL) {
		if (proc_arm(p, &cause) == 0) {
			log_info("run=%s attempt=%u re-attached to shim=%d",
			    uuid, attempt, pid);
			free(dir);
			return 1;
		}
		proc_free(p);
	}
	if (cause != NULL) {
		log_warnx("run=%s attempt=%u: %s", uuid, attempt, cause);
		free(cause);
	}
	shim_result(dir, res);
	free(dir);
	return 0;
}

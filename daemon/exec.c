/*
 * exec.c: the processes of attempts.
 *
 * exec_start() runs after the commit that made an attempt RUNNING: it makes
 * the attempt's directory, fetches the job's file into it, and starts the
 * process with posix_spawn() in a process group of its own, with stdin from
 * /dev/null (or the SQL), stdout and stderr on pipes, every other descriptor
 * closed (LMDB's and the NATS socket are not close-on-exec), signals reset
 * and an environment built from nothing but the run's configuration.
 *
 * The pipes are read on the loop as data comes; each read is appended to the
 * attempt's log file and published as a LogChunk. The attempt is over when
 * the process has been reaped (SIGCHLD, wait4 for its resource use) and both
 * pipes are at end of file; then the state machine is told (run.c). The
 * rest of the process group is killed when its leader exits, so a stray
 * background child cannot hold the pipes open.
 *
 * Timeout and cancel: SIGTERM to the group, SIGKILL after kill_grace_s.
 *
 * A pidfile "{pid} {starttime}" in the attempt directory lets the next life
 * of batchd kill an attempt it did not see end (exec_kill_stale()).
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"

extern char **environ;

struct stream {
	struct proc	*p;
	enum logstream	 which;
	int		 fd;		/* read end, -1 at EOF */
	struct lstream	*ls;		/* its log (logs.c) */
	struct event	*ev;
};

struct proc {
	char		 uuid[UUID_LEN + 1];
	uint32_t	 attempt;
	char		*ws;
	pid_t		 pid;
	int		 exited;
	int		 waitstatus;
	struct rusage	 ru;
	int64_t		 t0;
	int		 timed_out;
	struct stream	 out[2];
	struct event	*timeout_ev;
	struct event	*kill_ev;
	LIST_ENTRY(proc) entry;
};

static LIST_HEAD(, proc) procs = LIST_HEAD_INITIALIZER(procs);
static struct event	*sigchld_ev;
static size_t		 nprocs;

static void	proc_check(struct proc *);

/* Replaced by tests: how processes start. */
int (*exec_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
    const posix_spawnattr_t *, char *const [], char *const []) = posix_spawnp;

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

/* ------------------------------------------------------------ processes */

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

static struct proc *
proc_find(const char *uuid, uint32_t attempt)
{
	struct proc	*p;

	LIST_FOREACH(p, &procs, entry)
		if (p->attempt == attempt && strcmp(p->uuid, uuid) == 0)
			return p;
	return NULL;
}

static void
proc_free(struct proc *p)
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (p->out[i].ev != NULL)
			event_free(p->out[i].ev);
		if (p->out[i].fd != -1)
			close(p->out[i].fd);
		if (p->out[i].ls != NULL)
			logs_finish(p->out[i].ls);
	}
	if (p->timeout_ev != NULL)
		event_free(p->timeout_ev);
	if (p->kill_ev != NULL)
		event_free(p->kill_ev);
	free(p->ws);
	free(p);
}

static void
on_kill(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;

	(void)fd;
	(void)what;
	if (!p->exited) {
		log_info("run=%s attempt=%u did not stop: SIGKILL", p->uuid,
		    p->attempt);
		kill(-p->pid, SIGKILL);
	}
}

/* SIGTERM the group now, SIGKILL after the grace period. */
static void
proc_stop(struct proc *p)
{
	struct timeval	tv = { cfg->kill_grace_s, 0 };

	if (p->exited || evtimer_pending(p->kill_ev, NULL))
		return;
	kill(-p->pid, SIGTERM);
	evtimer_add(p->kill_ev, &tv);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;

	(void)fd;
	(void)what;
	log_info("run=%s attempt=%u timed out", p->uuid, p->attempt);
	p->timed_out = 1;
	proc_stop(p);
}

static void
on_output(evutil_socket_t fd, short what, void *arg)
{
	struct stream	*s = arg;
	static char	*buf;
	static size_t	 cap;
	ssize_t		 n;

	(void)what;
	if (cap < cfg->log_chunk_bytes) {
		free(buf);
		cap = cfg->log_chunk_bytes;
		buf = xmalloc(cap);
	}
	n = read(fd, buf, cap);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		logs_append(s->ls, buf, (size_t)n);
		return;
	}
	if (n == -1)
		log_warn("run=%s attempt=%u read", s->p->uuid, s->p->attempt);
	logs_finish(s->ls);
	s->ls = NULL;
	event_del(s->ev);
	close(s->fd);
	s->fd = -1;
	proc_check(s->p);
}

/* The attempt is over once reaped and both streams are at EOF. */
static void
proc_check(struct proc *p)
{
	struct result	res;
	int64_t		us;

	if (!p->exited || p->out[0].fd != -1 || p->out[1].fd != -1)
		return;
	memset(&res, 0, sizeof res);
	res.waitstatus = p->waitstatus;
	res.timed_out = p->timed_out;
	us = (int64_t)p->ru.ru_utime.tv_sec * 1000000 + p->ru.ru_utime.tv_usec;
	res.usage.user_us = us;
	us = (int64_t)p->ru.ru_stime.tv_sec * 1000000 + p->ru.ru_stime.tv_usec;
	res.usage.sys_us = us;
	res.usage.maxrss_kb = p->ru.ru_maxrss;
	res.usage.wall_ms = mono_ms() - p->t0;
	log_debug("run=%s attempt=%u done status=0x%x", p->uuid, p->attempt,
	    p->waitstatus);
	run_attempt_ended(p->uuid, p->attempt, &res);
	LIST_REMOVE(p, entry);
	nprocs--;
	proc_free(p);
}

static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p;
	struct rusage	 ru;
	pid_t		 pid;
	int		 st;

	(void)fd;
	(void)what;
	(void)arg;
	while ((pid = wait4(-1, &st, WNOHANG, &ru)) > 0) {
		LIST_FOREACH(p, &procs, entry)
			if (p->pid == pid)
				break;
		if (p == NULL)
			continue;
		p->exited = 1;
		p->waitstatus = st;
		p->ru = ru;
		/* Anything the job left behind goes with it. */
		kill(-pid, SIGKILL);
		evtimer_del(p->timeout_ev);
		evtimer_del(p->kill_ev);
		proc_check(p);
	}
}

void
exec_init(void)
{
	sigchld_ev = evsignal_new(base, SIGCHLD, on_sigchld, NULL);
	event_priority_set(sigchld_ev, 0);
	event_add(sigchld_ev, NULL);
}

/* Shutdown: kill every attempt's group; they end with this life. */
void
exec_free(void)
{
	struct proc	*p;

	while ((p = LIST_FIRST(&procs)) != NULL) {
		LIST_REMOVE(p, entry);
		kill(-p->pid, SIGKILL);
		if (!p->exited)
			waitpid(p->pid, NULL, 0);
		proc_free(p);
	}
	nprocs = 0;
	if (sigchld_ev != NULL)
		event_free(sigchld_ev);
	sigchld_ev = NULL;
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
 * Start attempt r->attempt of r. Failures to fetch or spawn end the
 * attempt at once through run_attempt_ended().
 */
void
exec_start(const struct run *r)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, all;
	struct strv			 argv = { 0 }, env = { 0 };
	struct proc			*p;
	char				*dir, *work, *file = NULL, *sqlfile;
	char				*cause = NULL, *path;
	int				 pout[2] = { -1, -1 };
	int				 perr[2] = { -1, -1 }, i, rc, fd;
	FILE				*f;

	xasprintf(&dir, "%s/runs/%s/%u", cfg->data_dir, r->uuid, r->attempt);
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
	if (build_argv(r, file, &argv, &sqlfile, &cause) == -1) {
		fail_attempt(r, R_SPAWN_FAILED, cause);
		goto out;
	}
	build_env(r, work, &env);

	p = xcalloc(1, sizeof *p);
	snprintf(p->uuid, sizeof p->uuid, "%s", r->uuid);
	p->attempt = r->attempt;
	p->ws = xstrdup(r->ws);
	for (i = 0; i < 2; i++) {
		p->out[i].p = p;
		p->out[i].which = i == 0 ? LS_STDOUT : LS_STDERR;
		p->out[i].fd = -1;
		p->out[i].ls = logs_open(r->ws, r->uuid, r->attempt,
		    p->out[i].which, &cause);
		if (p->out[i].ls == NULL)
			break;
	}
	if (cause == NULL && (pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1))
		xasprintf(&cause, "pipe: %s", strerror(errno));
	if (cause != NULL) {
		proc_free(p);
		goto spawn_failed;
	}

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0,
	    sqlfile != NULL ? sqlfile : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	posix_spawn_file_actions_addchdir_np(&fa, work);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	rc = exec_spawn(&p->pid, argv.v[0], &fa, &attr, argv.v, env.v);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(sqlfile);
	close(pout[1]);
	close(perr[1]);
	if (rc != 0) {
		xasprintf(&cause, "%s: %s", argv.v[0], strerror(rc));
		close(pout[0]);
		close(perr[0]);
		proc_free(p);
		goto spawn_failed;
	}
	p->t0 = mono_ms();
	p->out[0].fd = pout[0];
	p->out[1].fd = perr[0];
	for (i = 0; i < 2; i++) {
		fcntl(p->out[i].fd, F_SETFL, O_NONBLOCK);
		p->out[i].ev = event_new(base, p->out[i].fd,
		    EV_READ | EV_PERSIST, on_output, &p->out[i]);
		event_add(p->out[i].ev, NULL);
	}
	p->timeout_ev = evtimer_new(base, on_timeout, p);
	p->kill_ev = evtimer_new(base, on_kill, p);
	{
		struct timeval	tv = { r->config.timeout_s, 0 };

		evtimer_add(p->timeout_ev, &tv);
	}
	LIST_INSERT_HEAD(&procs, p, entry);
	nprocs++;
	xasprintf(&path, "%s/pid", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) != -1 && (f = fdopen(fd, "w")) != NULL) {
		fprintf(f, "%d %llu\n", (int)p->pid,
		    (unsigned long long)pid_start(p->pid));
		fclose(f);
	}
	free(path);
	log_info("run=%s attempt=%u started pid=%d argv0=%s", r->uuid,
	    r->attempt, (int)p->pid, argv.v[0]);
	goto out;

spawn_failed:
	fail_attempt(r, R_SPAWN_FAILED, cause);
out:
	strv_free(&argv);
	strv_free(&env);
	free(file);
	free(work);
	free(dir);
}

/* Cancel: stop the attempt's process group, if it still runs. */
void
exec_kill(const char *uuid, uint32_t attempt)
{
	struct proc	*p;

	if ((p = proc_find(uuid, attempt)) != NULL)
		proc_stop(p);
}

/* Kill an attempt started by an earlier life of batchd, if still there. */
void
exec_kill_stale(const char *uuid, uint32_t attempt)
{
	unsigned long long	 start;
	char			*path;
	FILE			*f;
	int			 pid;

	xasprintf(&path, "%s/runs/%s/%u/pid", cfg->data_dir, uuid, attempt);
	f = fopen(path, "re");
	free(path);
	if (f == NULL)
		return;
	if (fscanf(f, "%d %llu", &pid, &start) == 2 && pid > 1 &&
	    pid_start(pid) == start && start != 0) {
		log_info("run=%s attempt=%u killing stale process group %d",
		    uuid, attempt, pid);
		kill(-pid, SIGKILL);
	}
	fclose(f);
}

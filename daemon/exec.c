/*
 * exec.c: the processes of attempts, each owned by a batchd-shim (shim.c).
 *
 * exec_start() runs after the commit that made an attempt RUNNING: it makes
 * the attempt's directory {runs_dir}/{run}/{attempt}/, describes the
 * attempt in a memfd that becomes the shim's standard input (jobdesc.c:
 * plugins, settings, secrets to mask, credentials: never on disk), builds a clean
 * environment, and starts the shim with posix_spawn() in a
 * session of its own, every descriptor above 2 closed (LMDB's and the NATS
 * socket are not close-on-exec). The shim fetches the source, runs the job
 * through its backend, writes its output to the log files, enforces the
 * timeout and records the result in DIR/exit, so the attempt goes on while
 * batchd restarts.
 *
 * batchd watches each shim through a pidfd and follows the log files
 * (logs.c). When the shim is gone, its DIR/exit says how the attempt ended;
 * without one the shim was lost and the attempt fails (SUPERVISOR_LOST).
 * exec.c tells the state machine through the callbacks exec_start() and
 * exec_reattach() were given (ended, note), kept with the attempt's proc,
 * as tmux's job.c does: it calls nothing above it by name.
 * After a restart, exec_reattach() finds live shims by DIR/lock: batchd
 * locks it (flock) before the spawn and the shim inherits the lock as fd
 * 3, so while the lock is held a shim lives; the shim writes its pid and
 * start time into it first thing (so a reused pid is not mistaken for it).
 * A held lock whose pid is no process here is a shim on another machine
 * (HA: the node that led before, over a shared runs_dir): it is watched by
 * looking at its lock, and its logs by reading them, every REMOTE_POLL_MS.
 *
 * Adoption: a shim lost with its job still alive outside it (a Slurm job
 * goes on under slurmd when batchd's machine is lost or the shim is
 * killed) would fail the attempt, and its retry would run the job twice.
 * A backend that can take such a job over has the shim write DIR/started
 * before its start(); after a restart, an attempt with neither a shim nor
 * a result but DIR/started gets a new shim (exec_adopt()) that adopts the
 * job, copies its output on from where the logs stop and reports its end.
 *
 * Cancel: SIGTERM to the shim, which passes it to the job's process group
 * and sends SIGKILL kill_grace_s later.
 *
 * Identity (identity.c): the attempt's directories are made for the job's
 * uid before the shim starts.
 */
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "batchd.h"
#include "cgroup.h"
#include "procstat.h"
#include "shimproto.h"

struct proc {
	char			 uuid[UUID_LEN + 1];
	uint32_t		 attempt;
	char			*dir;
	pid_t			 shim;		/* 0: on another machine */
	int			 pidfd;
	struct event		*exit_ev;	/* or the poll of its lock */
	int			 nwd;		/* inotify watch of dir */
	struct lstream		*ls[2];
	exec_ended_cb		 ended;		/* the starter's callbacks */
	exec_note_cb		 note;
	LIST_ENTRY(proc)	 entry;
};

static LIST_HEAD(, proc) procs = LIST_HEAD_INITIALIZER(procs);
static size_t		 nprocs;
static char		*shim_path;
static char		 cgroup_parent[8192];	/* "": attempts in none */
static void		 on_note(int, const char *);
static int		 shim_lock(const char *, pid_t *, int *);
static struct inwatch	 notes = INWATCH_INITIALIZER(on_note);	/* DIR/note */

/* Replaced by tests: how processes start. */
int (*exec_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
    const posix_spawnattr_t *, char *const [], char *const []) = posix_spawn;

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

static void
build_env(const struct run *r, const char *dir, struct strv *env)
{
	struct kvlist	 l = { NULL, 0 };
	char		*s, n[16];
	size_t		 i;

	/* Each name once: defaults, then the job's, then batchd's own. */
	kvlist_set(&l, "PATH", "/usr/local/bin:/usr/bin:/bin");
	kvlist_set(&l, "HOME", dir);
	kvlist_set(&l, "LANG", "C.UTF-8");
	for (i = 0; i < r->config.env.n; i++)
		kvlist_set(&l, r->config.env.v[i].key, r->config.env.v[i].value);
	kvlist_set(&l, "BATCHD_RUN_UUID", r->uuid);
	snprintf(n, sizeof n, "%u", r->attempt);
	kvlist_set(&l, "BATCHD_ATTEMPT", n);
	kvlist_set(&l, "BATCHD_CLUSTER_UUID", r->cluster_uuid);
	kvlist_set(&l, "BATCHD_WORKSPACE", r->ws);
	for (i = 0; i < l.n; i++) {
		xasprintf(&s, "%s=%s", l.v[i].key, l.v[i].value);
		strv_add(env, s);
	}
	kvlist_free(&l);
}

/* ------------------------------------------------------------ shims */

static char *
attempt_dir(const char *uuid, uint32_t attempt)
{
	char	*dir;

	xasprintf(&dir, "%s/%s/%u", cfg->runs_dir, uuid, attempt);
	return dir;
}

/*
 * Read DIR/exit into res; 0, or -1 if the shim left no result. The file is
 * "status=N timed_out=N cancelled=N utime_us=N stime_us=N maxrss_kb=N
 * wall_ms=N reason=N text=..." (shim.c).
 */
static int
read_exit(const char *dir, struct result *res)
{
	long long	 st, to, ca, ut, stt, rss, wall, why = 0;
	char		*path, line[1024], *text;
	FILE		*f;
	int		 n;

	xasprintf(&path, "%s/exit", dir);
	f = fopen(path, "re");
	free(path);
	if (f == NULL)
		return -1;
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = sscanf(line, "status=%lld timed_out=%lld cancelled=%lld "
	    "utime_us=%lld stime_us=%lld maxrss_kb=%lld wall_ms=%lld "
	    "reason=%lld", &st, &to, &ca, &ut, &stt, &rss, &wall, &why);
	if (n < 7)
		return -1;
	memset(res, 0, sizeof *res);
	res->waitstatus = (int)st;
	res->timed_out = to != 0;
	res->usage.user_us = ut;
	res->usage.sys_us = stt;
	res->usage.maxrss_kb = rss;
	res->usage.wall_ms = wall;
	if (why == R_FETCH_FAILED || why == R_SPAWN_FAILED ||
	    why == R_SUPERVISOR_LOST) {	/* the last: a job not adopted */
		res->reason = (enum reason)why;
		if ((text = strstr(line, " text=")) != NULL) {
			text[strcspn(text, "\n")] = '\0';
			snprintf(res->text, sizeof res->text, "%s", text + 6);
		}
	}
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

/*
 * Forget p. finished: its shim is gone, so its logs are complete (read
 * them to the end, then eof); else (shutdown) the next batchd follows them.
 */
static void
proc_free(struct proc *p, int finished)
{
	int	i;

	LIST_REMOVE(p, entry);
	nprocs--;
	for (i = 0; i < 2; i++)
		if (p->ls[i] != NULL) {
			if (finished)
				logs_finish(p->ls[i]);
			else
				logs_abandon(p->ls[i]);
		}
	if (p->exit_ev != NULL)
		event_free(p->exit_ev);
	if (p->pidfd != -1)
		close(p->pidfd);
	inwatch_rm(&notes, p->nwd);
	free(p->dir);
	free(p);
}

/*
 * DIR/note, written by the backend through the shim (job->note: what the
 * job waits for, e.g. Slurm's pending reason): the run's reason_text.
 */
static void
read_note(struct proc *p)
{
	char	*path, text[256];
	ssize_t	 n;
	int	 fd;

	xasprintf(&path, "%s/note", p->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return;
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n < 0)
		return;
	text[n] = '\0';
	text[strcspn(text, "\n")] = '\0';
	if (!utf8_valid(text, strlen(text)))
		return;		/* it goes into a protobuf string */
	p->note(p->uuid, p->attempt, text);
}

static void
on_note(int wd, const char *name)
{
	struct proc	*p;

	if (strcmp(name, "note") != 0)
		return;
	LIST_FOREACH(p, &procs, entry)
		if (p->nwd == wd) {
			read_note(p);
			break;
		}
}

/* Follow DIR/note of p (and read what is there: after a restart). */
static void
note_watch(struct proc *p)
{
	if ((p->nwd = inwatch_add(&notes, p->dir, IN_MOVED_TO)) == -1)
		log_warn("inotify %s", p->dir);
	read_note(p);
}

/*
 * A shim died without a result: its job may live on. Kill the job's
 * process group, named by DIR/job.pid (pid and start time) of the local
 * backend (its init: that ends the job's PID namespace), then kill what
 * is in the attempt's cgroup ("{uuid}.{attempt}" under the parent of
 * this batchd) and remove it: a shim killed between the backend's
 * prepare() and the job's end leaves it behind. cg_destroy waits for the
 * cgroup to empty, at most ~2 s (killed processes are gone in
 * microseconds).
 */
static void
kill_job(const char *dir, const char *uuid, uint32_t attempt)
{
	unsigned long long	 start;
	struct cg		*cg;
	char			*path, name[UUID_LEN + 16];
	FILE			*f;
	int			 pid;

	xasprintf(&path, "%s/job.pid", dir);
	f = fopen(path, "re");
	free(path);
	if (f != NULL) {
		if (fscanf(f, "%d %llu", &pid, &start) == 2 && pid > 1 &&
		    start != 0 && proc_start_time(pid) == start) {
			log_info("killing process group %d of a lost "
			    "supervisor", pid);
			kill(-pid, SIGKILL);
		}
		fclose(f);
	}
	snprintf(name, sizeof name, "%s.%u", uuid, attempt);
	if ((cg = cg_find(cgroup_parent, name)) != NULL) {
		log_info("run=%s attempt=%u removing the cgroup of a lost "
		    "supervisor", uuid, attempt);
		cg_destroy(cg);
	}
}

/* The shim's pidfd is readable: it is gone. Finish the attempt. */
static void
on_shim_exit(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;
	struct result	 res;

	(void)fd;
	(void)what;
	if (p->shim > 0)
		waitpid(p->shim, NULL, WNOHANG); /* ours, unless re-attached */
	shim_result(p->dir, &res);
	log_debug("run=%s attempt=%u shim=%d done status=0x%x%s%s", p->uuid,
	    p->attempt, (int)p->shim, res.waitstatus,
	    res.reason != R_NONE ? " " : "", res.text);
	if (res.reason == R_SUPERVISOR_LOST && p->shim > 0)
		kill_job(p->dir, p->uuid, p->attempt);
	p->ended(p->uuid, p->attempt, &res);
	proc_free(p, 1);	/* reads the logs to their end first */
}

/*
 * Track shim pid of attempt (uuid, attempt); its logs followed from 0, or
 * with t (after a restart) from what was confirmed before.
 */
static struct proc *
proc_watch(struct txn *t, const char *ws, const char *uuid, uint32_t attempt,
    pid_t pid, int truncate, char **cause)
{
	struct proc	*p;
	enum logstream	 which;
	int		 i;

	p = xcalloc(1, sizeof *p);
	snprintf(p->uuid, sizeof p->uuid, "%s", uuid);
	p->attempt = attempt;
	p->dir = attempt_dir(uuid, attempt);
	p->shim = pid;
	p->pidfd = -1;
	p->nwd = -1;
	LIST_INSERT_HEAD(&procs, p, entry);
	nprocs++;
	for (i = 0; i < 2; i++) {
		which = i == 0 ? LS_STDOUT : LS_STDERR;
		p->ls[i] = logs_follow(ws, uuid, attempt, which, truncate,
		    t != NULL ? logs_acked(t, uuid, attempt, which) : 0,
		    cause);
		if (p->ls[i] == NULL) {
			proc_free(p, 1);
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
	note_watch(p);
	return 0;
}

#define REMOTE_POLL_MS	1000

static const struct timeval	remote_tv = { REMOTE_POLL_MS / 1000,
    (REMOTE_POLL_MS % 1000) * 1000 };

/*
 * A shim on another machine: while its lock is held it lives; read what its
 * logs gained (inotify sees no other machine's writes) and look again.
 */
static void
on_remote_poll(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;
	pid_t		 pid;
	int		 i, written;

	if (!shim_lock(p->dir, &pid, &written)) {
		on_shim_exit(fd, what, p);
		return;
	}
	for (i = 0; i < 2; i++)
		logs_poll(p->ls[i]);
	evtimer_add(p->exit_ev, &remote_tv);
}

/* Watch p, a shim on another machine, by its lock. */
static void
remote_arm(struct proc *p)
{
	p->exit_ev = evtimer_new(base, on_remote_poll, p);
	evtimer_add(p->exit_ev, &remote_tv);
	note_watch(p);
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

/*
 * Each attempt's init moves into its cgroup: make that move cost no RCU
 * grace period (cgroup-parent.c), or say what each start pays.
 */
static void
favor_dynmods(void)
{
	char	err[512];

	switch (cg_favor_dynmods(err, sizeof err)) {
	case 0:
		log_info("cgroup: favordynmods turned on (job_cgroup_"
		    "favordynmods): a job's init enters its cgroup at once");
		break;
	case -1:
		log_warnx("cgroup: favordynmods is off and cannot be turned on "
		    "(%s): each job's start waits ~10 ms for its cgroup", err);
		break;
	}
}

void
exec_init(void)
{
	char	self[PATH_MAX], *slash, err[512];
	ssize_t	n;

	if (cg_parent(cfg->job_cgroup, cgroup_parent, sizeof cgroup_parent,
	    err, sizeof err) == -1)
		fatal_code(EXIT_CONFIG, "%s", err);
	if (cgroup_parent[0] != '\0')
		log_info("job cgroups under %s", cgroup_parent);
	else if (cfg->job_limit_memory != 0 ||
	    cfg->job_limit_cpu_millicores != 0)
		fatal_code(EXIT_CONFIG, "job_limit_memory and "
		    "job_limit_cpu_millicores need a cgroup: %s",
		    err[0] != '\0' ? err : "job_cgroup is off");
	else if (err[0] != '\0')
		log_warnx("jobs run without cgroups (job_limit_pids does not "
		    "hold): %s", err);
	if (cgroup_parent[0] != '\0' && cfg->job_cgroup_favordynmods)
		favor_dynmods();
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
		proc_free(LIST_FIRST(&procs), 0);
	inwatch_close(&notes);
	free(shim_path);
	shim_path = NULL;
}

size_t
exec_count(void)
{
	return nprocs;
}

/* Attempt r could not start: end it with why and cause (freed). */
static void
fail_attempt(const struct run *r, exec_ended_cb ended, enum reason why,
    char *cause)
{
	struct result	res;

	memset(&res, 0, sizeof res);
	res.reason = why;
	snprintf(res.text, sizeof res.text, "%s", cause);
	log_warnx("run=%s attempt=%u %s: %s", r->uuid, r->attempt,
	    reason_text(why), cause);
	free(cause);
	ended(r->uuid, r->attempt, &res);
}


/* Open and lock DIR/lock, the sign that a shim runs the attempt; its fd. */
static int
lock_attempt(const char *dir, char **cause)
{
	char	*path;
	int	 lock;

	xasprintf(&path, "%s/lock", dir);
	if ((lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(lock, LOCK_EX | LOCK_NB) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		if (lock != -1)
			close(lock);
		lock = -1;
	}
	free(path);
	return lock;
}

/*
 * Spawn the shim, argv with env, in a session of its own: stdin the job
 * description, stdout and stderr DIR/shim.log, fd 3 the lock; 0 or an
 * errno.
 */
static int
spawn_shim(const char *dir, int job, int lock, int other_uid,
    const struct strv *argv, const struct strv *env, pid_t *pid)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, all;
	char				*log;
	mode_t				 mask;
	int				 rc;

	xasprintf(&log, "%s/shim.log", dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, job, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log,
	    O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_adddup2(&fa, lock, 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	posix_spawnattr_init(&attr);
	/* The shim reads these from a signalfd: a cancel sent as it starts
	 * (exec_adopt() for a cancelled run) waits for it, not kills it. */
	sigemptyset(&none);
	sigaddset(&none, SIGCHLD);
	sigaddset(&none, SIGTERM);
	sigaddset(&none, SIGINT);
	sigaddset(&none, SIGHUP);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	/*
	 * The shim fetches the job's files as root: with batchd's umask
	 * (077) a job of another uid could not read them. DIR/work, the
	 * job's own and 0700, keeps them from others.
	 */
	mask = umask(other_uid ? 022 : 077);
	rc = exec_spawn(pid, argv->v[0], &fa, &attr, argv->v, env->v);
	umask(mask);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(log);
	return rc;
}

/*
 * Describe attempt r (adopt_ms: see jobdesc_write()) and start its shim,
 * watched with ended and note; its logs followed from 0 (t NULL: a new
 * attempt, whose log files are made empty) or from what a barrier
 * confirmed, as op t has it. 0, or -1 with *cause (the logs published to
 * their end for a new attempt only).
 */
static int
launch(struct txn *t, const struct run *r, const struct jobident *id,
    int64_t adopt_ms, exec_ended_cb ended, exec_note_cb note, char **cause)
{
	struct strv	 argv = { 0 }, env = { 0 };
	struct proc	*p = NULL;
	char		*dir, *work;
	pid_t		 pid;
	int		 rc = -1, err, lock, job = -1;

	dir = attempt_dir(r->uuid, r->attempt);
	xasprintf(&work, "%s/work", dir);
	if (jobdesc_write(r, id, work, cgroup_parent, adopt_ms, &job,
	    cause) == -1)
		goto out;
	build_env(r, work, &env);
	strv_add(&argv, xstrdup(shim_path != NULL ? shim_path :
	    "batchd-shim"));
	strv_add(&argv, xstrdup(dir));

	/* The log files exist before the shim appends to them. */
	if ((p = proc_watch(t, r->ws, r->uuid, r->attempt, 0, t == NULL,
	    cause)) == NULL)
		goto out;
	p->ended = ended;
	p->note = note;
	if ((lock = lock_attempt(dir, cause)) == -1)
		goto out;
	err = spawn_shim(dir, job, lock, id->set, &argv, &env, &pid);
	/* The pid in DIR/lock is the shim's to write; until it has, the lock
	 * says a shim is starting (exec_reattach()). */
	close(lock);	/* the shim's copy holds the lock */
	if (err != 0) {
		xasprintf(cause, "%s: %s", argv.v[0], strerror(err));
		goto out;
	}
	p->shim = pid;
	if (proc_arm(p, cause) == -1) {
		kill(pid, SIGTERM);
		goto out;
	}
	log_info("run=%s attempt=%u %s shim=%d", r->uuid, r->attempt,
	    adopt_ms >= 0 ? "adopted its job with" : "started", (int)pid);
	rc = 0;
out:
	if (rc == -1 && p != NULL)
		proc_free(p, t == NULL);
	if (job != -1)
		close(job);	/* the shim has its copy as stdin */
	strv_free(&argv);
	strv_free(&env);
	free(work);
	free(dir);
	return rc;
}

/*
 * Start attempt r->attempt of r under a new shim, its job as id; ended is
 * called once the shim is gone, note when its backend writes a note. A
 * failure to start ends the attempt at once through ended; a failure to
 * fetch is the shim's to report.
 */
void
exec_start(const struct run *r, const struct jobident *id,
    exec_ended_cb ended, exec_note_cb note)
{
	char	*dir, *work, *cause = NULL;

	if (id->error != NULL) {
		fail_attempt(r, ended, R_SPAWN_FAILED, xstrdup(id->error));
		return;
	}
	dir = attempt_dir(r->uuid, r->attempt);
	xasprintf(&work, "%s/work", dir);
	if (identity_dirs(dir, work, id, &cause) == -1 ||
	    (id->set && identity_home(r->ws, id, &cause) == -1) ||
	    launch(NULL, r, id, -1, ended, note, &cause) == -1)
		fail_attempt(r, ended, R_SPAWN_FAILED, cause);
	free(work);
	free(dir);
}

/* Cancel: the shim stops the job's group (SIGTERM, then SIGKILL). */
void
exec_kill(const char *uuid, uint32_t attempt)
{
	struct proc	*p;

	if ((p = proc_find(uuid, attempt)) != NULL && p->shim > 0)
		kill(p->shim, SIGTERM);
}

/*
 * DIR/lock of a shim: is it held (a shim lives), and the shim's pid if it
 * wrote it there and that process is still the shim (its start time)?
 * *written: the shim wrote its pid (so it is past starting). No lock file:
 * a shim that never started.
 */
static int
shim_lock(const char *dir, pid_t *pid, int *written)
{
	unsigned long long	 start;
	char			*path, line[64];
	ssize_t			 n;
	int			 fd, p, held = 0;

	*pid = 0;
	*written = 0;
	xasprintf(&path, "%s/lock", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		held = flock(fd, LOCK_SH | LOCK_NB) == -1 &&
		    errno == EWOULDBLOCK;
		if ((n = pread(fd, line, sizeof line - 1, 0)) > 0) {
			line[n] = '\0';
			if (sscanf(line, "%d %llu", &p, &start) == 2 &&
			    p > 1 && start != 0) {
				*written = 1;
				if (proc_start_time(p) == start)
					*pid = p;
			}
		}
		close(fd);
	}
	free(path);
	return held;
}

/*
 * A shim gone while batchd was away, in op t: publish its output to the
 * end (and the eofs), fill res from what it left, and if it left nothing,
 * kill what may remain of its job.
 */
static void
shim_gone(struct txn *t, const char *ws, const char *uuid, uint32_t attempt,
    const char *dir, struct result *res)
{
	struct proc	*p;
	char		*cause = NULL;

	if ((p = proc_watch(t, ws, uuid, attempt, 0, 0, &cause)) != NULL)
		proc_free(p, 1);
	else {
		log_warnx("run=%s attempt=%u: %s", uuid, attempt, cause);
		free(cause);
	}
	shim_result(dir, res);
	if (res->reason == R_SUPERVISOR_LOST)
		kill_job(dir, uuid, attempt);
}

/* Did the attempt's backend start a job it can adopt (DIR/started)? */
static int
adoptable(const char *dir)
{
	char	*path;
	int	 yes;

	xasprintf(&path, "%s/started", dir);
	yes = access(path, F_OK) == 0;
	free(path);
	return yes;
}

/*
 * After a restart, in op t: is the shim of (uuid, attempt) alive? Then
 * watch it again (its logs are published on from what a barrier confirmed
 * before), with ended and note as exec_start() has them, and return 1.
 * A shim whose DIR/lock holds its pid but that is no process here is on
 * another machine (HA: the node that led before): watch its lock and logs
 * (remote_arm()), and return 1. A shim that holds DIR/lock without its pid
 * yet (batchd died between the spawn and the shim's first write): return
 * 2, ask again later.
 * No shim and no result, but a job its backend can adopt: fill res as
 * lost, leave the logs as they are and return 3 (exec_adopt() is next).
 * Else fill res from what it left and return 0.
 */
int
exec_reattach(struct txn *t, const char *ws, const char *uuid,
    uint32_t attempt, struct result *res, exec_ended_cb ended,
    exec_note_cb note)
{
	struct proc		*p;
	char			*dir, *cause = NULL;
	pid_t			 pid;
	int			 held, alive, written;

	if (proc_find(uuid, attempt) != NULL)
		return 1;
	dir = attempt_dir(uuid, attempt);
	held = shim_lock(dir, &pid, &written);
	alive = pid != 0 && held;	/* a zombie (not reaped yet) holds none */
	if (!alive && held && written && (p = proc_watch(t, ws, uuid, attempt,
	    0, 0, &cause)) != NULL) {
		p->ended = ended;
		p->note = note;
		log_info("run=%s attempt=%u: its shim holds its lock on another "
		    "machine; following its lock and logs", uuid, attempt);
		remote_arm(p);
		free(dir);
		return 1;
	}
	if (alive && (p = proc_watch(t, ws, uuid, attempt, pid, 0,
	    &cause)) != NULL) {
		p->ended = ended;
		p->note = note;
		if (proc_arm(p, &cause) == 0) {
			log_info("run=%s attempt=%u re-attached to shim=%d",
			    uuid, attempt, pid);
			free(dir);
			return 1;
		}
		proc_free(p, 1);
	}
	if (cause != NULL) {
		log_warnx("run=%s attempt=%u: %s", uuid, attempt, cause);
		free(cause);
	}
	if (!alive && held) {		/* the caller logs it */
		free(dir);
		return 2;
	}
	if (!alive && !held && read_exit(dir, res) == -1 && adoptable(dir)) {
		shim_result(dir, res);
		free(dir);
		return 3;
	}
	/* It ended while batchd was away. */
	shim_gone(t, ws, uuid, attempt, dir, res);
	free(dir);
	return 0;
}

/*
 * After a restart, in op t, an attempt exec_reattach() found adoptable
 * (3): start a shim that adopts its job (the job goes on as whom it was
 * started), with ended and note as exec_start() has them; 0. If none can
 * start, the attempt is lost: its logs are published to their end, res
 * says why, -1.
 */
int
exec_adopt(struct txn *t, const struct run *r, struct result *res,
    exec_ended_cb ended, exec_note_cb note)
{
	struct jobident	 id;
	char		*dir, *cause = NULL;
	int64_t		 since = 0;

	memset(&id, 0, sizeof id);
	if (r->n_attempts > 0)
		since = now_ms() - r->attempts[r->n_attempts - 1].started_ms;
	if (launch(t, r, &id, since > 0 ? since : 0, ended, note,
	    &cause) == 0)
		return 0;
	log_warnx("run=%s attempt=%u: its job cannot be adopted: %s", r->uuid,
	    r->attempt, cause);
	dir = attempt_dir(r->uuid, r->attempt);
	shim_gone(t, r->ws, r->uuid, r->attempt, dir, res);
	snprintf(res->text, sizeof res->text, "the attempt's supervisor was "
	    "lost and its job could not be adopted: %s", cause);
	free(cause);
	free(dir);
	return -1;
}

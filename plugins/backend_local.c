/*
 * backend_local.c: the default backend: the job runs on this host, in a
 * sandbox of its own under a small init of ours, in a cgroup of its own.
 *
 * The sandbox is made in two steps, so that most of it is made while the
 * source is fetched (plugin.h: prepare() comes before the fetch):
 *
 * prepare(): the supervisor (batchd-shim) starts init with clone() in a
 * new PID namespace, and returns. As root, init is local-init, this file
 * built as a (static) program beside local.so: the supervisor vforks
 * (CLONE_VM | CLONE_VFORK) and execs it, and sends it the job's paths,
 * ids, limits and cgroup on the socket. A fork would share our pages
 * copy-on-write, and on this kind of VM each page the supervisor then
 * writes costs a fault of ~30 us (a fork here cost it 1-1.5 ms, the exec
 * 0.4 ms). Without local-init (or when it cannot be exec'd), and when the
 * supervisor is not root, init is a copy-on-write fork, in a new user
 * namespace too for a non-root supervisor (mapping its uid and gid to
 * themselves, so that it may make the others: an exec would lose the
 * capabilities the new namespace gives). init, pid 1 of the new PID
 * namespace, on its own (what it does costs the supervisor nothing on its
 * way to the fetch):
 *   1. makes the attempt's cgroup ("{run_uuid}.{attempt}" under
 *      job->cgroup_parent, with the job's memory, process and CPU limits:
 *      one that cannot be enforced fails the start with cg_create's
 *      message) and moves itself in, so the job and all it starts are
 *      there; unshares its mount namespace (a copy of the host's mounts
 *      costs the clone's caller otherwise) and builds the generic part of
 *      the job's file system on a fresh tmpfs (propagation made private
 *      first): read-only binds of /usr, /bin, /sbin, /lib*, /etc and /sys
 *      (those that exist; symlinks stay symlinks), a /dev of null, zero,
 *      full, random, urandom and tty with a fresh /dev/shm, a fresh /proc
 *      of the new PID namespace and a /tmp of its own (tmpfs);
 *   2. waits for the start on a socket pair.
 * start(): the supervisor sends init what is particular to the start:
 * argv, the environment, what the runner exposed, and the job's stdin,
 * stdout and stderr (SCM_RIGHTS: they are opened after the clone). init
 *   3. binds, at the same absolute paths as outside, the attempt's work
 *      directory and the workspace directory read-write and what the
 *      runner exposed (job->exposed_ro, job->exposed_rw; the SQL runner's
 *      database directory, an interpreter installed elsewhere), and
 *      pivot_root()s into the new root. Nothing else of the host exists
 *      there: not batchd's data_dir, not other workspaces, not other
 *      attempts, not any other process;
 *   4. sets PR_SET_NO_NEW_PRIVS and starts the job, pid 2, with every
 *      descriptor above 2 closed, signals reset, the configured limits,
 *      (when the supervisor is root and job->uid is set) the job's uid and
 *      gid without supplementary groups, and only the environment batchd
 *      built for it, and tells the supervisor it started (or why not);
 *   5. forwards SIGTERM, SIGINT and SIGHUP to every process of the
 *      namespace, reaps every orphan, and when the job exits writes its
 *      wait status and the rusage of all it reaped to the supervisor
 *      and exits: the kernel then kills whatever is left in the
 *      namespace, so no process (a setsid double-forked grandchild)
 *      outlives the attempt, whether it ended by exit, cancel or timeout.
 * A failure to make the sandbox fails the start (SPAWN_FAILED, saying
 * why): a job never runs outside it. Without prepare() (another caller),
 * start() does both steps.
 *
 * poll() reports the job's wait status (or SIGKILL if init died without a
 * report), as if it had reaped the job, with the CPU time and peak memory
 * of the cgroup (so grandchildren count; rusage where the cgroup does not
 * say), then removes the cgroup, killing anything left in it. kill(SIGKILL)
 * kills the cgroup too. unprepare() kills init and removes the cgroup.
 *
 * init dies with its supervisor (PR_SET_PDEATHSIG, and a pidfd of the
 * supervisor checked once that is set, for a supervisor killed while init
 * was being cloned), and once the job runs its pid is named in DIR/job.pid
 * ("pid starttime", init leads a process group; not before, to keep a
 * file's rename off the way to the fetch), so that batchd can SIGKILL it
 * when the supervisor is lost; that ends the whole namespace, and batchd
 * removes the cgroup (found by its name, job.pid or not).
 *
 * Before the start the supervisor, when root, hands the work directory and
 * the writable exposed paths to job->uid:gid (lchown, not following
 * symlinks), since the fetch ran as root.
 *
 * The job is started from init with clone(CLONE_VM | CLONE_VFORK) on a
 * stack of its own, as posix_spawn does, so no page table is copied for
 * it. So the job's child only makes system calls and never returns: with
 * every signal blocked across the clone, it unblocks them with the
 * dispositions init reset to SIG_DFL while it waited for the start (and
 * the bounding set init dropped then), so that the way from the start to
 * the job's exec holds no system call that could be made before it.
 */
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "plugin.h"
#include "procstat.h"

/* The job's stack: execvpe() copies argv onto it for a script without
 * "#!" (as posix_spawn sizes its own). */
#define CHILD_STACK	(256 * 1024)
#define INIT_STACK	(256 * 1024)	/* init's: paths of PATH_MAX */
/* Not CLONE_NEWIPC: it costs more than all the rest (0.7 ms here) and
 * SysV IPC is not a way into another workspace's files or processes.
 * CLONE_NEWNS is unshared by init itself (see the head comment). */
#define NS_FLAGS	CLONE_NEWPID
#define START_MAX	(64 * 1024 * 1024)	/* bound of a start message */

/* What init tells the supervisor, one write each (< PIPE_BUF). */
enum { REP_STARTED = 1, REP_FAILED, REP_EXITED };
struct report {
	int	 what;
	int	 status;		/* REP_EXITED: the job's */
	int64_t	 user_us, sys_us, maxrss_kb;	/* of all init reaped */
	char	 text[512];		/* REP_FAILED: why */
};

/* The start, to init: this, then len bytes of NUL-terminated strings
 * (argv, env, exposed_ro, exposed_rw, n[] of each); stdin, stdout and
 * stderr ride with it (SCM_RIGHTS). */
struct startmsg {
	uint32_t	 len;
	uint32_t	 n[4];
};

/* The prepare, to an exec'd init (local-init): this, then len bytes of
 * NUL-terminated strings: workdir, workspace_dir, the cgroup's parent
 * ("": none) and name. */
struct prepmsg {
	uint32_t	 len;
	uint32_t	 uid, gid;
	uint64_t	 nofile, as, cpu;
	struct cg_limits lim;
};

/* What the vfork'd child that execs local-init needs (and tells back). */
struct execarg {
	const char	*path;
	char		*argv[3];	/* "batchd-init", the work directory */
	int		 sock, shim;
	int		 err;		/* errno of a failed exec */
};

extern const struct batchd_plugin batchd_plugin;

struct local {
	pid_t		 pid;		/* init, as the host sees it */
	int		 sock;		/* to init: the start; from it: reports */
	char		*cgparent;	/* job->cgroup_parent, or NULL */
	char		 cgname[128];	/* "{run_uuid}.{attempt}" */
	struct cg_limits lim;
	struct cg	*cg;		/* what init made, once needed */
};

/* What init and the job need; init has a copy of the supervisor's. */
struct spawn {
	const struct batchd_job	*job;
	const struct local	*l;		/* its cgroup's name, limits */
	char			**argv, **env, **ro, **rw;
	int			 in, out, err, sock, shim;	/* shim: pidfd */
	int			 userns;	/* map outer_uid/gid to themselves */
	uid_t			 outer_uid;
	gid_t			 outer_gid;
	char			*jstack;	/* the job's stack, jssize bytes */
	size_t			 jssize;
	char			 work[PATH_MAX];	/* job->workdir, resolved */
	char			 ws[PATH_MAX];	/* job->workspace_dir, or "" */
	char			 root[PATH_MAX];	/* DIR/root */
};

static void
limit(int res, uint64_t v)
{
	struct rlimit	rl;

	if (v == 0)
		return;
	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	setrlimit(res, &rl);
}

/*
 * A job that stays root (job_user = root, or unset) must not undo its
 * sandbox: no mount, no device node, no module, no raw I/O, no ptrace.
 * Dropped from the bounding set, these are gone once it execs. Called by
 * init while it waits for the start: the bounding set limits only what an
 * exec gains, so init keeps what it has, and the job's child inherits it.
 */
static void
drop_caps(void)
{
	static const int	caps[] = { CAP_SYS_ADMIN, CAP_SYS_MODULE,
				    CAP_SYS_RAWIO, CAP_MKNOD, CAP_SYS_PTRACE,
				    CAP_SYS_BOOT, CAP_SYS_TIME, CAP_SYS_CHROOT,
				    CAP_NET_ADMIN, CAP_SYSLOG, CAP_MAC_ADMIN,
				    CAP_MAC_OVERRIDE, CAP_SETPCAP,
				    CAP_LINUX_IMMUTABLE, CAP_BPF, CAP_PERFMON,
				    CAP_CHECKPOINT_RESTORE };
	size_t			i;

	for (i = 0; i < sizeof caps / sizeof caps[0]; i++)
		(void)prctl(PR_CAPBSET_DROP, caps[i], 0, 0, 0);
}

/* In the job's process (pid 2): become the job. Its signal dispositions
 * (every one SIG_DFL) and its bounding set are init's (init()). */
static int
child(void *arg)
{
	const struct spawn		*sp = arg;
	const struct batchd_job		*job = sp->job;
	char *const			*argv = sp->argv;
	sigset_t			 none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(sp->in, 0) == -1 || dup2(sp->out, 1) == -1 ||
	    dup2(sp->err, 2) == -1)
		_exit(127);
	if (chdir(sp->work) == -1) {
		dprintf(2, "batchd: chdir %s: %s\n", sp->work,
		    strerror(errno));
		_exit(127);
	}
	syscall(SYS_close_range, 3U, ~0U, 0U);
	limit(RLIMIT_NOFILE, job->limit_nofile);
	limit(RLIMIT_AS, job->limit_as);
	limit(RLIMIT_CPU, job->limit_cpu);
	if (job->uid != (uid_t)-1 && (setgroups(0, NULL) == -1 ||
	    setgid(job->gid) == -1 || setuid(job->uid) == -1)) {
		dprintf(2, "batchd: running as %u:%u: %s\n",
		    (unsigned)job->uid, (unsigned)job->gid, strerror(errno));
		_exit(126);
	}
	execvpe(argv[0], argv, sp->env);
	dprintf(2, "batchd: %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* ---------------------------------------------------------------- init */

/* Format why into err, with strerror(errno) appended; -1. */
static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;
	int	e = errno, n;

	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, ": %s", strerror(e));
	return -1;
}

/* Write text into the file path (of /proc/self). 0 or -1. */
static int
write_file(const char *path, const char *text)
{
	ssize_t	n, len = (ssize_t)strlen(text);
	int	fd;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, text, (size_t)len);
	close(fd);
	return n == len ? 0 : -1;
}

/* In a new user namespace: map our uid and gid to themselves. */
static int
map_ids(const struct spawn *sp, char *err, size_t errlen)
{
	char	line[64];
	int	rc = 0;

	/* /proc/self of a non-dumpable process is root's, not ours. */
	prctl(PR_SET_DUMPABLE, 1);
	if (write_file("/proc/self/setgroups", "deny") == -1)
		rc = fail(err, errlen, "/proc/self/setgroups");
	snprintf(line, sizeof line, "%u %u 1\n", (unsigned)sp->outer_uid,
	    (unsigned)sp->outer_uid);
	if (rc == 0 && write_file("/proc/self/uid_map", line) == -1)
		rc = fail(err, errlen, "/proc/self/uid_map");
	snprintf(line, sizeof line, "%u %u 1\n", (unsigned)sp->outer_gid,
	    (unsigned)sp->outer_gid);
	if (rc == 0 && write_file("/proc/self/gid_map", line) == -1)
		rc = fail(err, errlen, "/proc/self/gid_map");
	prctl(PR_SET_DUMPABLE, 0);
	return rc;
}

/*
 * Make root/path (path absolute) and the directories above it, as a
 * directory or (dir == 0) an empty file to bind a file on. 0 or -1. The
 * path itself first: one system call when what is above it is there (a
 * mount point made by the prepare, or beside another).
 */
static int
make_at(const char *root, const char *path, int dir)
{
	char	p[PATH_MAX], *s;
	size_t	rl = strlen(root);
	int	fd;

	if (snprintf(p, sizeof p, "%s%s", root, path) >= (int)sizeof p) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (dir && (mkdir(p, 0755) == 0 || errno == EEXIST))
		return 0;
	for (s = p + rl + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (dir)
		return mkdir(p, 0755) == -1 && errno != EEXIST ? -1 : 0;
	if ((fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) == -1)
		return errno == EEXIST || errno == EISDIR ? 0 : -1;
	close(fd);
	return 0;
}

/* bind_at()'s how: a path of the system (skipped if missing, a symlink
 * kept), any path (at its real path), a path realpath() made already. */
enum { B_PATH, B_SYSTEM, B_REAL };

/*
 * Bind path at root/path (not what is mounted below it: the system's
 * directories hold no mounts a job needs, and each costs); read-only
 * unless rw, never with set-uid or device files except under /dev.
 */
static int
bind_at(const char *root, const char *path, int rw, int how, char *err,
    size_t errlen)
{
	int			optional = how == B_SYSTEM;
	struct mount_attr	attr;
	struct stat		st;
	char			to[PATH_MAX], link[PATH_MAX], real[PATH_MAX];
	ssize_t			n;
	unsigned int		rec = 0;

	if (how == B_PATH) {	/* at its absolute path, without symlinks */
		if (realpath(path, real) == NULL)
			return fail(err, errlen, "%s", path);
		path = real;
	}
	if ((optional ? lstat(path, &st) : stat(path, &st)) == -1) {
		if (optional && errno == ENOENT)
			return 0;
		return fail(err, errlen, "%s", path);
	}
	snprintf(to, sizeof to, "%s%s", root, path);
	if (S_ISLNK(st.st_mode) && optional) {
		/* /bin -> usr/bin: the same symlink, to the bound /usr */
		if ((n = readlink(path, link, sizeof link - 1)) == -1)
			return fail(err, errlen, "readlink %s", path);
		link[n] = '\0';
		if (symlink(link, to) == -1 && errno != EEXIST)
			return fail(err, errlen, "symlink %s", to);
		return 0;
	}
	if (make_at(root, path, S_ISDIR(st.st_mode)) == -1)
		return fail(err, errlen, "mkdir %s", to);
	/* In a user namespace, mounts below path are locked to it: then
	 * only a recursive bind may be made (EINVAL). */
	if (mount(path, to, NULL, MS_BIND, NULL) == -1 && (errno != EINVAL ||
	    (rec = AT_RECURSIVE, mount(path, to, NULL, MS_BIND | MS_REC,
	    NULL)) == -1))
		return fail(err, errlen, "bind %s", path);
	if (strncmp(path, "/dev/", 5) == 0)
		return 0;	/* a device node: as it is */
	memset(&attr, 0, sizeof attr);
	attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
	    (rw ? 0 : MOUNT_ATTR_RDONLY);
	if (mount_setattr(AT_FDCWD, to, rec, &attr, sizeof attr) == -1)
		return fail(err, errlen, "mount_setattr %s", to);
	return 0;
}

/* Mount a fresh file system of type at root/path. */
static int
fresh_at(const char *root, const char *path, const char *type,
    unsigned long flags, const char *opts, char *err, size_t errlen)
{
	char	to[PATH_MAX];

	snprintf(to, sizeof to, "%s%s", root, path);
	if (make_at(root, path, 1) == -1)
		return fail(err, errlen, "mkdir %s", to);
	if (mount(type, to, type, flags, opts) == -1)
		return fail(err, errlen, "mount %s on %s", type, path);
	return 0;
}

/*
 * Build the generic part of the job's file system (see the head comment)
 * in DIR/root, a fresh tmpfs, in our own mount namespace. 0 or -1 with
 * err.
 */
static int
sandbox_base(struct spawn *sp, char *err, size_t errlen)
{
	static const char	*const sys[] = { "/usr", "/bin", "/sbin",
				    "/lib", "/lib32", "/lib64", "/libx32",
				    "/etc", "/sys" };
	static const char	*const dev[] = { "/dev/null", "/dev/zero",
				    "/dev/full", "/dev/random", "/dev/urandom",
				    "/dev/tty" };
	static const char	*const fdlink[][2] = {
				    { "/proc/self/fd", "/dev/fd" },
				    { "/proc/self/fd/0", "/dev/stdin" },
				    { "/proc/self/fd/1", "/dev/stdout" },
				    { "/proc/self/fd/2", "/dev/stderr" } };
	const unsigned long	 fsflags = MS_NOSUID | MS_NODEV;
	struct mount_attr	 attr;
	char			*root = sp->root, to[PATH_MAX], *s;
	size_t			 i;

	if (realpath(sp->job->workdir, sp->work) == NULL)
		return fail(err, errlen, "work directory %s",
		    sp->job->workdir);
	snprintf(root, sizeof sp->root, "%s", sp->work);
	if ((s = strrchr(root, '/')) == NULL || s == root) {
		errno = EINVAL;
		return fail(err, errlen, "work directory %s", sp->work);
	}
	snprintf(s, sizeof sp->root - (size_t)(s - root), "/root");
	if (unshare(CLONE_NEWNS) == -1)
		return fail(err, errlen, "unshare (a new mount namespace)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		return fail(err, errlen, "making / private");
	if (mkdir(root, 0700) == -1 && errno != EEXIST)
		return fail(err, errlen, "mkdir %s", root);
	if (mount("tmpfs", root, "tmpfs", fsflags, "mode=0755,size=1m") == -1)
		return fail(err, errlen, "mount tmpfs on %s", root);
	for (i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (bind_at(root, sys[i], 0, B_SYSTEM, err, errlen) == -1)
			return -1;
	if (fresh_at(root, "/dev", "tmpfs", MS_NOSUID, "mode=0755,size=64k",
	    err, errlen) == -1)
		return -1;
	for (i = 0; i < sizeof dev / sizeof dev[0]; i++)
		if (bind_at(root, dev[i], 1, B_SYSTEM, err, errlen) == -1)
			return -1;
	for (i = 0; i < sizeof fdlink / sizeof fdlink[0]; i++) {
		snprintf(to, sizeof to, "%s%s", root, fdlink[i][1]);
		if (symlink(fdlink[i][0], to) == -1)
			return fail(err, errlen, "symlink %s", to);
	}
	if (fresh_at(root, "/dev/shm", "tmpfs", fsflags, "mode=1777", err,
	    errlen) == -1)
		return -1;
	memset(&attr, 0, sizeof attr);
	attr.attr_set = MOUNT_ATTR_RDONLY;	/* no device node made there */
	if (snprintf(to, sizeof to, "%s/dev", root) >= (int)sizeof to ||
	    mount_setattr(AT_FDCWD, to, 0, &attr, sizeof attr) == -1)
		return fail(err, errlen, "making /dev read-only");
	if (fresh_at(root, "/proc", "proc", fsflags | MS_NOEXEC, NULL, err,
	    errlen) == -1 ||
	    fresh_at(root, "/tmp", "tmpfs", fsflags, "mode=1777", err,
	    errlen) == -1)
		return -1;
	/* The mount points of the start's binds, off its way (best effort:
	 * sandbox_finish() makes what is missing, and says why it cannot). */
	(void)make_at(root, sp->work, 1);
	if (sp->job->workspace_dir != NULL &&
	    *sp->job->workspace_dir != '\0' &&
	    realpath(sp->job->workspace_dir, to) != NULL)
		(void)make_at(root, to, 1);
	return 0;
}

/*
 * Bind what is particular to the start (the workspace, the work directory,
 * what the runner exposed) into the root sandbox_base() made, and make it
 * the root. 0 or -1 with err.
 */
static int
sandbox_finish(struct spawn *sp, char *err, size_t errlen)
{
	const struct batchd_job	*job = sp->job;
	struct mount_attr	 attr;
	size_t			 i;

	/* The absolute paths, at which the job sees them too. */
	if (job->workspace_dir == NULL || *job->workspace_dir == '\0' ||
	    realpath(job->workspace_dir, sp->ws) == NULL)
		sp->ws[0] = '\0';	/* none (yet): nothing to bind */
	/* The workspace, then the work directory (it may be inside). */
	if (*sp->ws != '\0' && bind_at(sp->root, sp->ws, 1, B_REAL, err,
	    errlen) == -1)
		return -1;
	if (bind_at(sp->root, sp->work, 1, B_REAL, err, errlen) == -1)
		return -1;
	for (i = 0; sp->rw[i] != NULL; i++)
		if (bind_at(sp->root, sp->rw[i], 1, B_PATH, err, errlen) == -1)
			return -1;
	for (i = 0; sp->ro[i] != NULL; i++)
		if (bind_at(sp->root, sp->ro[i], 0, B_PATH, err, errlen) == -1)
			return -1;
	if (chdir(sp->root) == -1)
		return fail(err, errlen, "chdir %s", sp->root);
	if (syscall(SYS_pivot_root, ".", ".") == -1)
		return fail(err, errlen, "pivot_root %s", sp->root);
	if (umount2(".", MNT_DETACH) == -1)
		return fail(err, errlen, "detaching the host's root");
	if (chdir("/") == -1)
		return fail(err, errlen, "chdir /");
	memset(&attr, 0, sizeof attr);
	attr.attr_set = MOUNT_ATTR_RDONLY;
	if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) == -1)
		return fail(err, errlen, "making / read-only");
	return 0;
}

/* Read exactly n bytes; 0, or -1 (EOF too). */
static int
read_full(int fd, void *buf, size_t n)
{
	char	*p = buf;
	ssize_t	 r;

	while (n > 0) {
		if ((r = read(fd, p, n)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Tell the supervisor; a failure first. Async-signal-safe. */
static void
report(int fd, const struct report *r)
{
	while (write(fd, r, sizeof *r) == -1 && errno == EINTR)
		;
}

/*
 * Move the socket to the supervisor to fd 3 and close every other above
 * 2: the supervisor's log files, its lock (DIR/lock, whose holder batchd
 * takes for the supervisor), its signalfd and its pidfd.
 */
static void
own_fds(struct spawn *sp)
{
	int	tmp;

	tmp = fcntl(sp->sock, F_DUPFD_CLOEXEC, 64);
	dup3(tmp, 3, O_CLOEXEC);
	sp->sock = 3;
	syscall(SYS_close_range, 4U, ~0U, 0U);
}

/* init only waits: its wakeups must not preempt the job (as the shim's). */
static void
batch_policy(void)
{
	struct sched_param	sp;

	memset(&sp, 0, sizeof sp);
	(void)sched_setscheduler(0, SCHED_BATCH, &sp);
}

/*
 * Every signal's disposition to SIG_DFL, in init while it waits for the
 * start (it blocks them all and takes them with sigwaitinfo()), so that
 * the job's child inherits them so and spends no system call on them
 * between its clone and its exec.
 */
static void
default_signals(void)
{
	int	sig;

	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
}

/* Point v[0..n) at the next n strings of *p (before end); NULL-ended. */
static char **
take_strings(char **p, const char *end, uint32_t n)
{
	char		**v;
	uint32_t	  i;

	if ((v = calloc((size_t)n + 1, sizeof *v)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (*p >= end) {
			free(v);
			return NULL;
		}
		v[i] = *p;
		*p += strlen(*p) + 1;
	}
	return v;
}

/*
 * Receive the start (struct startmsg, the strings, stdin, stdout and
 * stderr) into sp. 0, or -1 with err (EOF: the supervisor gave up).
 */
static int
recv_start(struct spawn *sp, char *err, size_t errlen)
{
	struct startmsg	 m;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*c;
	union {
		char		buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr	align;
	} u;
	char		*blob, *p, *end;
	int		 fds[3];
	ssize_t		 n;

	memset(&mh, 0, sizeof mh);
	iov.iov_base = &m;
	iov.iov_len = sizeof m;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof u.buf;
	while ((n = recvmsg(sp->sock, &mh, MSG_CMSG_CLOEXEC)) == -1 &&
	    errno == EINTR)
		;
	c = CMSG_FIRSTHDR(&mh);
	if (n <= 0 || c == NULL || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(3 * sizeof(int))) {
		snprintf(err, errlen, "no start from the supervisor");
		return -1;
	}
	memcpy(fds, CMSG_DATA(c), sizeof fds);
	sp->in = fds[0];
	sp->out = fds[1];
	sp->err = fds[2];
	if ((size_t)n < sizeof m && read_full(sp->sock, (char *)&m + n,
	    sizeof m - (size_t)n) == -1) {
		snprintf(err, errlen, "a short start message");
		return -1;
	}
	if (m.len > START_MAX || m.n[0] == 0 ||
	    (blob = malloc((size_t)m.len + 1)) == NULL ||
	    read_full(sp->sock, blob, m.len) == -1) {
		snprintf(err, errlen, "a bad start message");
		return -1;
	}
	blob[m.len] = '\0';
	p = blob;
	end = blob + m.len;
	if ((sp->argv = take_strings(&p, end, m.n[0])) == NULL ||
	    (sp->env = take_strings(&p, end, m.n[1])) == NULL ||
	    (sp->ro = take_strings(&p, end, m.n[2])) == NULL ||
	    (sp->rw = take_strings(&p, end, m.n[3])) == NULL) {
		snprintf(err, errlen, "a bad start message");
		return -1;
	}
	return 0;	/* blob stays: the job's argv and env */
}

/* Has the process of pidfd fd ended? */
static int
gone(int fd)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };

	return fd != -1 && poll(&pfd, 1, 0) == 1;
}

/* pid 1 of the job's namespaces (see the head comment). Never returns. */
static int
init(void *arg)
{
	struct spawn	*sp = arg;
	struct cg	*cg;
	struct report	 r;
	struct rusage	 ru;
	siginfo_t	 si;
	sigset_t	 all;
	mode_t		 um;
	pid_t		 job, pid;
	size_t		 ssize = CHILD_STACK, i;
	int		 st;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (gone(sp->shim))	/* before the line above */
		_exit(1);
	setpgid(0, 0);
	own_fds(sp);
	memset(&r, 0, sizeof r);
	r.what = REP_FAILED;
	/* First, here rather than on the supervisor's way to the fetch:
	 * the cgroup, with the limits (one that cannot hold fails the
	 * start with cg_create's message); all init starts is in it. Not
	 * later: /sys/fs/cgroup is not there after the pivot. */
	if (sp->l->cgparent != NULL) {
		cg = cg_create(sp->l->cgparent, sp->l->cgname, &sp->l->lim,
		    r.text, sizeof r.text);
		if (cg == NULL && r.text[0] != '\0')
			goto failed;
		if (cg != NULL && cg_enter(cg) == -1) {
			fail(r.text, sizeof r.text, "entering the attempt's "
			    "cgroup %s", sp->l->cgname);
			goto failed;
		}
	}
	if (sp->userns && map_ids(sp, r.text, sizeof r.text) == -1)
		goto failed;
	/* Off the way from the start to the job's exec (each is a system
	 * call per signal or capability): what the job's child inherits. */
	default_signals();
	if (sp->job->uid == (uid_t)-1 || sp->job->uid == 0)
		drop_caps();
	um = umask(022);	/* the mount points, for the job's uid */
	if (sandbox_base(sp, r.text, sizeof r.text) == -1)
		goto failed;
	/* Prepared: wait for the start. */
	if (recv_start(sp, r.text, sizeof r.text) == -1 ||
	    sandbox_finish(sp, r.text, sizeof r.text) == -1)
		goto failed;
	umask(um);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		fail(r.text, sizeof r.text, "PR_SET_NO_NEW_PRIVS");
		goto failed;
	}
	for (i = 0; sp->argv[i] != NULL; i++)
		ssize += 2 * sizeof sp->argv[i];
	if ((sp->jstack = mmap(NULL, ssize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) == MAP_FAILED) {
		fail(r.text, sizeof r.text, "mmap");
		goto failed;
	}
	sp->jssize = ssize;
	/* Returns once the job has exec'd or exited. */
	job = clone(child, sp->jstack + sp->jssize,
	    CLONE_VM | CLONE_VFORK | SIGCHLD, sp);
	if (job == -1) {
		fail(r.text, sizeof r.text, "clone");
		goto failed;
	}
	close(sp->in);
	close(sp->out);
	close(sp->err);
	prctl(PR_SET_NAME, "batchd-init");
	batch_policy();		/* after the job's clone: it keeps its own */
	r.what = REP_STARTED;
	report(sp->sock, &r);

	/* Every signal stays blocked (as across the clone): wait for them. */
	sigfillset(&all);
	for (;;) {
		if (sigwaitinfo(&all, &si) == -1)
			continue;
		if (si.si_signo == SIGTERM || si.si_signo == SIGINT ||
		    si.si_signo == SIGHUP) {
			kill(-1, si.si_signo);	/* all but us */
			continue;
		}
		if (si.si_signo != SIGCHLD)
			continue;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid != job)
				continue;
			memset(&r, 0, sizeof r);
			r.what = REP_EXITED;
			r.status = st;
			if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
				r.user_us = (int64_t)ru.ru_utime.tv_sec *
				    1000000 + ru.ru_utime.tv_usec;
				r.sys_us = (int64_t)ru.ru_stime.tv_sec *
				    1000000 + ru.ru_stime.tv_usec;
				r.maxrss_kb = ru.ru_maxrss;
			}
			report(sp->sock, &r);
			/* The kernel kills the rest of the namespace. */
			_exit(0);
		}
	}
failed:
	report(sp->sock, &r);
	_exit(1);
}
/* ------------------------------------------------------ the supervisor */

static uid_t	chown_uid;
static gid_t	chown_gid;

/* nftw(3) callback: hand one entry to chown_uid:chown_gid. */
static int
chown_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)flag;
	(void)f;
	if ((st->st_uid != chown_uid || st->st_gid != chown_gid) &&
	    lchown(path, chown_uid, chown_gid) == -1)
		return -1;
	return 0;
}

/* Hand path and all below it to the job's uid. 0 or -1 with err. */
static int
chown_tree(const char *path, const struct batchd_job *job, char *err,
    size_t errlen)
{
	chown_uid = job->uid;
	chown_gid = job->gid;
	if (nftw(path, chown_one, 16, FTW_PHYS | FTW_MOUNT) == -1)
		return fail(err, errlen, "handing %s to %u:%u", path,
		    (unsigned)job->uid, (unsigned)job->gid);
	return 0;
}

/* DIR/job.pid, beside the work directory: "pid starttime". */
static void
write_pidfile(const struct batchd_job *job, pid_t pid)
{
	char	path[8192];

	snprintf(path, sizeof path, "%s/../job.pid", job->workdir);
	(void)pidfile_write(path, pid);
}


/* Kill init (and with it the namespace) and wait for it; its status. */
static int
reap(struct local *l)
{
	int	st = 0;

	kill(l->pid, SIGKILL);
	while (waitpid(l->pid, &st, 0) == -1 && errno == EINTR)
		;
	return st;
}

/* The cgroup init made (or may have begun to make), or NULL. */
static struct cg *
local_cg(struct local *l)
{
	char	err[512];

	if (l->cg == NULL && l->cgparent != NULL)
		l->cg = cg_plan(l->cgparent, l->cgname, &l->lim, err,
		    sizeof err);
	return l->cg;
}

/* End a prepared or failed attempt: init, the cgroup, the handle. */
static void
unprepare(void *handle)
{
	struct local	*l = handle;

	if (l == NULL)
		return;
	if (l->pid > 0)
		reap(l);
	if (l->sock != -1)
		close(l->sock);
	cg_destroy(local_cg(l));	/* kills what is left, removes it */
	free(l->cgparent);
	free(l);
}

/* local-init beside this plugin (its path), or "" if it is not there. */
static const char *
init_path(void)
{
	static char	 path[PATH_MAX];
	static int	 done;
	Dl_info		 info;
	const char	*s;

	if (done)
		return path;
	done = 1;
#ifdef LOCAL_INIT_MAIN
	(void)info;
	(void)s;
	return path;	/* "": it is the init */
#endif
	if (dladdr(&batchd_plugin, &info) == 0 || info.dli_fname == NULL ||
	    (s = strrchr(info.dli_fname, '/')) == NULL ||
	    (size_t)snprintf(path, sizeof path, "%.*s/local-init",
	    (int)(s - info.dli_fname), info.dli_fname) >= sizeof path ||
	    access(path, X_OK) == -1)
		path[0] = '\0';
	return path;
}

/*
 * In the vfork'd child (our memory, its own stack): die with the
 * supervisor, the socket as fd 3, exec local-init. Only system calls.
 */
static int
exec_init(void *arg)
{
	struct execarg	*xa = arg;
	char		*envp[] = { NULL };

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (gone(xa->shim))	/* before the line above */
		_exit(1);
	if ((xa->sock == 3 ? fcntl(3, F_SETFD, 0) : dup2(xa->sock, 3)) == -1) {
		xa->err = errno;
		_exit(127);
	}
	execve(xa->path, xa->argv, envp);
	xa->err = errno;	/* seen by the supervisor: it forks instead */
	_exit(127);
}

/* Tell an exec'd init what a forked one has in its copy of our memory. */
static void
send_prep(int sock, const struct batchd_job *job, const struct local *l)
{
	const char	*str[4] = { job->workdir, job->workspace_dir != NULL ?
			    job->workspace_dir : "", l->cgparent != NULL ?
			    l->cgparent : "", l->cgname };
	struct prepmsg	 m;
	struct iovec	 iov[5];
	struct msghdr	 mh;
	int		 i;

	memset(&m, 0, sizeof m);
	m.uid = (uint32_t)job->uid;
	m.gid = (uint32_t)job->gid;
	m.nofile = job->limit_nofile;
	m.as = job->limit_as;
	m.cpu = job->limit_cpu;
	m.lim = l->lim;
	iov[0].iov_base = &m;
	iov[0].iov_len = sizeof m;
	for (i = 0; i < 4; i++) {
		iov[i + 1].iov_base = (void *)str[i];
		iov[i + 1].iov_len = strlen(str[i]) + 1;
		m.len += (uint32_t)iov[i + 1].iov_len;
	}
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 5;
	/* A few KiB into an empty socket: whole, or init is gone and its
	 * absent report says so at the start. */
	(void)sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/*
 * Clone init, which makes the attempt's cgroup, builds what it can of the
 * sandbox and then waits for start() (see the head comment).
 */
static int
prepare(const struct batchd_job *job, void **handle, char *err,
    size_t errlen)
{
	struct spawn		 sp;
	struct execarg		 xa;
	struct local		*l;
	sigset_t		 all, old;
	char			*stack;
	pid_t			 pid;
	int			 e, s[2], use_fork, flags = NS_FLAGS;

	*handle = NULL;
	if ((l = calloc(1, sizeof *l)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->pid = -1;
	l->sock = -1;
	l->lim.memory_bytes = job->limit_memory;
	l->lim.pids = job->limit_pids;
	l->lim.cpu_millicores = job->limit_cpu_millicores;
	snprintf(l->cgname, sizeof l->cgname, "%s.%u", job->run_uuid != NULL ?
	    job->run_uuid : "", (unsigned)job->attempt);
	if (job->cgroup_parent != NULL && *job->cgroup_parent != '\0' &&
	    (l->cgparent = strdup(job->cgroup_parent)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(l);
		return -1;
	}
	memset(&sp, 0, sizeof sp);
	sp.job = job;
	sp.l = l;
	if (geteuid() != 0) {
		sp.userns = 1;
		sp.outer_uid = geteuid();
		sp.outer_gid = getegid();
		flags |= CLONE_NEWUSER;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == -1) {
		fail(err, errlen, "socketpair");
		unprepare(l);
		return -1;
	}
	l->sock = s[0];
	sp.sock = s[1];
	if ((stack = mmap(NULL, INIT_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) == MAP_FAILED) {
		fail(err, errlen, "mmap");
		close(s[1]);
		unprepare(l);
		return -1;
	}
	sp.shim = (int)syscall(SYS_pidfd_open, getpid(), 0);
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	use_fork = 1;
	if (!sp.userns && *init_path() != '\0') {
		/* No copy of our pages: a vfork and an exec (see the head
		 * comment); if local-init cannot be exec'd, the fork. */
		memset(&xa, 0, sizeof xa);
		xa.path = init_path();
		xa.argv[0] = "batchd-init";	/* ps: whose it is */
		xa.argv[1] = (char *)job->workdir;
		xa.sock = s[1];
		xa.shim = sp.shim;
		pid = clone(exec_init, stack + INIT_STACK, flags | CLONE_VM |
		    CLONE_VFORK | SIGCHLD, &xa);
		e = errno;
		use_fork = 0;
		if (pid != -1 && xa.err != 0) {
			while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
				;
			use_fork = 1;
		} else if (pid != -1)
			send_prep(s[0], job, l);
	}
	if (use_fork) {
		pid = clone(init, stack + INIT_STACK, flags | SIGCHLD, &sp);
		e = errno;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	munmap(stack, INIT_STACK);
	close(s[1]);
	if (sp.shim != -1)
		close(sp.shim);
	if (pid == -1) {
		snprintf(err, errlen, "sandbox: clone: %s (new mount%s PID "
		    "namespaces)", strerror(e), sp.userns ? ", user and" :
		    " and");
		unprepare(l);
		return -1;
	}
	setpgid(pid, pid);	/* both sides: no race with kill(-pid) */
	l->pid = pid;
	*handle = l;
	return 0;
}

/* Add the strings of v (NULL-ended) to blob at *off (blob NULL: count). */
static uint32_t
put_strings(char *blob, size_t *off, char *const *v)
{
	size_t		n;
	uint32_t	i;

	for (i = 0; v != NULL && v[i] != NULL; i++) {
		n = strlen(v[i]) + 1;
		if (blob != NULL)
			memcpy(blob + *off, v[i], n);
		*off += n;
	}
	return i;
}

/*
 * Send init the start: argv, the environment, what the runner exposed,
 * and fds (stdin, stdout, stderr). 0 or -1 (init is gone: its report
 * says why).
 */
static int
send_start(struct local *l, const struct batchd_job *job, char *const *argv,
    const int fds[3])
{
	char *const	*lists[4] = { argv, job->env, job->exposed_ro,
			    job->exposed_rw };
	struct startmsg	 m;
	struct msghdr	 mh;
	struct iovec	 iov[2];
	struct cmsghdr	*c;
	union {
		char		buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr	align;
	} u;
	char		*blob;
	size_t		 len = 0, done;
	ssize_t		 n;
	int		 i, rc = 0;

	for (i = 0; i < 4; i++)
		put_strings(NULL, &len, lists[i]);
	if (len > START_MAX || (blob = malloc(len + 1)) == NULL)
		return -1;
	memset(&m, 0, sizeof m);
	m.len = (uint32_t)len;
	len = 0;
	for (i = 0; i < 4; i++)
		m.n[i] = put_strings(blob, &len, lists[i]);
	memset(&mh, 0, sizeof mh);
	memset(&u, 0, sizeof u);
	iov[0].iov_base = &m;
	iov[0].iov_len = sizeof m;
	iov[1].iov_base = blob;
	iov[1].iov_len = len;
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof u.buf;
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, 3 * sizeof(int));
	while ((n = sendmsg(l->sock, &mh, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		;
	/* A large environment may go in more than one piece. */
	for (done = n > 0 ? (size_t)n : 0; n != -1 && done < sizeof m + len;
	    done += (size_t)n) {
		if (done < sizeof m)
			n = send(l->sock, (char *)&m + done, sizeof m - done,
			    MSG_NOSIGNAL);
		else
			n = send(l->sock, blob + done - sizeof m,
			    len - (done - sizeof m), MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			n = 0;
	}
	if (n == -1)
		rc = -1;
	free(blob);
	return rc;
}

static int
start(const struct batchd_job *job, char *const *argv, const char *in,
    int out, int err_fd, void **handle, char *err, size_t errlen)
{
	struct local	*l = *handle;
	struct report	 r;
	size_t		 i;
	int		 fds[3], st;

	*handle = NULL;
	if (l == NULL && prepare(job, (void **)&l, err, errlen) == -1)
		return -1;
	if (geteuid() == 0 && job->uid != (uid_t)-1) {
		if (chown_tree(job->workdir, job, err, errlen) == -1)
			goto bad;
		for (i = 0; job->exposed_rw != NULL &&
		    job->exposed_rw[i] != NULL; i++)
			if (chown_tree(job->exposed_rw[i], job, err,
			    errlen) == -1)
				goto bad;
	}
	if ((fds[0] = open(in, O_RDONLY | O_CLOEXEC)) == -1) {
		fail(err, errlen, "%s", in);
		goto bad;
	}
	fds[1] = out;
	fds[2] = err_fd;
	(void)send_start(l, job, argv, fds);	/* else the report says */
	close(fds[0]);
	/* Wait until the job runs, or why it cannot. */
	if (read_full(l->sock, &r, sizeof r) == -1 || r.what != REP_STARTED) {
		st = reap(l);
		l->pid = -1;
		if (r.what == REP_FAILED)
			snprintf(err, errlen, "sandbox: %s", r.text);
		else
			snprintf(err, errlen, "sandbox: its init ended "
			    "(status 0x%x) before the job started", st);
		goto bad;
	}
	if (fcntl(l->sock, F_SETFL, O_NONBLOCK) == -1) {
		fail(err, errlen, "fcntl");
		goto bad;
	}
	/* Not before: until now init dies with us (PDEATHSIG), and batchd
	 * removes the cgroup of a lost shim without it. */
	write_pidfile(job, l->pid);
	*handle = l;
	return 0;
bad:
	unprepare(l);
	return -1;
}

static int
poll_job(void *handle, struct batchd_outcome *o, char *err, size_t errlen)
{
	struct local	*l = handle;
	struct report	 r;
	int64_t		 user, sys, peak;
	int		 st;
	pid_t		 pid;

	pid = waitpid(l->pid, &st, WNOHANG);
	if (pid == 0)
		return 0;
	if (pid == -1) {
		snprintf(err, errlen, "waitpid: %s", strerror(errno));
		return -1;
	}
	if (read(l->sock, &r, sizeof r) == sizeof r && r.what == REP_EXITED) {
		o->waitstatus = r.status;
		o->user_us = r.user_us;
		o->sys_us = r.sys_us;
		o->maxrss_kb = r.maxrss_kb;
	} else {
		/* init was killed (after the grace, or by batchd): so was
		 * the job, with it */
		memset(o, 0, sizeof *o);
		o->waitstatus = SIGKILL;
	}
	/* What all of the attempt used (grandchildren too): init has only
	 * reaped what it reaped. */
	if (local_cg(l) != NULL && cg_usage(l->cg, &user, &sys, &peak) == 0) {
		if (user >= 0)
			o->user_us = user;
		if (sys >= 0)
			o->sys_us = sys;
		if (peak > 0)
			o->maxrss_kb = peak;
	}
	l->pid = -1;	/* reaped */
	unprepare(l);	/* the cgroup: what is left killed, removed */
	return 1;
}

static void
kill_job(void *handle, int sig)
{
	struct local	*l = handle;

	/* init passes SIGTERM on to all; SIGKILL ends the namespace, and
	 * the cgroup what may have left it (none should). */
	kill(l->pid, sig);
	if (sig == SIGKILL && local_cg(l) != NULL)
		cg_kill(l->cg);
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_BACKEND,
	.name = "local",
	.handles = 0,
	.u.backend = { .start = start, .poll = poll_job, .kill = kill_job,
	    .poll_ms = 0, .prepare = prepare, .unprepare = unprepare },
};

#ifdef LOCAL_INIT_MAIN
/*
 * local-init: init exec'd by prepare() (see the head comment), its socket
 * to the supervisor on fd 3, from which it reads first what a forked init
 * would have in its copy of the supervisor's memory.
 */
int
main(void)
{
	static struct batchd_job	 job;
	static struct local		 l;
	static struct spawn		 sp;
	struct prepmsg			 m;
	struct report			 r;
	char				*buf, *str[4], *p;
	int				 i;

	prctl(PR_SET_DUMPABLE, 0);	/* the job's environment, later */
	memset(&r, 0, sizeof r);
	r.what = REP_FAILED;
	if (read_full(3, &m, sizeof m) == -1 || m.len > START_MAX ||
	    (buf = calloc(1, (size_t)m.len + 1)) == NULL ||
	    read_full(3, buf, m.len) == -1) {
		snprintf(r.text, sizeof r.text, "local-init: no description "
		    "from the supervisor");
		report(3, &r);
		_exit(1);
	}
	for (i = 0, p = buf; i < 4; i++, p += strlen(p) + 1)
		str[i] = p < buf + m.len ? p : "";
	job.workdir = str[0];
	job.workspace_dir = str[1];
	job.uid = (uid_t)m.uid;
	job.gid = (gid_t)m.gid;
	job.limit_nofile = m.nofile;
	job.limit_as = m.as;
	job.limit_cpu = m.cpu;
	l.cgparent = *str[2] != '\0' ? str[2] : NULL;
	snprintf(l.cgname, sizeof l.cgname, "%s", str[3]);
	l.lim = m.lim;
	sp.job = &job;
	sp.l = &l;
	sp.sock = 3;
	sp.shim = -1;	/* checked before the exec */
	return init(&sp);
}
#endif

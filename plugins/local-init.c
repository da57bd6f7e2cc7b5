/*
 * local-init.c: the sandbox's init, pid 1 of an attempt's PID namespace
 * (backend_local.c's head comment tells the whole): it makes the
 * attempt's cgroup and enters it, builds the job's file system in a mount
 * namespace of its own, waits for the start, binds what is particular to
 * it, pivots into it and starts the job, then reaps and reports. Linked
 * into local.so (init cloned from the supervisor's memory) and built alone
 * as local-init, a static program the supervisor execs (main() below).
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

#include <errno.h>
#include <fcntl.h>
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

#include "batchsched.h"
#include "local.h"

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
 * (every one SIG_DFL) and its bounding set are init's (local_init()). */
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
int
local_fail(char *err, size_t errlen, const char *fmt, ...)
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
		rc = local_fail(err, errlen, "/proc/self/setgroups");
	snprintf(line, sizeof line, "%u %u 1\n", (unsigned)sp->outer_uid,
	    (unsigned)sp->outer_uid);
	if (rc == 0 && write_file("/proc/self/uid_map", line) == -1)
		rc = local_fail(err, errlen, "/proc/self/uid_map");
	snprintf(line, sizeof line, "%u %u 1\n", (unsigned)sp->outer_gid,
	    (unsigned)sp->outer_gid);
	if (rc == 0 && write_file("/proc/self/gid_map", line) == -1)
		rc = local_fail(err, errlen, "/proc/self/gid_map");
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
			return local_fail(err, errlen, "%s", path);
		path = real;
	}
	if ((optional ? lstat(path, &st) : stat(path, &st)) == -1) {
		if (optional && errno == ENOENT)
			return 0;
		return local_fail(err, errlen, "%s", path);
	}
	snprintf(to, sizeof to, "%s%s", root, path);
	if (S_ISLNK(st.st_mode) && optional) {
		/* /bin -> usr/bin: the same symlink, to the bound /usr */
		if ((n = readlink(path, link, sizeof link - 1)) == -1)
			return local_fail(err, errlen, "readlink %s", path);
		link[n] = '\0';
		if (symlink(link, to) == -1 && errno != EEXIST)
			return local_fail(err, errlen, "symlink %s", to);
		return 0;
	}
	if (make_at(root, path, S_ISDIR(st.st_mode)) == -1)
		return local_fail(err, errlen, "mkdir %s", to);
	/* In a user namespace, mounts below path are locked to it: then
	 * only a recursive bind may be made (EINVAL). */
	if (mount(path, to, NULL, MS_BIND, NULL) == -1 && (errno != EINVAL ||
	    (rec = AT_RECURSIVE, mount(path, to, NULL, MS_BIND | MS_REC,
	    NULL)) == -1))
		return local_fail(err, errlen, "bind %s", path);
	if (strncmp(path, "/dev/", 5) == 0)
		return 0;	/* a device node: as it is */
	memset(&attr, 0, sizeof attr);
	attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
	    (rw ? 0 : MOUNT_ATTR_RDONLY);
	if (mount_setattr(AT_FDCWD, to, rec, &attr, sizeof attr) == -1)
		return local_fail(err, errlen, "mount_setattr %s", to);
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
		return local_fail(err, errlen, "mkdir %s", to);
	if (mount(type, to, type, flags, opts) == -1)
		return local_fail(err, errlen, "mount %s on %s", type, path);
	return 0;
}

/*
 * Build the generic part of the job's file system (backend_local.c's head comment)
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
		return local_fail(err, errlen, "work directory %s",
		    sp->job->workdir);
	snprintf(root, sizeof sp->root, "%s", sp->work);
	if ((s = strrchr(root, '/')) == NULL || s == root) {
		errno = EINVAL;
		return local_fail(err, errlen, "work directory %s", sp->work);
	}
	snprintf(s, sizeof sp->root - (size_t)(s - root), "/root");
	if (unshare(CLONE_NEWNS) == -1)
		return local_fail(err, errlen, "unshare (a new mount namespace)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		return local_fail(err, errlen, "making / private");
	if (mkdir(root, 0700) == -1 && errno != EEXIST)
		return local_fail(err, errlen, "mkdir %s", root);
	if (mount("tmpfs", root, "tmpfs", fsflags, "mode=0755,size=1m") == -1)
		return local_fail(err, errlen, "mount tmpfs on %s", root);
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
			return local_fail(err, errlen, "symlink %s", to);
	}
	if (fresh_at(root, "/dev/shm", "tmpfs", fsflags, "mode=1777", err,
	    errlen) == -1)
		return -1;
	memset(&attr, 0, sizeof attr);
	attr.attr_set = MOUNT_ATTR_RDONLY;	/* no device node made there */
	if (snprintf(to, sizeof to, "%s/dev", root) >= (int)sizeof to ||
	    mount_setattr(AT_FDCWD, to, 0, &attr, sizeof attr) == -1)
		return local_fail(err, errlen, "making /dev read-only");
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
		return local_fail(err, errlen, "chdir %s", sp->root);
	if (syscall(SYS_pivot_root, ".", ".") == -1)
		return local_fail(err, errlen, "pivot_root %s", sp->root);
	if (umount2(".", MNT_DETACH) == -1)
		return local_fail(err, errlen, "detaching the host's root");
	if (chdir("/") == -1)
		return local_fail(err, errlen, "chdir /");
	memset(&attr, 0, sizeof attr);
	attr.attr_set = MOUNT_ATTR_RDONLY;
	if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) == -1)
		return local_fail(err, errlen, "making / read-only");
	return 0;
}

/* Read exactly n bytes; 0, or -1 (EOF too). */
int
local_read_full(int fd, void *buf, size_t n)
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
void
local_report(int fd, const struct report *r)
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
	if ((size_t)n < sizeof m && local_read_full(sp->sock, (char *)&m + n,
	    sizeof m - (size_t)n) == -1) {
		snprintf(err, errlen, "a short start message");
		return -1;
	}
	if (m.len > START_MAX || m.n[0] == 0 ||
	    (blob = malloc((size_t)m.len + 1)) == NULL ||
	    local_read_full(sp->sock, blob, m.len) == -1) {
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
int
local_gone(int fd)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };

	return fd != -1 && poll(&pfd, 1, 0) == 1;
}

/*
 * The attempt's cgroup, with the limits (one that cannot hold fails the
 * start with cg_create's message), and init in it, so that all it starts
 * is. Here rather than on the supervisor's way to the fetch; not later:
 * /sys/fs/cgroup is not there after the pivot. 0 or -1 with err.
 */
static int
enter_cgroup(const struct spawn *sp, char *err, size_t errlen)
{
	struct cg	*cg;

	if (sp->l->cgparent == NULL)
		return 0;
	cg = cg_create(sp->l->cgparent, sp->l->cgname, &sp->l->lim, err,
	    errlen);
	if (cg == NULL && err[0] != '\0')
		return -1;
	if (cg != NULL && cg_enter(cg) == -1)
		return local_fail(err, errlen, "entering the attempt's cgroup "
		    "%s", sp->l->cgname);
	return 0;
}

/*
 * Once the job runs: pass SIGTERM, SIGINT and SIGHUP on to every process
 * of the namespace, reap every orphan, and when the job exits report its
 * status and what all reaped used, and exit. Every signal stays blocked
 * (as across the clone): init takes them here. Never returns.
 */
static void
wait_job(const struct spawn *sp, pid_t job)
{
	struct report	 r;
	struct rusage	 ru;
	siginfo_t	 si;
	sigset_t	 all;
	pid_t		 pid;
	int		 st;

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
			local_report(sp->sock, &r);
			/* The kernel kills the rest of the namespace. */
			_exit(0);
		}
	}
}

/* pid 1 of the job's namespaces (backend_local.c's head comment). Never returns. */
int
local_init(void *arg)
{
	struct spawn	*sp = arg;
	struct report	 r;
	mode_t		 um;
	pid_t		 job;
	size_t		 ssize = CHILD_STACK, i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (local_gone(sp->shim))	/* before the line above */
		_exit(1);
	setpgid(0, 0);
	own_fds(sp);
	memset(&r, 0, sizeof r);
	r.what = REP_FAILED;
	if (enter_cgroup(sp, r.text, sizeof r.text) == -1)
		goto failed;
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
		local_fail(r.text, sizeof r.text, "PR_SET_NO_NEW_PRIVS");
		goto failed;
	}
	for (i = 0; sp->argv[i] != NULL; i++)
		ssize += 2 * sizeof sp->argv[i];
	if ((sp->jstack = mmap(NULL, ssize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) == MAP_FAILED) {
		local_fail(r.text, sizeof r.text, "mmap");
		goto failed;
	}
	sp->jssize = ssize;
	/* Returns once the job has exec'd or exited. */
	job = clone(child, sp->jstack + sp->jssize,
	    CLONE_VM | CLONE_VFORK | SIGCHLD, sp);
	if (job == -1) {
		local_fail(r.text, sizeof r.text, "clone");
		goto failed;
	}
	close(sp->in);
	close(sp->out);
	close(sp->err);
	prctl(PR_SET_NAME, "batchd-init");
	/* init only waits: its wakeups must not preempt the job (as the
	 * shim's); after the job's clone, which keeps its own policy. */
	batchsched_self();
	r.what = REP_STARTED;
	local_report(sp->sock, &r);

	wait_job(sp, job);
failed:
	local_report(sp->sock, &r);
	_exit(1);
}
#ifdef LOCAL_INIT_MAIN
/*
 * local-init: init exec'd by prepare() (backend_local.c's head comment), its socket
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
	if (local_read_full(3, &m, sizeof m) == -1 || m.len > START_MAX ||
	    (buf = calloc(1, (size_t)m.len + 1)) == NULL ||
	    local_read_full(3, buf, m.len) == -1) {
		snprintf(r.text, sizeof r.text, "local-init: no description "
		    "from the supervisor");
		local_report(3, &r);
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
	return local_init(&sp);
}
#endif

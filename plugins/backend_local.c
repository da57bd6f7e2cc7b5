/*
 * backend_local.c: the default backend: the job runs on this host, in a
 * sandbox of its own under a small init of ours, in a cgroup of its own.
 *
 * This file is the supervisor's side; init's is local-init.c, and what
 * both share (their messages, the attempt's handle) local.h.
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
#include <sys/mman.h>
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
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local.h"
#include "procstat.h"

#define INIT_STACK	(256 * 1024)	/* init's: paths of PATH_MAX */
/* Not CLONE_NEWIPC: it costs more than all the rest (0.7 ms here) and
 * SysV IPC is not a way into another workspace's files or processes.
 * CLONE_NEWNS is unshared by init itself (see the head comment). */
#define NS_FLAGS	CLONE_NEWPID

/* What the vfork'd child that execs local-init needs (and tells back). */
struct execarg {
	const char	*path;
	char		*argv[3];	/* "batchd-init", the work directory */
	int		 sock, shim;
	int		 err;		/* errno of a failed exec */
};

extern const struct batchd_plugin batchd_plugin;


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
		return local_fail(err, errlen, "handing %s to %u:%u", path,
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
	if (local_gone(xa->shim))	/* before the line above */
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
		local_fail(err, errlen, "socketpair");
		unprepare(l);
		return -1;
	}
	l->sock = s[0];
	sp.sock = s[1];
	if ((stack = mmap(NULL, INIT_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) == MAP_FAILED) {
		local_fail(err, errlen, "mmap");
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
		pid = clone(local_init, stack + INIT_STACK, flags | SIGCHLD, &sp);
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
		local_fail(err, errlen, "%s", in);
		goto bad;
	}
	fds[1] = out;
	fds[2] = err_fd;
	(void)send_start(l, job, argv, fds);	/* else the report says */
	close(fds[0]);
	/* Wait until the job runs, or why it cannot. */
	if (local_read_full(l->sock, &r, sizeof r) == -1 || r.what != REP_STARTED) {
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
		local_fail(err, errlen, "fcntl");
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

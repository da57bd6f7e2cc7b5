/*
 * backend_local.c: the default backend: the job runs on this host, a child
 * of the attempt's supervisor, in a process group of its own, with every
 * descriptor above 2 closed, signals reset, the configured limits and
 * (when the supervisor is root and job_user is set) the job user's
 * credentials, and only the environment batchd built for it.
 *
 * The job dies with its supervisor (PR_SET_PDEATHSIG), and its process
 * group is named in DIR/job.pid ("pid starttime") so that batchd can kill
 * what is left of it when the supervisor is lost.
 *
 * The child shares the supervisor's memory until it execs (clone with
 * CLONE_VM | CLONE_VFORK, on a stack of its own, as posix_spawn does): no
 * page table is copied, which a fork costs here (~0.2 ms on these
 * machines). So the child only makes system calls and never returns: with
 * every signal blocked across the clone, it resets the dispositions before
 * it unblocks them, so no handler of the supervisor runs in it.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "procstat.h"

/* The child's stack: execvpe() copies argv onto it for a script without
 * "#!" (as posix_spawn sizes its own). */
#define CHILD_STACK	(256 * 1024)

struct local {
	pid_t	pid;
};

/* What the child needs, on the supervisor's stack. */
struct spawn {
	const struct batchd_job	*job;
	char *const		*argv;
	const char		*in;
	int			 out, err;
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

/* In the child: become the job. */
static int
child(void *arg)
{
	const struct spawn		*sp = arg;
	const struct batchd_job		*job = sp->job;
	char *const			*argv = sp->argv;
	sigset_t			 none;
	int				 fd, sig;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((fd = open(sp->in, O_RDONLY)) == -1 || dup2(fd, 0) == -1 ||
	    dup2(sp->out, 1) == -1 || dup2(sp->err, 2) == -1)
		_exit(127);
	if (chdir(job->workdir) == -1) {
		dprintf(2, "batchd: chdir %s: %s\n", job->workdir,
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
	execvpe(argv[0], argv, job->env);
	dprintf(2, "batchd: %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* DIR/job.pid, beside the work directory: "pid starttime". */
static void
write_pidfile(const struct batchd_job *job, pid_t pid)
{
	char	path[8192];

	snprintf(path, sizeof path, "%s/../job.pid", job->workdir);
	(void)pidfile_write(path, pid);
}

static int
start(const struct batchd_job *job, char *const *argv, const char *in,
    int out, int err_fd, void **handle, char *err, size_t errlen)
{
	struct spawn	 sp = { job, argv, in, out, err_fd };
	struct local	*l;
	sigset_t	 all, old;
	void		*stack;
	size_t		 ssize = CHILD_STACK;
	pid_t		 pid;
	int		 e, i;

	if ((l = calloc(1, sizeof *l)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; argv[i] != NULL; i++)
		ssize += 2 * sizeof argv[i];
	if ((stack = mmap(NULL, ssize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		free(l);
		return -1;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	/* Returns once the child has exec'd or exited. */
	pid = clone(child, (char *)stack + ssize,
	    CLONE_VM | CLONE_VFORK | SIGCHLD, &sp);
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	munmap(stack, ssize);
	if (pid == -1) {
		snprintf(err, errlen, "clone: %s", strerror(e));
		free(l);
		return -1;
	}
	setpgid(pid, pid);	/* both sides: no race with kill(-pid) */
	l->pid = pid;
	*handle = l;
	write_pidfile(job, pid);
	return 0;
}

static int
poll_job(void *handle, struct batchd_outcome *o, char *err, size_t errlen)
{
	struct local	*l = handle;
	struct rusage	 ru;
	int		 st;
	pid_t		 r;

	r = wait4(l->pid, &st, WNOHANG, &ru);
	if (r == 0)
		return 0;
	if (r == -1) {
		snprintf(err, errlen, "wait4: %s", strerror(errno));
		return -1;
	}
	kill(-l->pid, SIGKILL);		/* what the job left behind */
	o->waitstatus = st;
	o->user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 +
	    ru.ru_utime.tv_usec;
	o->sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 +
	    ru.ru_stime.tv_usec;
	o->maxrss_kb = ru.ru_maxrss;
	free(l);
	return 1;
}

static void
kill_job(void *handle, int sig)
{
	struct local	*l = handle;

	kill(-l->pid, sig);
}

const struct batchd_plugin batchd_plugin = {
	.abi = BATCHD_PLUGIN_ABI,
	.kind = BATCHD_PLUGIN_BACKEND,
	.name = "local",
	.handles = 0,
	.u.backend = { .start = start, .poll = poll_job, .kill = kill_job,
	    .poll_ms = 0 },
};

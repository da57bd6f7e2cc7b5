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
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "procstat.h"

struct local {
	pid_t	pid;
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
static void
child(const struct batchd_job *job, char *const *argv, const char *in,
    int out, int err)
{
	sigset_t	none;
	int		fd, sig;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if ((fd = open(in, O_RDONLY)) == -1 || dup2(fd, 0) == -1 ||
	    dup2(out, 1) == -1 || dup2(err, 2) == -1)
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
	struct local	*l;
	pid_t		 pid;

	if ((l = calloc(1, sizeof *l)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		free(l);
		return -1;
	}
	if (pid == 0)
		child(job, argv, in, out, err_fd);
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

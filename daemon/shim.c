/*
 * shim.c: batchd-shim, the supervisor of one attempt.
 *
 * batchd starts one shim per attempt, in a session of its own, so the
 * attempt outlives batchd (an upgrade, a crash, kill -9). The shim:
 *   - forks the job into a process group of its own, in its working
 *     directory, stdin from a file, every descriptor above 2 closed, signals
 *     reset, resource limits and (when batchd is root) credentials dropped,
 *     and the environment the shim itself was given (built by batchd);
 *   - appends the job's stdout and stderr to the attempt's log files as they
 *     come (batchd follows the files);
 *   - enforces the attempt's timeout: SIGTERM to the job's group, SIGKILL
 *     `grace` seconds later; SIGTERM to the shim (cancel) does the same;
 *   - when the job is gone and its pipes are drained, writes the result to
 *     DIR/exit (temporary file, fsync, rename, fsync of DIR) and exits 0.
 *
 * usage: batchd-shim [-u uid:gid] [-n nofile] [-a as_bytes] [-c cpu_s]
 *            DIR STDIN STDOUT_LOG STDERR_LOG TIMEOUT_S GRACE_S PROG [ARG...]
 *
 * The shim uses libc only and fork() (its own memory is tiny).
 */
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t
mono_ms_(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
die(const char *what)
{
	fprintf(stderr, "batchd-shim: %s: %s\n", what, strerror(errno));
	exit(111);
}

/* Write all of buf to fd (log files are regular files). */
static void
write_all(int fd, const char *buf, ssize_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, buf, (size_t)n)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += w;
		n -= w;
	}
}

/* The child side: become the job. Never returns. */
static void
exec_job(const char *dir, const char *in, int out, int err, uid_t uid,
    gid_t gid, rlim_t nofile, rlim_t as, rlim_t cpu, char **argv)
{
	struct rlimit	rl;
	sigset_t	none;
	char		work[4096];
	int		fd, sig;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if ((fd = open(in, O_RDONLY)) == -1 || dup2(fd, 0) == -1 ||
	    dup2(out, 1) == -1 || dup2(err, 2) == -1)
		_exit(127);
	snprintf(work, sizeof work, "%s/work", dir);
	if (chdir(work) == -1)
		_exit(127);
	syscall(SYS_close_range, 3U, ~0U, 0U);
	if (nofile != 0) {
		rl.rlim_cur = rl.rlim_max = nofile;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (as != 0) {
		rl.rlim_cur = rl.rlim_max = as;
		setrlimit(RLIMIT_AS, &rl);
	}
	if (cpu != 0) {
		rl.rlim_cur = rl.rlim_max = cpu;
		setrlimit(RLIMIT_CPU, &rl);
	}
	if (uid != (uid_t)-1 && (setgroups(0, NULL) == -1 ||
	    setgid(gid) == -1 || setuid(uid) == -1)) {
		dprintf(2, "batchd-shim: dropping to %u:%u: %s\n",
		    (unsigned)uid, (unsigned)gid, strerror(errno));
		_exit(126);
	}
	execvp(argv[0], argv);
	dprintf(2, "batchd-shim: %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Start time of this process in clock ticks since boot (field 22). */
static unsigned long long
self_start(void)
{
	char			 buf[1024], *p;
	unsigned long long	 v = 0;
	ssize_t			 n;
	int			 fd, i;

	if ((fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)) == -1)
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

/* DIR/shim.pid: "pid starttime", so a later batchd can find this shim. */
static void
write_pidfile(const char *dir)
{
	char	tmp[4096], path[4096], line[64];
	int	fd, n;

	snprintf(tmp, sizeof tmp, "%s/shim.pid.tmp", dir);
	snprintf(path, sizeof path, "%s/shim.pid", dir);
	n = snprintf(line, sizeof line, "%d %llu\n", (int)getpid(),
	    self_start());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		die(tmp);
	write_all(fd, line, n);
	close(fd);
	if (rename(tmp, path) == -1)
		die("rename");
}

/* Durably record the result: DIR/exit. */
static void
record(const char *dir, int status, int timed_out, int cancelled,
    const struct rusage *ru, int64_t wall_ms)
{
	char	tmp[4096], path[4096], line[512];
	int	fd, n;

	snprintf(tmp, sizeof tmp, "%s/exit.tmp", dir);
	snprintf(path, sizeof path, "%s/exit", dir);
	n = snprintf(line, sizeof line, "status=%d timed_out=%d cancelled=%d "
	    "utime_us=%lld stime_us=%lld maxrss_kb=%ld wall_ms=%lld\n",
	    status, timed_out, cancelled,
	    (long long)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec,
	    (long long)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec,
	    ru->ru_maxrss, (long long)wall_ms);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		die(tmp);
	write_all(fd, line, n);
	if (fsync(fd) == -1)
		die("fsync");
	close(fd);
	if (rename(tmp, path) == -1)
		die("rename");
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
}

int
main(int argc, char **argv)
{
	struct pollfd	 pfd[3];
	struct rusage	 ru;
	sigset_t	 mask;
	struct signalfd_siginfo si;
	uid_t		 uid = (uid_t)-1;
	gid_t		 gid = (gid_t)-1;
	rlim_t		 nofile = 0, as = 0, cpu = 0;
	char		 buf[65536];
	const char	*dir, *in;
	int		 ch, pout[2], perr[2], logs[2], sfd, status = 0;
	int		 timed_out = 0, cancelled = 0, exited = 0, open_pipes = 2;
	int64_t		 t0, deadline, kill_at = -1, timeout_s, grace_s, wait;
	int64_t		 drain_until = -1;
	pid_t		 pid;
	ssize_t		 n;
	int		 i;

	while ((ch = getopt(argc, argv, "+u:n:a:c:")) != -1) {
		switch (ch) {
		case 'u':
			if (sscanf(optarg, "%u:%u", &uid, &gid) != 2)
				return 64;
			break;
		case 'n':
			nofile = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			as = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			cpu = strtoull(optarg, NULL, 10);
			break;
		default:
			return 64;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 7) {
		fprintf(stderr, "usage: batchd-shim [-u uid:gid] [-n nofile] "
		    "[-a as] [-c cpu] DIR STDIN STDOUT_LOG STDERR_LOG "
		    "TIMEOUT_S GRACE_S PROG [ARG...]\n");
		return 64;
	}
	dir = argv[0];
	in = argv[1];
	timeout_s = strtoll(argv[4], NULL, 10);
	grace_s = strtoll(argv[5], NULL, 10);
	for (i = 0; i < 2; i++)
		if ((logs[i] = open(argv[2 + i], O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600)) == -1)
			die(argv[2 + i]);
	if (pipe2(pout, O_CLOEXEC) == -1 || pipe2(perr, O_CLOEXEC) == -1)
		die("pipe");

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		die("signalfd");

	write_pidfile(dir);
	t0 = mono_ms_();
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0)
		exec_job(dir, in, pout[1], perr[1], uid, gid, nofile, as, cpu,
		    argv + 6);
	setpgid(pid, pid);	/* both sides, so no race with kill(-pid) */
	close(pout[1]);
	close(perr[1]);
	deadline = timeout_s > 0 ? t0 + timeout_s * 1000 : -1;

	pfd[0].fd = pout[0];
	pfd[1].fd = perr[0];
	pfd[2].fd = sfd;
	for (i = 0; i < 3; i++)
		pfd[i].events = POLLIN;
	while (!exited || open_pipes > 0) {
		int64_t	now = mono_ms_(), next = -1;

		/* A process that left the group may hold the pipes: 5 s. */
		if (exited && drain_until == -1)
			drain_until = now + 5000;
		if (exited && now >= drain_until)
			break;

		if (!exited && deadline != -1 && now >= deadline &&
		    kill_at == -1) {
			timed_out = 1;
			kill(-pid, SIGTERM);
			kill_at = now + grace_s * 1000;
		}
		if (!exited && kill_at != -1 && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = -2;
		}
		if (!exited && deadline != -1 && kill_at == -1)
			next = deadline;
		else if (!exited && kill_at >= 0)
			next = kill_at;
		if (exited)
			next = drain_until;
		wait = next == -1 ? -1 : next - now;
		if (wait < 0 && next != -1)
			wait = 0;
		if (poll(pfd, 3, (int)wait) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, buf, sizeof buf);
			if (n > 0) {
				write_all(logs[i], buf, n);
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			open_pipes--;
		}
		if (pfd[2].revents != 0 &&
		    read(sfd, &si, sizeof si) == sizeof si) {
			if (si.ssi_signo == SIGCHLD) {
				if (!exited && wait4(pid, &status, WNOHANG,
				    &ru) == pid) {
					exited = 1;
					/* Whatever the job left behind goes. */
					kill(-pid, SIGKILL);
				}
			} else if (si.ssi_signo == SIGTERM ||
			    si.ssi_signo == SIGINT) {
				if (!exited && kill_at == -1) {
					cancelled = 1;
					kill(-pid, SIGTERM);
					kill_at = mono_ms_() + grace_s * 1000;
				}
			}
		}
	}
	record(dir, status, timed_out, cancelled, &ru, mono_ms_() - t0);
	return 0;
}

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
 *     come (batchd follows the files), with every secret of DIR/secrets
 *     (NUL-separated values, read and deleted at start) and its base64 form
 *     replaced by "****", also when a secret is split across two reads;
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

/* Secrets to mask, each as given and in base64 (without padding). */
static char	**pats;
static size_t	 npats, maxpat;

static void
add_pat(const char *s, size_t n)
{
	if (n < 4)	/* masking "a" everywhere helps no one */
		return;
	pats = realloc(pats, (npats + 1) * sizeof *pats);
	if (pats == NULL || (pats[npats] = strndup(s, n)) == NULL)
		die("malloc");
	npats++;
	if (n > maxpat)
		maxpat = n;
}

static void
add_secret(const char *s, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char		*e;
	size_t		 i, o = 0;
	unsigned	 v;

	add_pat(s, n);
	if ((e = malloc(n / 3 * 4 + 8)) == NULL)
		die("malloc");
	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 |
		    (unsigned char)s[i + 2];
		e[o++] = b64[v >> 18];
		e[o++] = b64[(v >> 12) & 63];
		e[o++] = b64[(v >> 6) & 63];
		e[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned char)s[i] << 16;
		e[o++] = b64[v >> 18];
		e[o++] = b64[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
		e[o++] = b64[v >> 18];
		e[o++] = b64[(v >> 12) & 63];
		e[o++] = b64[(v >> 6) & 63];
	}
	add_pat(e, o);
	free(e);
}

/* Read DIR/secrets (NUL-separated) and delete it. */
static void
load_secrets(const char *dir)
{
	char	path[4096], *buf = NULL;
	size_t	len = 0;
	FILE	*f;

	snprintf(path, sizeof path, "%s/secrets", dir);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (getdelim(&buf, &len, '\0', f) != -1) {
		do {
			add_secret(buf, strlen(buf));
		} while (getdelim(&buf, &len, '\0', f) != -1);
	}
	free(buf);
	fclose(f);
	unlink(path);
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

/*
 * One output stream: bytes held back because they may begin a secret.
 */
struct out {
	int	 fd;
	char	*held;
	size_t	 nheld;
};

/* Index of the leftmost secret in s[0..n), its length in *len; or n. */
static size_t
find_secret(const char *s, size_t n, size_t *len)
{
	size_t	i, k, best = n;

	*len = 0;
	for (k = 0; k < npats; k++) {
		size_t pl = strlen(pats[k]);

		for (i = 0; i + pl <= n && i <= best; i++)
			if (memcmp(s + i, pats[k], pl) == 0) {
				if (i < best || pl > *len) {
					best = i;
					*len = pl;
				}
				break;
			}
	}
	return best;
}

/* Length of the longest suffix of s[0..n) that begins some secret. */
static size_t
partial_tail(const char *s, size_t n)
{
	size_t	k, t, best = 0;

	for (k = 0; k < npats; k++) {
		size_t pl = strlen(pats[k]);

		for (t = pl - 1 < n ? pl - 1 : n; t > best; t--)
			if (memcmp(s + n - t, pats[k], t) == 0) {
				best = t;
				break;
			}
	}
	return best;
}

/* Mask and write data; at eof write what was held back too. */
static void
emit(struct out *o, const char *data, size_t n, int eof)
{
	char	*buf;
	size_t	 len, at, ml, keep;

	if (npats == 0) {
		write_all(o->fd, data, (ssize_t)n);
		return;
	}
	len = o->nheld + n;
	if ((buf = malloc(len + 1)) == NULL)
		die("malloc");
	memcpy(buf, o->held, o->nheld);
	memcpy(buf + o->nheld, data, n);
	free(o->held);
	o->held = NULL;
	o->nheld = 0;
	for (;;) {
		at = find_secret(buf, len, &ml);
		keep = eof ? 0 : partial_tail(buf, at);
		if (at == len) {
			write_all(o->fd, buf, (ssize_t)(len - keep));
			break;
		}
		write_all(o->fd, buf, (ssize_t)at);
		write_all(o->fd, "****", 4);
		memmove(buf, buf + at + ml, len - at - ml);
		len -= at + ml;
	}
	if (keep > 0) {
		if ((o->held = malloc(keep)) == NULL)
			die("malloc");
		memcpy(o->held, buf + len - keep, keep);
		o->nheld = keep;
	}
	free(buf);
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
	struct out	 outs[2];
	pid_t		 pid;
	ssize_t		 n;
	int		 i;

	memset(outs, 0, sizeof outs);
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
	for (i = 0; i < 2; i++) {
		if ((logs[i] = open(argv[2 + i], O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600)) == -1)
			die(argv[2 + i]);
		outs[i].fd = logs[i];
	}
	load_secrets(dir);
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
				emit(&outs[i], buf, (size_t)n, 0);
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			emit(&outs[i], "", 0, 1);
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
	for (i = 0; i < 2; i++)
		emit(&outs[i], "", 0, 1);
	record(dir, status, timed_out, cancelled, &ru, mono_ms_() - t0);
	return 0;
}

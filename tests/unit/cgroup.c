/*
 * cgroup.c: tests of daemon/cgroup.c against the machine's real cgroup
 * hierarchies (as root). Each makes its own attempt cgroup under the
 * parent cg_parent("") finds, puts a forked child in it with cg_enter(),
 * and checks what the kernel did. They skip, saying so, only when no
 * cgroup hierarchy is writable here.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "unit.h"

/* The automatic parent into p; 0, or -1 having noted why the test skips. */
static int
parent(char *p, size_t len)
{
	char	 err[256];

	if (cg_parent("", p, len, err, sizeof err) == -1 || *p == '\0') {
		snprintf(skip_note, sizeof skip_note, "no cgroup hierarchy "
		    "is writable here (%.200s)", err);
		return -1;
	}
	return 0;
}

/* A name of this process's own for test t. */
static void
cg_name(char *name, size_t len, const char *t)
{
	snprintf(name, len, "unit-%d-%s", (int)getpid(), t);
}

/* Is {dir}/{name} absent under every directory of parent p? */
static int
all_gone(const char *p, const char *name)
{
	char		 path[8192];
	struct stat	 st;
	const char	*q;
	size_t		 len;

	for (; *p != '\0'; p = *q == ':' ? q + 1 : q) {
		q = p + strcspn(p, ":");
		len = (size_t)(q - p);
		snprintf(path, sizeof path, "%.*s/%s", (int)len, p, name);
		if (stat(path, &st) == 0)
			return 0;
	}
	return 1;
}

/* Has pid ended (gone, or a zombie nobody reaped yet)? Waits up to 2 s. */
static int
ended(pid_t pid)
{
	char	 path[64], buf[512], *p;
	FILE	*f;
	int	 i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	for (i = 0; i < 200; i++) {
		if ((f = fopen(path, "r")) == NULL)
			return 1;
		p = fgets(buf, sizeof buf, f);
		fclose(f);
		if (p != NULL && (p = strrchr(buf, ')')) != NULL &&
		    (p[2] == 'Z' || p[2] == 'X'))
			return 1;
		usleep(10000);
	}
	return 0;
}

/*
 * Reap pid into *st within 2 s; -1 (pid killed and reaped) if it was still
 * running, so a test that fails does not hang.
 */
static int
reap(pid_t pid, int *st)
{
	int	 i;

	for (i = 0; i < 200; i++) {
		if (waitpid(pid, st, WNOHANG) == pid)
			return 0;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, st, 0);
	return -1;
}

/* The directories of parent p that are v1 ones (not v2), into out. */
static void
v1_only(const char *p, char *out, size_t outlen)
{
	char		 path[8192];
	const char	*q;
	size_t		 len;

	out[0] = '\0';
	for (; *p != '\0'; p = *q == ':' ? q + 1 : q) {
		q = p + strcspn(p, ":");
		len = (size_t)(q - p);
		snprintf(path, sizeof path, "%.*s/cgroup.subtree_control",
		    (int)len, p);
		if (access(path, F_OK) == 0)
			continue;
		snprintf(out + strlen(out), outlen - strlen(out), "%s%.*s",
		    out[0] != '\0' ? ":" : "", (int)len, p);
	}
}

/*
 * Names outside [A-Za-z0-9._-] are refused; an unusable parent is an
 * error; no parent is no cgroup and no error; a limit that no directory
 * of the parent can enforce is an error naming it, never unlimited.
 */
void
test_cgroup_names(void)
{
	static const char	*bad[] = { "", ".", "..", "../x", "a/b", "a:b",
				    "a b", "a\nb" };
	struct cg_limits	 mem = { 64 << 20, 0, 0 }, pids = { 0, 10, 0 };
	char			 err[256], out[256], dir[4096];
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(cg_create("/sys/fs/cgroup", bad[i], NULL, err,
		    sizeof err) == NULL);
		CHECK(strstr(err, "cgroup name") != NULL);
	}
	CHECK(cg_create("", "x", &mem, err, sizeof err) == NULL);
	CHECK(err[0] == '\0');
	CHECK(cg_create(NULL, "x", NULL, err, sizeof err) == NULL);
	CHECK(err[0] == '\0');

	/* A directory of no cgroup file system enforces nothing. */
	CHECK(getcwd(dir, sizeof dir) != NULL);
	CHECK(cg_create(dir, "x", &mem, err, sizeof err) == NULL);
	CHECK(strstr(err, "memory limit") != NULL);
	CHECK(cg_create(dir, "x", &pids, err, sizeof err) == NULL);
	CHECK(strstr(err, "pids limit") != NULL);
	CHECK(access("x", F_OK) == -1);

	CHECK(cg_parent("off", out, sizeof out, err, sizeof err) == 0);
	CHECK(out[0] == '\0' && err[0] == '\0');
	CHECK(cg_parent("relative/dir", out, sizeof out, err,
	    sizeof err) == -1);
	CHECK(strstr(err, "absolute") != NULL);
	CHECK(cg_parent(dir, out, sizeof out, err, sizeof err) == -1);
	CHECK(strstr(err, "not in a cgroup file system") != NULL);
}

/*
 * A child that double-forks a setsid grandchild, in the cgroup: cg_kill
 * ends both, cg_destroy removes every directory. Through the whole parent
 * (cgroup.kill on v2) and, where there are v1 hierarchies, through them
 * alone (SIGKILL to each pid of cgroup.procs).
 */
void
test_cgroup_kill(void)
{
	char		 p[8192], v1[8192], name[64], err[256];
	const char	*which[2];
	struct cg	*cg;
	pid_t		 child, gc;
	int		 fds[2], st, k;

	if (parent(p, sizeof p) == -1)
		return;
	v1_only(p, v1, sizeof v1);
	which[0] = p;
	which[1] = v1;
	for (k = 0; k < 2; k++) {
		if (*which[k] == '\0')
			continue;
		cg_name(name, sizeof name, k == 0 ? "kill" : "kill-v1");
		cg = cg_create(which[k], name, NULL, err, sizeof err);
		CHECK(cg != NULL);
		CHECK(pipe(fds) == 0);
		if ((child = fork()) == 0) {
			if (cg_enter(cg) == -1)
				_exit(3);
			if (fork() == 0) {
				setsid();
				if ((gc = fork()) != 0)
					_exit(0);
				gc = getpid();
				if (write(fds[1], &gc, sizeof gc) != sizeof gc)
					_exit(4);
				for (;;)
					pause();
			}
			for (;;)
				pause();
		}
		CHECK(child > 0);
		close(fds[1]);
		CHECK(read(fds[0], &gc, sizeof gc) == sizeof gc);
		close(fds[0]);
		CHECK(kill(gc, 0) == 0 && kill(child, 0) == 0);
		cg_kill(cg);
		CHECK(reap(child, &st) == 0);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		if (!ended(gc)) {
			kill(gc, SIGKILL);
			CHECK(!"the setsid grandchild outlived cg_kill");
		}
		cg_destroy(cg);
		CHECK(all_gone(which[k], name));
	}
}

/* A fork loop in a cgroup of 16 processes stops at 16 with EAGAIN. */
void
test_cgroup_pids(void)
{
	struct cg_limits	 lim = { 0, 16, 0 };
	char			 p[8192], name[64], err[256];
	struct cg		*cg;
	pid_t			 child, c;
	int			 st, n;

	if (parent(p, sizeof p) == -1)
		return;
	cg_name(name, sizeof name, "pids");
	CHECK((cg = cg_create(p, name, &lim, err, sizeof err)) != NULL);
	if ((child = fork()) == 0) {
		if (cg_enter(cg) == -1)
			_exit(200);
		for (n = 0; n < 100; n++) {
			if ((c = fork()) == 0) {
				for (;;)
					pause();
			}
			if (c == -1)
				_exit(errno == EAGAIN ? n : 201);
		}
		_exit(202);
	}
	CHECK(child > 0);
	CHECK(waitpid(child, &st, 0) == child);
	CHECK(WIFEXITED(st));
	CHECK(WEXITSTATUS(st) == 15);	/* 16 with the child itself */
	cg_destroy(cg);
	CHECK(all_gone(p, name));
}

/*
 * A child that touches 256 MiB in a cgroup of 32 MiB is killed (or its
 * allocation refused); the peak memory reported stays within the limit.
 */
void
test_cgroup_memory(void)
{
	struct cg_limits	 lim = { 32 << 20, 0, 0 };
	char			 p[8192], name[64], err[256], *m;
	struct cg		*cg;
	pid_t			 child;
	int64_t			 u, s, rss;
	size_t			 i, len = (size_t)256 << 20;
	int			 st;

	if (parent(p, sizeof p) == -1)
		return;
	cg_name(name, sizeof name, "memory");
	CHECK((cg = cg_create(p, name, &lim, err, sizeof err)) != NULL);
	if ((child = fork()) == 0) {
		if (cg_enter(cg) == -1)
			_exit(3);
		m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(2);
		for (i = 0; i < len; i += 4096)
			m[i] = 1;
		_exit(0);
	}
	CHECK(child > 0);
	CHECK(waitpid(child, &st, 0) == child);
	CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
	    (WIFEXITED(st) && WEXITSTATUS(st) == 2));
	CHECK(cg_usage(cg, &u, &s, &rss) == 0);
	CHECK(rss > 8 * 1024 && rss <= 33 * 1024);
	cg_destroy(cg);
	CHECK(all_gone(p, name));
}

/* CPU time a grandchild burned (~200 ms) is in cg_usage's figures. */
void
test_cgroup_usage(void)
{
	char		 p[8192], name[64], err[256];
	struct cg	*cg;
	struct timespec	 ts;
	pid_t		 child, gc;
	int64_t		 u, s, rss;
	volatile long	 spin = 0;
	long		 i;
	int		 st;

	if (parent(p, sizeof p) == -1)
		return;
	cg_name(name, sizeof name, "usage");
	CHECK((cg = cg_create(p, name, NULL, err, sizeof err)) != NULL);
	if ((child = fork()) == 0) {
		if (cg_enter(cg) == -1)
			_exit(3);
		if ((gc = fork()) == 0) {
			do {	/* mostly user time: few clock calls */
				for (i = 0; i < 1000000; i++)
					spin += i;
				clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
			} while (ts.tv_sec == 0 && ts.tv_nsec < 200000000);
			_exit(0);
		}
		_exit(gc > 0 && waitpid(gc, &st, 0) == gc ? 0 : 4);
	}
	CHECK(child > 0);
	CHECK(waitpid(child, &st, 0) == child);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(cg_usage(cg, &u, &s, &rss) == 0);
	CHECK(u >= 0 && s >= 0);
	CHECK(u + s >= 180000 && u + s < 5000000);
	CHECK(u >= 100000);
	cg_destroy(cg);
	CHECK(all_gone(p, name));
}

/* A child that spins for 600 ms of wall time at 200 millicores gets ~120 ms. */
void
test_cgroup_cpu(void)
{
	struct cg_limits	 lim = { 0, 0, 200 };
	char			 p[8192], name[64], err[256];
	struct cg		*cg;
	struct timespec		 t0, t;
	pid_t			 child;
	int64_t			 u, s, rss;
	volatile long		 spin = 0;
	long			 i;
	int			 st;

	if (parent(p, sizeof p) == -1)
		return;
	cg_name(name, sizeof name, "cpu");
	CHECK((cg = cg_create(p, name, &lim, err, sizeof err)) != NULL);
	if ((child = fork()) == 0) {
		if (cg_enter(cg) == -1)
			_exit(3);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (i = 0; i < 100000; i++)
				spin += i;
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while ((t.tv_sec - t0.tv_sec) * 1000000000L +
		    (t.tv_nsec - t0.tv_nsec) < 600000000L);
		_exit(0);
	}
	CHECK(child > 0);
	CHECK(waitpid(child, &st, 0) == child);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(cg_usage(cg, &u, &s, &rss) == 0);
	CHECK(u + s > 20000 && u + s < 250000);
	cg_destroy(cg);
	CHECK(all_gone(p, name));
}

/* Write text to path (a test fixture). */
static void
put(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/*
 * cg_parent("") on a fake machine (mountinfo and cgroup files, plain
 * directories for the hierarchies): the v2 directory is {mount}{own path}
 * /batchd-jobs; each v1 one strips its mount's root from the own path;
 * cpu and cpuacct mounted together are one; what v2 enables for the jobs
 * takes no v1 directory; an own path outside a mount's root is skipped.
 */
void
test_cgroup_parent_paths(void)
{
	char		 t[256], mi[4096], want[2048], out[8192], err[256];
	char		 path[512];
	const char	*saved_cg = cg_proc_cgroup, *saved_mi = cg_proc_mountinfo;
	int		 rc, made;

	CHECK(getcwd(t, sizeof t) != NULL);
	snprintf(mi, sizeof mi,
	    "30 22 0:27 / %s/unified rw,relatime shared:4 - cgroup2 cgroup2 "
	    "rw\n"
	    "31 30 0:28 / %s/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
	    "32 30 0:29 /svc %s/pids rw - cgroup cgroup rw,pids\n"
	    "33 30 0:30 / %s/memory rw - cgroup cgroup rw,memory\n"
	    "34 30 0:31 /elsewhere %s/blkio rw - cgroup cgroup rw,blkio\n"
	    "35 22 0:32 / %s/tmp rw - tmpfs tmpfs rw\n", t, t, t, t, t, t);
	put("mountinfo", mi);
	put("cgroup", "5:blkio:/svc\n4:cpu,cpuacct:/svc\n"
	    "3:pids:/svc/batchd.service\n2:memory:/\n"
	    "1:name=systemd:/svc/batchd.service\n0::/svc/batchd.service\n");
	CHECK(system("mkdir -p unified/svc/batchd.service cpu,cpuacct/svc "
	    "pids/batchd.service memory blkio") == 0);
	cg_proc_cgroup = "cgroup";
	cg_proc_mountinfo = "mountinfo";

	rc = cg_parent("", out, sizeof out, err, sizeof err);
	snprintf(want, sizeof want, "%s/unified/svc/batchd.service/batchd-jobs:"
	    "%s/pids/batchd.service/batchd-jobs:%s/memory/batchd-jobs:"
	    "%s/cpu,cpuacct/svc/batchd-jobs", t, t, t, t);
	if (rc != 0 || strcmp(out, want) != 0) {
		cg_proc_cgroup = saved_cg;
		cg_proc_mountinfo = saved_mi;
		snprintf(why, sizeof why, "got '%.240s', want '%.240s'", out,
		    want);
		failed = 1;
		return;
	}
	snprintf(path, sizeof path, "%s/pids/batchd.service/batchd-jobs", t);
	made = access(path, W_OK) == 0;

	/* v2 gives memory, pids and cpu to the jobs: no v1 directory. */
	put("unified/svc/batchd.service/batchd-jobs/cgroup.subtree_control",
	    "memory pids cpu\n");
	rc = cg_parent("", out, sizeof out, err, sizeof err);
	snprintf(want, sizeof want, "%s/unified/svc/batchd.service/batchd-jobs",
	    t);
	cg_proc_cgroup = saved_cg;
	cg_proc_mountinfo = saved_mi;
	CHECK(made);
	CHECK(rc == 0 && strcmp(out, want) == 0);
}

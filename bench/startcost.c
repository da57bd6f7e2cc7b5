/*
 * startcost: what a backend plugin's start() costs, alone: N times, start
 * "/bin/echo hi" through the plugin's start() and poll() as batchd-shim
 * does, and time start() -> the job's first output byte and start() -> its
 * outcome; print p50 and p99 of each and the CPU time (ours and all our
 * children's: the sandbox's init, the job) per attempt. Run it on two
 * builds of local.so to see what the sandbox adds:
 *
 *	startcost build/plugins/local.so /var/tmp/sc 500 [UID]
 *
 * DIR/work is the job's work directory (made); with UID (as root) the job
 * runs as UID:UID. In the environment:
 *
 *	STARTCOST_CGROUP=1	each attempt in a cgroup of its own, under
 *				what batchd would find (cg_parent("")),
 *				with job_limit_pids' default
 *	STARTCOST_PREPARE_US=G	call the plugin's prepare() first, as the
 *				shim does before the fetch, wait G us (the
 *				fetch), then time start() as above; prints
 *				what prepare() took too (the shim's cost
 *				on its way to the fetch)
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "plugin.h"

static int64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* job->setting: no settings. */
static const char *
no_setting(const char *key)
{
	(void)key;
	return NULL;
}

/* job->note: dropped. */
static void
no_note(const char *text)
{
	(void)text;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* User plus system time of ru, in us. */
static int64_t
cpu_us(const struct rusage *ru)
{
	return (int64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000 +
	    ru->ru_utime.tv_usec + ru->ru_stime.tv_usec;
}

int
main(int argc, char **argv)
{
	const struct batchd_plugin	*p;
	struct batchd_job		 job;
	struct batchd_outcome		 o;
	struct rusage			 self, kids;
	struct timespec			 tick = { 0, 20000 };
	char				*jargv[] = { "/bin/echo", "hi", NULL };
	char				*env[] = { "PATH=/usr/bin:/bin", NULL };
	char				 work[4096], err[512], c;
	char				 parent[8192];
	const char			*gap_env;
	int64_t				*first, *whole, *prep, t0, gap = -1;
	sigset_t			 chld;
	void				*h, *handle;
	int				 n, i, out[2], errp[2], rc;

	if (argc < 4 || (n = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: startcost PLUGIN.so DIR N [UID]\n");
		return 64;
	}
	if ((h = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (p = dlsym(h, "batchd_plugin")) == NULL ||
	    p->kind != BATCHD_PLUGIN_BACKEND) {
		fprintf(stderr, "startcost: %s: not a backend plugin\n",
		    argv[1]);
		return 1;
	}
	snprintf(work, sizeof work, "%s/work", argv[2]);
	(void)mkdir(argv[2], 0700);
	(void)mkdir(work, 0700);
	memset(&job, 0, sizeof job);
	job.workdir = work;
	job.workspace_dir = argv[2];
	job.env = env;
	job.setting = no_setting;
	job.note = no_note;
	job.uid = argc > 4 ? (uid_t)atoi(argv[4]) : (uid_t)-1;
	job.gid = argc > 4 ? (gid_t)atoi(argv[4]) : (gid_t)-1;
	job.run_uuid = "startcost";
	if (getenv("STARTCOST_CGROUP") != NULL) {
		if (cg_parent("", parent, sizeof parent, err,
		    sizeof err) == -1 || parent[0] == '\0') {
			fprintf(stderr, "startcost: no cgroup: %s\n", err);
			return 1;
		}
		job.cgroup_parent = parent;
		job.limit_pids = 4096;
	}
	if ((gap_env = getenv("STARTCOST_PREPARE_US")) != NULL) {
		if (p->u.backend.prepare == NULL) {
			fprintf(stderr, "startcost: %s has no prepare()\n",
			    argv[1]);
			return 1;
		}
		gap = atoll(gap_env);
	}
	if ((first = calloc((size_t)n, sizeof *first)) == NULL ||
	    (whole = calloc((size_t)n, sizeof *whole)) == NULL ||
	    (prep = calloc((size_t)n, sizeof *prep)) == NULL)
		return 1;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	for (i = 0; i < n; i++) {
		if (pipe2(out, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1)
			return 1;
		job.attempt = (uint32_t)i + 1;
		handle = NULL;
		if (gap >= 0) {
			t0 = now_us();
			if (p->u.backend.prepare(&job, &handle, err,
			    sizeof err) == -1) {
				fprintf(stderr, "startcost: prepare: %s\n",
				    err);
				return 1;
			}
			prep[i] = now_us() - t0;
			for (t0 = now_us(); now_us() - t0 < gap; )
				;	/* the fetch, on this core */
		}
		t0 = now_us();
		if (p->u.backend.start(&job, jargv, "/dev/null", out[1],
		    errp[1], &handle, err, sizeof err) == -1) {
			fprintf(stderr, "startcost: start: %s\n", err);
			return 1;
		}
		close(out[1]);
		close(errp[1]);
		if (read(out[0], &c, 1) != 1) {
			fprintf(stderr, "startcost: the job wrote nothing\n");
			return 1;
		}
		first[i] = now_us() - t0;
		while ((rc = p->u.backend.poll(handle, &o, err, sizeof err)) == 0)
			sigtimedwait(&chld, NULL, &tick);
		if (rc == -1) {
			fprintf(stderr, "startcost: poll: %s\n", err);
			return 1;
		}
		whole[i] = now_us() - t0;
		close(out[0]);
		close(errp[0]);
	}
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	qsort(first, (size_t)n, sizeof *first, cmp64);
	qsort(whole, (size_t)n, sizeof *whole, cmp64);
	qsort(prep, (size_t)n, sizeof *prep, cmp64);
	if (gap >= 0)
		printf("prepare() p50 %lld p99 %lld us; ",
		    (long long)prep[n / 2], (long long)prep[n * 99 / 100]);
	printf("%s%s: n=%d start->first byte p50 %lld p99 %lld us; "
	    "start->over p50 %lld p99 %lld us; cpu %lld us per attempt\n",
	    argv[1], gap >= 0 ? " (prepared)" : "", n,
	    (long long)first[n / 2], (long long)first[n * 99 / 100],
	    (long long)whole[n / 2], (long long)whole[n * 99 / 100],
	    (long long)((cpu_us(&self) + cpu_us(&kids)) / n));
	return 0;
}

/*
 * latency.c: dispatch latency. N times, alternately:
 *
 *   batchd: run.submit of a one-line Python job on an idle cluster; from
 *     the reply to the RUNNING status event, and from the reply to the
 *     first LogChunk with data; then wait for the run to end (SUCCEEDED and
 *     the stdout eof) so the cluster is idle again.
 *   direct: posix_spawn of the same interpreter and file, stdout a pipe,
 *     from the call to the first byte read.
 *
 * Interpreter start-up is in both, so the difference is what batchd adds:
 * commit, dispatch, the shim, the log file and inotify, the publication.
 *
 *   latency URL WS N FILE     (FILE: the job's file, for the direct spawn)
 *
 * Prints one JSON object; times in ms.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "batchd/v1/batchd.pb-c.h"

#define RUN_TIMEOUT_MS	30000
#define TOTAL_S		900

/* Has the run started, printed, ended and closed its stdout? */
static int
ended(const struct seen *s)
{
	return s->t_running != 0 && s->t_first != 0 && s->t_terminal != 0 &&
	    s->t_eof != 0;
}

/* ms from posix_spawn of argv to its first byte of output. */
static double
direct_once(char *const argv[])
{
	char	buf[4096];
	int64_t	t0, t1 = 0;
	ssize_t	n;
	pid_t	pid;
	int	fd, st;

	t0 = mono_ns();
	pid = spawn_direct(argv, -1, &fd);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (t1 == 0)
			t1 = mono_ns();
	close(fd);
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		die("direct %s %s: status 0x%x", argv[0], argv[1], st);
	if (t1 == 0)
		die("direct %s %s: no output", argv[0], argv[1]);
	return (double)(t1 - t0) / 1e6;
}

/* Print "name": {p50, p99, max, min} (sorts v). */
static void
print_dist(const char *name, double *v, size_t n, int comma)
{
	double	p50 = pctl(v, n, 50), p99 = pctl(v, n, 99);

	printf("\"%s\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f, "
	    "\"min\": %.3f}%s ", name, p50, p99, pctl(v, n, 100), v[0],
	    comma ? "," : "");
}

int
main(int argc, char **argv)
{
	natsConnection		*nc, *sub;
	struct collector	*col;
	struct seen		 s;
	char			 def[BUUID_LEN + 1], cl[BUUID_LEN + 1];
	char			 run[BUUID_LEN + 1], name[128], *file;
	char			*dargv[3];
	double			*to_run, *to_first, *req_first, *direct, *submit;
	double			 o50, o99;
	int64_t			 t0, t1, deadline;
	long			 n, i;

	if (argc != 5 || (n = atol(argv[3])) < 1 || n > 10000) {
		fprintf(stderr, "usage: latency URL WS N FILE\n");
		return 64;
	}
	file = argv[4];
	if (access(file, R_OK) == -1)
		die("%s: not readable", file);
	nc = bench_connect(argv[1]);
	sub = bench_connect(argv[1]);
	col = collector_start(sub, argv[2]);
	snprintf(name, sizeof name, "lat-%d", (int)getpid());
	bench_jobdef(nc, argv[2], name, strrchr(file, '/') + 1, NULL, 0, 0,
	    def);
	bench_cluster(nc, argv[2], name, cl);

	dargv[0] = (char *)python_path();
	dargv[1] = file;
	dargv[2] = NULL;
	to_run = emalloc((size_t)n * sizeof *to_run);
	to_first = emalloc((size_t)n * sizeof *to_first);
	req_first = emalloc((size_t)n * sizeof *req_first);
	direct = emalloc((size_t)n * sizeof *direct);
	submit = emalloc((size_t)n * sizeof *submit);
	deadline = mono_ns() + (int64_t)TOTAL_S * 1000000000;
	/* One untimed run of each, so caches are warm for both. */
	direct_once(dargv);
	bench_submit(nc, argv[2], def, cl, run);
	if (collector_wait(col, run, ended, RUN_TIMEOUT_MS, &s) == -1)
		die("warm-up run %s did not end", run);
	for (i = 0; i < n; i++) {
		if (mono_ns() > deadline)
			die("latency: over %d s", TOTAL_S);
		if (i % 2 == 1)
			direct[i] = direct_once(dargv);
		t0 = mono_ns();
		if (bench_submit(nc, argv[2], def, cl, run) !=
		    BATCHD__V1__JOB_RUN_STATUS__PENDING)
			die("run %s not PENDING on submission", run);
		t1 = mono_ns();
		if (collector_wait(col, run, ended, RUN_TIMEOUT_MS, &s) == -1)
			die("run %s: no end in %d ms (running=%d first=%d "
			    "terminal=%d eof=%d)", run, RUN_TIMEOUT_MS,
			    s.t_running != 0, s.t_first != 0,
			    s.t_terminal != 0, s.t_eof != 0);
		if (s.status != BATCHD__V1__JOB_RUN_STATUS__SUCCEEDED)
			die("run %s ended with status %d", run, s.status);
		submit[i] = (double)(t1 - t0) / 1e6;
		to_run[i] = (double)(s.t_running - t1) / 1e6;
		to_first[i] = (double)(s.t_first - t1) / 1e6;
		req_first[i] = (double)(s.t_first - t0) / 1e6;
		if (i % 2 == 0)
			direct[i] = direct_once(dargv);
	}
	printf("{\"n\": %ld, ", n);
	print_dist("submit_reply", submit, (size_t)n, 1);
	print_dist("reply_to_running", to_run, (size_t)n, 1);
	print_dist("reply_to_first_line", to_first, (size_t)n, 1);
	print_dist("request_to_first_line", req_first, (size_t)n, 1);
	print_dist("direct_to_first_line", direct, (size_t)n, 1);
	o50 = pctl(to_first, (size_t)n, 50) - pctl(direct, (size_t)n, 50);
	o99 = pctl(to_first, (size_t)n, 99) - pctl(direct, (size_t)n, 99);
	printf("\"overhead_p50\": %.3f, \"overhead_p99\": %.3f, "
	    "\"request_overhead_p50\": %.3f, "
	    "\"request_overhead_p99\": %.3f, \"dropped\": %llu}\n", o50, o99,
	    pctl(req_first, (size_t)n, 50) - pctl(direct, (size_t)n, 50),
	    pctl(req_first, (size_t)n, 99) - pctl(direct, (size_t)n, 99),
	    (unsigned long long)collector_dropped(col));
	collector_stop(col);
	natsConnection_Destroy(sub);
	natsConnection_Destroy(nc);
	free(to_run);
	free(to_first);
	free(req_first);
	free(direct);
	free(submit);
	nats_Close();
	return 0;
}

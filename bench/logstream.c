/*
 * logstream.c: log streaming. A Python job writes MIB MiB to stdout in
 * 1 MiB blocks:
 *
 *   direct, stdout /dev/null     wall from posix_spawn to waitpid
 *   direct, stdout a file        the same, into a file beside batchd's logs
 *   under batchd                 from the RUNNING event to the stdout eof
 *                                LogChunk received here: every byte went
 *                                through the shim, the log file, batchd and
 *                                NATS to this subscriber
 *
 *   logstream URL WS MIB FILE OUTDIR
 *
 * Every byte must arrive, at the right offsets. Prints one JSON object.
 */
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "batchd/v1/batchd.pb-c.h"

#define RUN_TIMEOUT_MS	300000

/* Has the run started, ended and closed its stdout? */
static int
ended(const struct seen *s)
{
	return s->t_running != 0 && s->t_terminal != 0 && s->t_eof != 0;
}

/* Wall ms of the job run directly with stdout to path. */
static double
direct(char *const argv[], const char *path)
{
	int64_t	t0, t1;
	pid_t	pid;
	int	fd, st;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		die("%s: cannot open", path);
	t0 = mono_ns();
	pid = spawn_direct(argv, fd, NULL);
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		die("direct %s: status 0x%x", argv[1], st);
	t1 = mono_ns();
	close(fd);
	return (double)(t1 - t0) / 1e6;
}

int
main(int argc, char **argv)
{
	natsConnection		*nc, *sub;
	struct collector	*col;
	struct seen		 s;
	char			 def[BUUID_LEN + 1], cl[BUUID_LEN + 1];
	char			 run[BUUID_LEN + 1], name[128], *file, *out;
	char			*dargv[4];
	double			 devnull, tofile, wall, e2e;
	uint64_t		 want;
	int64_t			 t1;
	long			 mib;

	if (argc != 6 || (mib = atol(argv[3])) < 1 || mib > 4096) {
		fprintf(stderr, "usage: logstream URL WS MIB FILE OUTDIR\n");
		return 64;
	}
	file = argv[4];
	want = (uint64_t)mib << 20;
	dargv[0] = (char *)python_path();
	dargv[1] = file;
	dargv[2] = argv[3];
	dargv[3] = NULL;
	if (asprintf(&out, "%s/direct.out", argv[5]) == -1)
		die("asprintf");

	devnull = direct(dargv, "/dev/null");
	tofile = direct(dargv, out);
	unlink(out);

	nc = bench_connect(argv[1]);
	sub = bench_connect(argv[1]);
	col = collector_start(sub, argv[2]);
	snprintf(name, sizeof name, "logs-%d", (int)getpid());
	bench_jobdef(nc, argv[2], name, strrchr(file, '/') + 1, argv[3], 0, 0,
	    def);
	bench_cluster(nc, argv[2], name, cl);
	bench_submit(nc, argv[2], def, cl, run);
	t1 = mono_ns();
	if (collector_wait(col, run, ended, RUN_TIMEOUT_MS, &s) == -1)
		die("run %s: no end in %d ms (running=%d terminal=%d eof=%d "
		    "bytes=%llu)", run, RUN_TIMEOUT_MS, s.t_running != 0,
		    s.t_terminal != 0, s.t_eof != 0,
		    (unsigned long long)s.bytes);
	if (s.status != BATCHD__V1__JOB_RUN_STATUS__SUCCEEDED)
		die("run %s ended with status %d", run, s.status);
	if (s.bytes != want || s.gaps != 0)
		die("run %s: %llu bytes received, %llu expected, %llu chunks "
		    "out of place", run, (unsigned long long)s.bytes,
		    (unsigned long long)want, (unsigned long long)s.gaps);
	wall = (double)(s.t_eof - s.t_running) / 1e6;
	e2e = (double)(s.t_eof - t1) / 1e6;
	printf("{\"mib\": %ld, \"direct_devnull_ms\": %.1f, "
	    "\"direct_file_ms\": %.1f, \"batchd_ms\": %.1f, "
	    "\"reply_to_eof_ms\": %.1f, \"shim_wall_ms\": %lld, "
	    "\"first_to_eof_ms\": %.1f, \"ratio_devnull\": %.3f, "
	    "\"ratio_file\": %.3f, \"mib_per_s\": %.1f, \"bytes\": %llu, "
	    "\"dropped\": %llu}\n", mib, devnull, tofile, wall, e2e,
	    (long long)s.wall_ms, (double)(s.t_eof - s.t_first) / 1e6,
	    wall / devnull, wall / tofile, (double)mib / (wall / 1e3),
	    (unsigned long long)s.bytes,
	    (unsigned long long)collector_dropped(col));
	collector_stop(col);
	natsConnection_Destroy(sub);
	natsConnection_Destroy(nc);
	free(out);
	nats_Close();
	return 0;
}

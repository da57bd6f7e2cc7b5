/*
 * logstream.c: log streaming. A Python job writes MIB MiB to stdout in
 * 1 MiB blocks:
 *
 *   direct, stdout /dev/null     wall from posix_spawn to waitpid
 *   direct, stdout a file        the same, into a file beside batchd's logs
 *   captured                     stdout a 1 MiB pipe that a SCHED_BATCH
 *                                reader here splices into such a file as
 *                                batchd's shim does (through a pipe of its
 *                                own, a 1 ms rest after a read unless the
 *                                job would fill half the pipe meanwhile):
 *                                the cost of capturing and storing,
 *                                nothing published
 *   beside the bus               the /dev/null run again, while a thread
 *                                here publishes as many bytes as LogChunks
 *                                at its /dev/null pace, a chunk every 8 ms
 *                                (as batchd does), to the same subscriber;
 *                                nothing stored: what sharing the machine
 *                                with the bus costs the job; twice: the
 *                                bytes as they are, and text lines like
 *                                the job's compressed as batchd does
 *   under batchd                 from the RUNNING event to the stdout eof
 *                                LogChunk received here: every byte went
 *                                through the shim, the log file, batchd and
 *                                NATS (compressed as batchd chose) to this
 *                                subscriber, which decodes what it gets
 *
 *   logstream URL WS MIB FILE OUTDIR
 *
 * Every byte must arrive, at the right offsets. Prints one JSON object.
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include <poll.h>
#include <sched.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "bench.h"
#include "batchd/v1/batchd.pb-c.h"

#define RUN_TIMEOUT_MS	300000
#define CHUNK_BYTES	(1024 * 1024 - 512) /* batchd: max_payload less 512 */
#define COALESCE_NS	8000000		/* batchd's COALESCE_MS */

/* Has the run started, ended and closed its stdout? */
static int
ended(const struct seen *s)
{
	return s->t_running != 0 && s->t_terminal != 0 && s->t_eof != 0;
}

/* Wait for the job pid to succeed; its user + system CPU ms to *cpu. */
static void
reap(pid_t pid, const char *what, double *cpu)
{
	struct rusage	ru;
	int		st;

	if (wait4(pid, &st, 0, &ru) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		die("%s: status 0x%x", what, st);
	if (cpu != NULL)
		*cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Wall ms of the job run directly with stdout to path; its CPU to *cpu. */
static double
direct(char *const argv[], const char *path, double *cpu)
{
	int64_t	t0, t1;
	pid_t	pid;
	int	fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		die("%s: cannot open", path);
	t0 = mono_ns();
	pid = spawn_direct(argv, fd, NULL);
	reap(pid, "direct", cpu);
	t1 = mono_ns();
	close(fd);
	return (double)(t1 - t0) / 1e6;
}

/*
 * Wall ms of the job with stdout a pipe that this thread splices into the
 * file path, as the shim moves a job's output into its log (shim.c
 * supervise(), drain()), until the pipe's end and the job's exit; the
 * job's CPU to *cpu.
 */
static double
captured(char *const argv[], const char *path, double *cpu)
{
	struct sched_param	 sp;
	struct pollfd		 pfd;
	int64_t			 t0, t1, last = 0, now;
	ssize_t			 n, m, w, got;
	pid_t			 pid;
	int			 fd, rfd, relay[2], rest = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		die("%s: cannot open", path);
	if (pipe2(relay, O_CLOEXEC) == -1)
		die("pipe: %s", strerror(errno));
	(void)fcntl(relay[0], F_SETPIPE_SZ, 1 << 20);
	memset(&sp, 0, sizeof sp);
	t0 = mono_ns();
	pid = spawn_direct(argv, -1, &rfd);
	(void)fcntl(rfd, F_SETPIPE_SZ, 1 << 20);
	if (fcntl(rfd, F_SETFL, O_NONBLOCK) == -1)
		die("fcntl: %s", strerror(errno));
	(void)sched_setscheduler(0, SCHED_BATCH, &sp);
	pfd.fd = rfd;
	pfd.events = POLLIN;
	for (;;) {
		if (rest)
			usleep(1000);
		if (!rest && poll(&pfd, 1, -1) == -1 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (got = 0; got < 1 << 20; got += n) {
			if ((n = splice(rfd, NULL, relay[1], NULL, 1 << 20,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK)) <= 0)
				break;
			for (m = n; m > 0; m -= w)
				if ((w = splice(relay[0], NULL, fd, NULL,
				    (size_t)m, SPLICE_F_MOVE)) <= 0)
					die("splice: %s", strerror(errno));
		}
		if (got == 0 && n == 0)
			break;		/* the job closed its stdout */
		if (got == 0 && errno != EAGAIN && errno != EINTR)
			die("splice: %s", strerror(errno));
		now = mono_ns();
		rest = got > 0 && (last == 0 || (int64_t)got * 1000000 <
		    (now - last) * (1 << 19));
		if (got > 0)
			last = now;
	}
	reap(pid, "captured", cpu);
	t1 = mono_ns();
	sp.sched_priority = 0;
	(void)sched_setscheduler(0, SCHED_OTHER, &sp);
	close(rfd);
	close(relay[0]);
	close(relay[1]);
	close(fd);
	return (double)(t1 - t0) / 1e6;
}

/* Has the stream's eof arrived? */
static int
eof_seen(const struct seen *s)
{
	return s->t_eof != 0;
}

struct pacer {
	natsConnection	*nc;
	const char	*subject, *run;
	uint64_t	 total;		/* bytes to publish */
	int64_t		 dur_ns;	/* spread over this long */
	uint8_t		*pk;		/* a packed LogChunk */
	size_t		 cap;
	ZSTD_CCtx	*zc;		/* compress as batchd, or NULL */
	uint8_t		*z;
	size_t		 zcap;
};

/* Publish one LogChunk of p's made-up run. */
static void
pace_chunk(struct pacer *p, uint64_t off, uint8_t *data, size_t len,
    int eof)
{
	Batchd__V1__LogChunk	 ch = BATCHD__V1__LOG_CHUNK__INIT;
	size_t			 n;
	natsStatus		 st;

	ch.run_uuid = (char *)p->run;
	ch.attempt = 1;
	ch.stream = BATCHD__V1__LOG_STREAM__STDOUT;
	ch.offset = off;
	ch.data.data = data;
	ch.data.len = len;
	ch.eof = eof;
	if (p->zc != NULL && len >= 512) {	/* batchd's rule: logs.c */
		if (ZSTD_compressBound(len) > p->zcap)
			p->z = erealloc(p->z, p->zcap = ZSTD_compressBound(len));
		n = ZSTD_compressCCtx(p->zc, p->z, p->zcap, data, len, 1);
		if (!ZSTD_isError(n) && n < len - len / 16) {
			ch.encoding = BATCHD__V1__LOG_ENCODING__ZSTD;
			ch.size = (uint32_t)len;
			ch.data.data = p->z;
			ch.data.len = n;
		}
	}
	if ((n = batchd__v1__log_chunk__get_packed_size(&ch)) > p->cap)
		p->pk = erealloc(p->pk, p->cap = n);
	batchd__v1__log_chunk__pack(&ch, p->pk);
	if ((st = natsConnection_Publish(p->nc, p->subject, p->pk,
	    (int)n)) != NATS_OK)
		die("publish %s: %s", p->subject, natsStatus_GetText(st));
}

/* Text lines as lines.py writes them (run.py), as many as fit in len. */
static void
fill_lines(uint8_t *buf, size_t len)
{
	char		line[160];
	size_t		off = 0, n;
	long long	i;

	for (i = 0; off < len; i++) {
		n = (size_t)snprintf(line, sizeof line, "%012lld level=info "
		    "step=%06lld rows=%09lld status=ok %.66s\n", i, i % 999983,
		    i * 7919 % 1000000000, "................................."
		    ".................................");
		if (n > len - off)
			n = len - off;
		memcpy(buf + off, line, n);
		off += n;
	}
}

/*
 * Publish p->total bytes as LogChunks spread evenly over p->dur_ns, a
 * chunk every COALESCE_NS as batchd publishes a busy stream, then the eof.
 */
static void *
pace(void *arg)
{
	struct pacer	*p = arg;
	struct timespec	 ts;
	uint8_t		*buf;
	uint64_t	 off = 0, due;
	int64_t		 t0, now;
	size_t		 n;

	buf = emalloc(CHUNK_BYTES);
	fill_lines(buf, CHUNK_BYTES);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = mono_ns();
	while (off < p->total) {
		now = mono_ns();
		due = now - t0 >= p->dur_ns ? p->total :
		    (uint64_t)((double)p->total * (double)(now - t0) /
		    (double)p->dur_ns);
		while (off < due) {
			n = due - off < CHUNK_BYTES ? due - off : CHUNK_BYTES;
			pace_chunk(p, off, buf, n, 0);
			off += n;
		}
		ts.tv_nsec += COALESCE_NS;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	pace_chunk(p, off, NULL, 0, 1);
	free(p->pk);
	free(p->z);
	free(buf);
	return NULL;
}

/*
 * Wall ms of the job writing to /dev/null while the bus carries as many
 * bytes as it writes, at its /dev/null pace (devnull_ms), from a publisher
 * here to the subscriber: what sharing the machine with the bus costs the
 * job, whatever publishes its output. Nothing is stored. With zstd, text
 * lines like the job's go compressed as batchd sends them, else as they
 * are.
 */
static double
beside_bus(char *const argv[], natsConnection *nc, struct collector *col,
    const char *ws, uint64_t total, double devnull_ms, int zstd)
{
	struct pacer	 p;
	struct seen	 s;
	pthread_t	 th;
	char		 run[64], subject[256];
	double		 wall;

	snprintf(run, sizeof run, "bus%s-%d", zstd ? "z" : "", (int)getpid());
	snprintf(subject, sizeof subject, "batchd.v1.%s.logs.%s", ws, run);
	memset(&p, 0, sizeof p);
	p.nc = nc;
	p.subject = subject;
	p.run = run;
	p.total = total;
	p.dur_ns = (int64_t)(devnull_ms * 1e6);
	if (zstd && (p.zc = ZSTD_createCCtx()) == NULL)
		die("ZSTD_createCCtx: out of memory");
	if ((errno = pthread_create(&th, NULL, pace, &p)) != 0)
		die("pthread_create: %s", strerror(errno));
	wall = direct(argv, "/dev/null", NULL);
	pthread_join(th, NULL);
	ZSTD_freeCCtx(p.zc);
	if (collector_wait(col, run, eof_seen, RUN_TIMEOUT_MS, &s) == -1)
		die("bus %s: no eof in %d ms", run, RUN_TIMEOUT_MS);
	if (s.bytes != total || s.gaps != 0)
		die("bus %s: %llu bytes received, %llu sent, %llu out of place",
		    run, (unsigned long long)s.bytes,
		    (unsigned long long)total, (unsigned long long)s.gaps);
	return wall;
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
	double			 devnull, tofile, capt, bus, busz, wall, e2e;
	double			 devnull_cpu, capt_cpu;
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

	devnull = direct(dargv, "/dev/null", &devnull_cpu);
	tofile = direct(dargv, out, NULL);
	unlink(out);
	capt = captured(dargv, out, &capt_cpu);
	unlink(out);

	nc = bench_connect(argv[1]);
	sub = bench_connect(argv[1]);
	col = collector_start(sub, argv[2]);
	bus = beside_bus(dargv, nc, col, argv[2], want, devnull, 0);
	busz = beside_bus(dargv, nc, col, argv[2], want, devnull, 1);
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
	    "\"direct_file_ms\": %.1f, \"bus_ms\": %.1f, "
	    "\"ratio_bus\": %.3f, \"batchd_over_bus\": %.3f, "
	    "\"captured_ms\": %.1f, \"ratio_captured\": %.3f, "
	    "\"batchd_over_captured\": %.3f, "
	    "\"busz_ms\": %.1f, \"ratio_busz\": %.3f, "
	    "\"batchd_over_busz\": %.3f, "
	    "\"batchd_ms\": %.1f, "
	    "\"reply_to_eof_ms\": %.1f, \"shim_wall_ms\": %lld, "
	    "\"first_to_eof_ms\": %.1f, \"ratio_devnull\": %.3f, "
	    "\"ratio_file\": %.3f, \"mib_per_s\": %.1f, \"bytes\": %llu, "
	    "\"devnull_cpu_ms\": %.1f, \"captured_cpu_ms\": %.1f, "
	    "\"batchd_cpu_ms\": %.1f, "
	    "\"wire_bytes\": %llu, \"dropped\": %llu}\n", mib, devnull,
	    tofile, bus, bus / devnull, wall / bus, capt, capt / devnull,
	    wall / capt, busz, busz / devnull,
	    wall / busz, wall, e2e,
	    (long long)s.wall_ms, (double)(s.t_eof - s.t_first) / 1e6,
	    wall / devnull, wall / tofile, (double)mib / (wall / 1e3),
	    (unsigned long long)s.bytes, devnull_cpu, capt_cpu,
	    (double)s.cpu_us / 1e3, (unsigned long long)s.wire,
	    (unsigned long long)collector_dropped(col));
	collector_stop(col);
	natsConnection_Destroy(sub);
	natsConnection_Destroy(nc);
	free(out);
	nats_Close();
	return 0;
}

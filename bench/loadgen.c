/*
 * loadgen.c: closed-loop request load, K client threads, each with its own
 * connection, each waiting for the reply of one request before sending the
 * next. Three targets, the same payload bytes (a packed run.submit request):
 *
 *   loadgen batchd URL WS K WARM_S DUR_S CLUSTERS
 *       run.submit to batchd, spread round-robin over CLUSTERS clusters made
 *       for this invocation; every reply must decode with no error and say
 *       PENDING. Each cluster is held first by a "holder" run that fails to
 *       fetch its file and waits a week to retry, so no process is started
 *       and the submissions only queue (see bench/README.md).
 *   loadgen echo URL SUBJECT K WARM_S DUR_S
 *       the same requests to bench/echo (the bus ceiling); the reply must
 *       equal the request.
 *   loadgen beanstalk PORT K WARM_S DUR_S
 *       "put 0 0 60 N" with the same payload over TCP to beanstalkd; the
 *       reply must be "INSERTED id".
 *
 * Only replies that arrive between WARM_S and WARM_S + DUR_S after the start
 * are counted. Every thread stops by WARM_S + DUR_S + 10 s whatever happens.
 * Prints one JSON object: rate (replies/s), errors, latency percentiles and
 * "acked", every successful reply including warm-up (for the durability
 * check of the driver). With BENCH_WATCH_PID set, also the CPU time that
 * process (all threads, and its main thread) used in that same window:
 * "watch_cpu_s", "watch_main_cpu_s" (-1 without it).
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "batchd/v1/batchd.pb-c.h"

#define REQ_TIMEOUT_MS	10000
#define SETUP_THREADS	16

enum target { T_BATCHD, T_ECHO, T_BEANSTALK };

struct worker {
	pthread_t	 th;
	int		 id;
	natsConnection	*nc;
	int		 fd;		/* beanstalkd, or NATS without cnats */
	char		 inbox[64];	/* the raw client's reply subject */
	char		 rbuf[4096];
	size_t		 rlen;
	uint64_t	 ok, errors, timeouts, acked;
	double		*lat;		/* µs, replies in the window */
	size_t		 nlat, caplat;
	char		 why[256];	/* first error */
};

static enum target	 target;
static const char	*subject;
static int		 port;
static int		 raw;		/* BENCH_CLIENT=raw: NATS by hand */
static int64_t		 t_setup, t_start, t_from, t_to, t_stop;
static uint8_t		**payloads;
static size_t		*paylens;
static size_t		 npayloads;
static pthread_barrier_t barrier;

static void	note_error(struct worker *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Count an error; the first one's text is kept for the report. */
static void
note_error(struct worker *w, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	w->errors++;
	if (w->why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof w->why, fmt, ap);
	va_end(ap);
	for (p = w->why; *p != '\0'; p++)	/* it goes into JSON */
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '?';
}

/* CPU seconds of /proc/PATH/stat (utime + stime), or -1. */
static double
proc_cpu_s(const char *path)
{
	char			 buf[1024], *p;
	unsigned long long	 ut, st;
	ssize_t			 n;
	int			 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* After "pid (comm) ": state is field 3, utime 14, stime 15. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Sleep until the monotonic time t (ns). */
static void
sleep_until(int64_t t)
{
	struct timespec	ts = { (time_t)(t / 1000000000),
			    (long)(t % 1000000000) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

/* A good reply: count it, and its latency if in the window. */
static void
record(struct worker *w, int64_t t0, int64_t t1)
{
	w->acked++;
	if (t1 < t_from || t1 > t_to)
		return;
	w->ok++;
	if (w->nlat == w->caplat) {
		w->caplat = w->caplat == 0 ? 4096 : w->caplat * 2;
		w->lat = erealloc(w->lat, w->caplat * sizeof *w->lat);
	}
	w->lat[w->nlat++] = (double)(t1 - t0) / 1000.0;
}

/* Check a reply to payload i; 1 if good, else 0 (the error noted). */
static int
check_reply(struct worker *w, size_t i, const void *data, size_t len)
{
	Batchd__V1__JobRunReply	*r;
	int			 good = 0;

	if (target == T_ECHO) {
		if (len == paylens[i] && memcmp(data, payloads[i], len) == 0)
			return 1;
		note_error(w, "%s", "echo reply differs");
		return 0;
	}
	r = batchd__v1__job_run_reply__unpack(NULL, len, data);
	if (r == NULL)
		note_error(w, "%s", "reply does not decode");
	else if (r->error != NULL)
		note_error(w, "batchd error: %s", r->error->message);
	else if (r->job_run != NULL &&
	    r->job_run->status == BATCHD__V1__JOB_RUN_STATUS__PENDING)
		good = 1;
	else
		note_error(w, "%s", "reply is not a PENDING run");
	if (r != NULL)
		batchd__v1__job_run_reply__free_unpacked(r, NULL);
	return good;
}

/* One request/reply through cnats; 0 or -1 (counted). */
static int
nats_one(struct worker *w, size_t i)
{
	natsMsg		*m = NULL;
	natsStatus	 s;
	int64_t		 t0, t1;
	int		 good;

	t0 = mono_ns();
	s = natsConnection_Request(&m, w->nc, subject, payloads[i],
	    (int)paylens[i], REQ_TIMEOUT_MS);
	t1 = mono_ns();
	if (s == NATS_TIMEOUT) {
		w->timeouts++;
		note_error(w, "timeout");
		return -1;
	}
	if (s != NATS_OK) {
		note_error(w, "request: %s", natsStatus_GetText(s));
		return -1;
	}
	good = check_reply(w, i, natsMsg_GetData(m),
	    (size_t)natsMsg_GetDataLength(m));
	natsMsg_Destroy(m);
	if (!good)
		return -1;
	record(w, t0, t1);
	return 0;
}

/*
 * Send the command line in cmd (n bytes, with room behind it), payload i
 * and CRLF, in one write; *t0: when. 0, or -1 (the error noted).
 */
static int
send_cmd(struct worker *w, char *cmd, size_t n, size_t i, int64_t *t0)
{
	memcpy(cmd + n, payloads[i], paylens[i]);
	n += paylens[i];
	memcpy(cmd + n, "\r\n", 2);
	n += 2;
	*t0 = mono_ns();
	if (write(w->fd, cmd, n) != (ssize_t)n) {
		note_error(w, "write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Read more into w->rbuf; 0, or -1 (the error noted). */
static int
raw_fill(struct worker *w)
{
	ssize_t	r;

	if (w->rlen == sizeof w->rbuf) {
		note_error(w, "%s", "NATS line too long");
		return -1;
	}
	r = read(w->fd, w->rbuf + w->rlen, sizeof w->rbuf - w->rlen);
	if (r <= 0) {
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			w->timeouts++;
		note_error(w, "read: %s", r == 0 ? "eof" : strerror(errno));
		return -1;
	}
	w->rlen += (size_t)r;
	return 0;
}

/* Drop the first n bytes of w->rbuf. */
static void
raw_consume(struct worker *w, size_t n)
{
	memmove(w->rbuf, w->rbuf + n, w->rlen - n);
	w->rlen -= n;
}

/*
 * The next MSG on w's connection, answering PINGs on the way: its payload
 * is w->rbuf[*off, *off + *len), to be consumed (*off + *len + 2) by the
 * caller. 0 or -1 (the error noted).
 */
static int
raw_msg(struct worker *w, size_t *off, size_t *len)
{
	char	*nl, *sp;
	size_t	 ll;

	for (;;) {
		while ((nl = memchr(w->rbuf, '\n', w->rlen)) == NULL)
			if (raw_fill(w) == -1)
				return -1;
		ll = (size_t)(nl - w->rbuf) + 1;
		if (ll >= 4 && memcmp(w->rbuf, "MSG ", 4) == 0)
			break;
		if (ll >= 4 && memcmp(w->rbuf, "PING", 4) == 0 &&
		    write(w->fd, "PONG\r\n", 6) != 6) {
			note_error(w, "write: %s", strerror(errno));
			return -1;
		}
		if (w->rbuf[0] == '-') {
			note_error(w, "server: %.*s", (int)ll - 2, w->rbuf);
			return -1;
		}
		raw_consume(w, ll);	/* PING, PONG, +OK, INFO */
	}
	*nl = '\0';
	if ((sp = strrchr(w->rbuf, ' ')) == NULL) {
		note_error(w, "%s", "bad MSG line");
		return -1;
	}
	*len = (size_t)strtoul(sp + 1, NULL, 10);
	*off = ll;
	if (ll + *len + 2 > sizeof w->rbuf) {
		note_error(w, "%s", "MSG too long");
		return -1;
	}
	while (w->rlen < ll + *len + 2)
		if (raw_fill(w) == -1)
			return -1;
	return 0;
}

/*
 * One request/reply over the NATS protocol written by hand, as bean_one()
 * speaks beanstalkd's: a PUB with w's inbox as the reply subject, then
 * the MSG on it. 0 or -1 (counted).
 */
static int
raw_one(struct worker *w, size_t i)
{
	char	 cmd[256 + 1024];
	size_t	 n, off, len;
	int64_t	 t0, t1;
	int	 good;

	n = (size_t)snprintf(cmd, sizeof cmd, "PUB %s %s %zu\r\n", subject,
	    w->inbox, paylens[i]);
	if (send_cmd(w, cmd, n, i, &t0) == -1 || raw_msg(w, &off, &len) == -1)
		return -1;
	t1 = mono_ns();
	good = check_reply(w, i, w->rbuf + off, len);
	raw_consume(w, off + len + 2);
	if (!good)
		return -1;
	record(w, t0, t1);
	return 0;
}

/* One put over the beanstalkd protocol; 0 or -1. */
static int
bean_one(struct worker *w, size_t i)
{
	char	 cmd[128 + 1024], rep[128];
	size_t	 n, got = 0;
	ssize_t	 r;
	int64_t	 t0, t1;

	n = (size_t)snprintf(cmd, sizeof cmd, "put 0 0 60 %zu\r\n", paylens[i]);
	if (send_cmd(w, cmd, n, i, &t0) == -1)
		return -1;
	for (;;) {
		if ((r = read(w->fd, rep + got, sizeof rep - 1 - got)) <= 0) {
			note_error(w, "read: %s", r == 0 ? "eof" :
			    strerror(errno));
			return -1;
		}
		got += (size_t)r;
		if (got >= 2 && rep[got - 2] == '\r' && rep[got - 1] == '\n')
			break;
		if (got == sizeof rep - 1) {
			note_error(w, "%s", "reply too long");
			return -1;
		}
	}
	t1 = mono_ns();
	rep[got] = '\0';
	if (strncmp(rep, "INSERTED ", 9) != 0) {
		note_error(w, "beanstalkd: %s", rep);
		return -1;
	}
	record(w, t0, t1);
	return 0;
}

/* A client thread: requests in a closed loop until the window ends. */
static void *
work(void *arg)
{
	struct worker	*w = arg;
	size_t		 i = (size_t)w->id * 7919;
	int		 rc;

	pthread_barrier_wait(&barrier);
	while (mono_ns() < t_to) {
		i = (i + 1) % npayloads;
		rc = target == T_BEANSTALK ? bean_one(w, i) :
		    raw ? raw_one(w, i) : nats_one(w, i);
		/* After a failure, keep the loop bounded but do not spin. */
		if (rc == -1 && w->errors > 1000)
			break;
		if (mono_ns() > t_stop)
			break;
	}
	return NULL;
}

/* A TCP connection to 127.0.0.1:to, with timeouts. */
static int
tcp_connect(int to)
{
	struct sockaddr_in	sin;
	struct timeval		tv = { REQ_TIMEOUT_MS / 1000, 0 };
	int			fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)to);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		die("connect 127.0.0.1:%d: %s", to, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

/*
 * A NATS connection without cnats: CONNECT, a subscription to w's inbox,
 * and a PING whose PONG says the server has both.
 */
static void
raw_connect(struct worker *w, const char *url)
{
	const char	*p = strrchr(url, ':');
	char		 cmd[512];
	size_t		 n, off, len;

	if (p == NULL || strncmp(url, "nats://127.0.0.1:", 17) != 0)
		die("BENCH_CLIENT=raw: %s is not nats://127.0.0.1:PORT", url);
	w->fd = tcp_connect(atoi(p + 1));
	snprintf(w->inbox, sizeof w->inbox, "_INBOX.lg%d.%d", (int)getpid(),
	    w->id);
	n = (size_t)snprintf(cmd, sizeof cmd, "CONNECT {\"verbose\":false,"
	    "\"pedantic\":false,\"protocol\":1,\"name\":\"loadgen\"}\r\n"
	    "SUB %s 1\r\nPING\r\n", w->inbox);
	if (write(w->fd, cmd, n) != (ssize_t)n)
		die("write: %s", strerror(errno));
	for (;;) {
		char *nl;

		while ((nl = memchr(w->rbuf, '\n', w->rlen)) == NULL)
			if (raw_fill(w) == -1)
				die("nats handshake: %s", w->why);
		off = (size_t)(nl - w->rbuf) + 1;
		if (w->rbuf[0] == '-')
			die("nats handshake: %.*s", (int)off - 2, w->rbuf);
		len = off >= 4 && memcmp(w->rbuf, "PONG", 4) == 0;
		raw_consume(w, off);
		if (len)
			break;
	}
}

/* ------------------------------------------------------------ batchd setup */

struct setup {
	pthread_t	 th;
	const char	*url, *ws, *holder;
	char		(*clusters)[BUUID_LEN + 1];
	char		(*holders)[BUUID_LEN + 1];
	size_t		 from, to;
	const char	*tag;
};

/* Make clusters [from, to) and hold each with a holder run. */
static void *
setup_range(void *arg)
{
	struct setup	*s = arg;
	natsConnection	*nc = bench_connect(s->url);
	char		 name[128];
	size_t		 i;
	int		 st, reason;

	for (i = s->from; i < s->to; i++) {
		snprintf(name, sizeof name, "lg-%s-%05zu", s->tag, i);
		bench_cluster(nc, s->ws, name, s->clusters[i]);
		bench_submit(nc, s->ws, s->holder, s->clusters[i],
		    s->holders[i]);
	}
	/* Wait until each holder failed its attempt and waits to retry. */
	for (i = s->from; i < s->to; i++) {
		int64_t	dl = mono_ns() + 10000000000LL;

		for (;;) {
			bench_run_get(nc, s->ws, s->holders[i], &st, &reason);
			if (st == BATCHD__V1__JOB_RUN_STATUS__PENDING &&
			    reason == BATCHD__V1__STATUS_REASON__RETRY_PENDING)
				break;
			if (mono_ns() > dl)
				die("holder %s: status %d reason %d after 10 s",
				    s->holders[i], st, reason);
			sleep_ms(2);
		}
	}
	natsConnection_Destroy(nc);
	return NULL;
}

/* Definitions and held clusters; one payload per cluster. */
static void
setup_batchd(const char *url, const char *ws, size_t nclusters)
{
	struct setup	 s[SETUP_THREADS];
	natsConnection	*nc = bench_connect(url);
	char		 holder[BUUID_LEN + 1], load[BUUID_LEN + 1];
	char		 name[128], tag[64];
	char		(*clusters)[BUUID_LEN + 1];
	char		(*holders)[BUUID_LEN + 1];
	size_t		 i, nt = nclusters < SETUP_THREADS ? nclusters :
			    SETUP_THREADS;

	snprintf(tag, sizeof tag, "%d-%lld", (int)getpid(),
	    (long long)(mono_ns() / 1000000));
	/* Neither file exists: no run of either ever starts a process. */
	snprintf(name, sizeof name, "holder-%s", tag);
	bench_jobdef(nc, ws, name, "absent-holder.py", NULL, 1, 7 * 86400,
	    holder);
	snprintf(name, sizeof name, "load-%s", tag);
	bench_jobdef(nc, ws, name, "absent-load.py", NULL, 0, 0, load);
	natsConnection_Destroy(nc);

	clusters = emalloc(nclusters * sizeof *clusters);
	holders = emalloc(nclusters * sizeof *holders);
	for (i = 0; i < nt; i++) {
		s[i].url = url;
		s[i].ws = ws;
		s[i].holder = holder;
		s[i].clusters = clusters;
		s[i].holders = holders;
		s[i].from = nclusters * i / nt;
		s[i].to = nclusters * (i + 1) / nt;
		s[i].tag = tag;
		if (pthread_create(&s[i].th, NULL, setup_range, &s[i]) != 0)
			die("pthread_create");
	}
	for (i = 0; i < nt; i++)
		pthread_join(s[i].th, NULL);
	npayloads = nclusters;
	payloads = emalloc(npayloads * sizeof *payloads);
	paylens = emalloc(npayloads * sizeof *paylens);
	for (i = 0; i < nclusters; i++)
		payloads[i] = bench_submit_payload(load, clusters[i],
		    &paylens[i]);
	free(clusters);
	free(holders);
}

/* The same bytes for echo and beanstalkd: a submit of made-up uuids. */
static void
setup_fixed(void)
{
	npayloads = 1;
	payloads = emalloc(sizeof *payloads);
	paylens = emalloc(sizeof *paylens);
	payloads[0] = bench_submit_payload(
	    "3f1c9a52-7e0b-4d8e-9a61-2b5f0c7d4e13",
	    "a8d24e71-05c3-4b9f-8e2a-6c1d9f3b7a50", &paylens[0]);
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen batchd URL WS K WARM_S DUR_S CLUSTERS\n"
	    "       loadgen echo URL SUBJECT K WARM_S DUR_S\n"
	    "       loadgen beanstalk PORT K WARM_S DUR_S\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	struct worker	*w;
	const char	*url = NULL, *mode;
	double		 warm, dur, *all, secs;
	double		 cpu[2][2] = { { -1, -1 }, { -1, -1 } };
	char		 stat[2][64];
	const char	*watch = getenv("BENCH_WATCH_PID");
	uint64_t	 ok = 0, errors = 0, timeouts = 0, acked = 0;
	size_t		 nall = 0, i;
	int		 k, a = 2;
	const char	*why = "";

	if (argc < 2)
		usage();
	mode = argv[1];
	raw = getenv("BENCH_CLIENT") != NULL &&
	    strcmp(getenv("BENCH_CLIENT"), "raw") == 0;
	if (strcmp(mode, "batchd") == 0 && argc == 8) {
		target = T_BATCHD;
		url = argv[a++];
		subject = NULL;
	} else if (strcmp(mode, "echo") == 0 && argc == 7) {
		target = T_ECHO;
		url = argv[a++];
		subject = argv[a++];
	} else if (strcmp(mode, "beanstalk") == 0 && argc == 6) {
		target = T_BEANSTALK;
		port = atoi(argv[a++]);
	} else
		usage();
	if (target == T_BATCHD) {
		static char	subj[256];

		snprintf(subj, sizeof subj, "batchd.v1.%s.run.submit",
		    argv[a++]);
		subject = subj;
	}
	k = atoi(argv[a++]);
	warm = atof(argv[a++]);
	dur = atof(argv[a++]);
	if (k < 1 || k > 4096 || warm < 0 || dur <= 0 || warm + dur > 600)
		usage();
	t_setup = mono_ns();
	if (target == T_BATCHD) {
		long	c = atol(argv[a++]);

		if (c < 1 || c > 100000)
			usage();
		setup_batchd(url, argv[3], (size_t)c);
	} else
		setup_fixed();

	w = emalloc((size_t)k * sizeof *w);
	memset(w, 0, (size_t)k * sizeof *w);
	for (i = 0; i < (size_t)k; i++) {
		w[i].id = (int)i;
		w[i].fd = -1;
		if (target == T_BEANSTALK)
			w[i].fd = tcp_connect(port);
		else if (raw)
			raw_connect(&w[i], url);
		else
			w[i].nc = bench_connect(url);
	}
	pthread_barrier_init(&barrier, NULL, (unsigned)k + 1);
	t_start = mono_ns();
	t_setup = t_start - t_setup;
	t_from = t_start + (int64_t)(warm * 1e9);
	t_to = t_from + (int64_t)(dur * 1e9);
	t_stop = t_to + 10000000000LL;
	for (i = 0; i < (size_t)k; i++)
		if (pthread_create(&w[i].th, NULL, work, &w[i]) != 0)
			die("pthread_create");
	pthread_barrier_wait(&barrier);
	if (watch != NULL && atoi(watch) > 0) {
		snprintf(stat[0], sizeof stat[0], "/proc/%d/stat", atoi(watch));
		snprintf(stat[1], sizeof stat[1], "/proc/%d/task/%d/stat",
		    atoi(watch), atoi(watch));
		sleep_until(t_from);
		cpu[0][0] = proc_cpu_s(stat[0]);
		cpu[0][1] = proc_cpu_s(stat[1]);
		sleep_until(t_to);
		cpu[1][0] = proc_cpu_s(stat[0]);
		cpu[1][1] = proc_cpu_s(stat[1]);
	}
	for (i = 0; i < (size_t)k; i++)
		pthread_join(w[i].th, NULL);

	all = emalloc(1);
	for (i = 0; i < (size_t)k; i++) {
		ok += w[i].ok;
		errors += w[i].errors;
		timeouts += w[i].timeouts;
		acked += w[i].acked;
		if (w[i].why[0] != '\0' && why[0] == '\0')
			why = w[i].why;
		all = erealloc(all, (nall + w[i].nlat) * sizeof *all);
		memcpy(all + nall, w[i].lat, w[i].nlat * sizeof *all);
		nall += w[i].nlat;
	}
	secs = dur;
	printf("{\"target\": \"%s\", \"k\": %d, \"secs\": %.3f, "
	    "\"replies\": %llu, \"rate\": %.1f, \"errors\": %llu, "
	    "\"timeouts\": %llu, \"acked\": %llu, \"payload_bytes\": %zu, "
	    "\"lat_p50_us\": %.1f, \"lat_p99_us\": %.1f, "
	    "\"lat_max_us\": %.1f, \"setup_s\": %.3f, "
	    "\"watch_cpu_s\": %.3f, \"watch_main_cpu_s\": %.3f, "
	    "\"client\": \"%s\", \"first_error\": \"%s\"}\n",
	    mode, k, secs, (unsigned long long)ok, (double)ok / secs,
	    (unsigned long long)errors, (unsigned long long)timeouts,
	    (unsigned long long)acked, paylens[0], pctl(all, nall, 50),
	    pctl(all, nall, 99), pctl(all, nall, 100), (double)t_setup / 1e9,
	    cpu[0][0] < 0 || cpu[1][0] < 0 ? -1 : cpu[1][0] - cpu[0][0],
	    cpu[0][1] < 0 || cpu[1][1] < 0 ? -1 : cpu[1][1] - cpu[0][1],
	    target == T_BEANSTALK ? "socket" : raw ? "raw" : "cnats", why);
	for (i = 0; i < (size_t)k; i++) {
		if (w[i].nc != NULL)
			natsConnection_Destroy(w[i].nc);
		if (w[i].fd != -1)
			close(w[i].fd);
		free(w[i].lat);
	}
	for (i = 0; i < npayloads; i++)
		free(payloads[i]);
	free(payloads);
	free(paylens);
	free(all);
	free(w);
	nats_Close();
	return errors != 0 ? 1 : 0;
}

/*
 * common.c: helpers of the benchmark tools (see bench.h).
 *
 * The collector's callbacks run on cnats delivery threads; its records are
 * guarded by one mutex and waited on with one condition variable.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "bench.h"
#include "batchd/v1/batchd.pb-c.h"

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t
mono_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleep ms milliseconds, across signals. */
void
sleep_ms(int64_t ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Print "bench: ..." on stderr and exit 1. */
void
die(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* malloc that cannot fail (it dies). */
void *
emalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		die("out of memory");
	return p;
}

/* realloc that cannot fail (it dies). */
void *
erealloc(void *p, size_t n)
{
	if ((p = realloc(p, n == 0 ? 1 : n)) == NULL)
		die("out of memory");
	return p;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile. */
double
pctl(double *v, size_t n, double p)
{
	size_t	i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

/* ------------------------------------------------------------ nats */

extern void	natsMsg_free(void *) __attribute__((weak));

void
bench_msg_free(natsMsg *m)
{
	if (natsMsg_free != NULL)
		natsMsg_free(m);
	else
		natsMsg_Destroy(m);
}

/* Connect to url; dies on failure. */
natsConnection *
bench_connect(const char *url)
{
	natsConnection	*nc = NULL;
	natsOptions	*o = NULL;
	natsStatus	 s;

	if ((s = natsOptions_Create(&o)) != NATS_OK ||
	    (s = natsOptions_SetURL(o, url)) != NATS_OK ||
	    (s = natsOptions_SetSendAsap(o, true)) != NATS_OK ||
	    (s = natsOptions_SetAllowReconnect(o, false)) != NATS_OK ||
	    (s = natsOptions_SetTimeout(o, 5000)) != NATS_OK ||
	    (s = natsConnection_Connect(&nc, o)) != NATS_OK)
		die("nats connect %s: %s", url, natsStatus_GetText(s));
	natsOptions_Destroy(o);
	return nc;
}

/* Pack req, send it on subject, wait for the reply. */
natsMsg *
bench_request(natsConnection *nc, const char *subject,
    const ProtobufCMessage *req, int64_t timeout_ms, natsStatus *st)
{
	natsMsg	*reply = NULL;
	uint8_t	 small[512], *buf = small;
	size_t	 n;

	n = protobuf_c_message_get_packed_size(req);
	if (n > sizeof small)
		buf = emalloc(n);
	protobuf_c_message_pack(req, buf);
	*st = natsConnection_Request(&reply, nc, subject, buf, (int)n,
	    timeout_ms);
	if (buf != small)
		free(buf);
	return *st == NATS_OK ? reply : NULL;
}

/* A request to batchd.v1.{ws}.{verb} that must be answered. */
static natsMsg *
must_request(natsConnection *nc, const char *ws, const char *verb,
    const ProtobufCMessage *req)
{
	char		 subject[256];
	natsMsg		*m;
	natsStatus	 s;

	snprintf(subject, sizeof subject, "batchd.v1.%s.%s", ws, verb);
	if ((m = bench_request(nc, subject, req, 10000, &s)) == NULL)
		die("%s: %s", subject, natsStatus_GetText(s));
	return m;
}

/* Die if a reply carries an error. */
static void
check_error(const char *what, const Batchd__V1__Error *e)
{
	if (e != NULL)
		die("%s: error %d: %s (%s)", what, (int)e->code,
		    e->message, e->field);
}

/* Create a PYTHON definition of jobs/{file} in ws; its uuid into uuid. */
void
bench_jobdef(natsConnection *nc, const char *ws, const char *name,
    const char *file, const char *args, int retries, int delay_s,
    char *uuid)
{
	Batchd__V1__CreateJobDefinitionRequest	 req =
	    BATCHD__V1__CREATE_JOB_DEFINITION_REQUEST__INIT;
	Batchd__V1__JobConfig			 cfg =
	    BATCHD__V1__JOB_CONFIG__INIT;
	Batchd__V1__JobSource			 src =
	    BATCHD__V1__JOB_SOURCE__INIT;
	Batchd__V1__WorkspaceSource		 wsrc =
	    BATCHD__V1__WORKSPACE_SOURCE__INIT;
	Batchd__V1__RetryStrategy		 retry =
	    BATCHD__V1__RETRY_STRATEGY__INIT;
	Batchd__V1__JobDefinitionReply		*r;
	natsMsg					*m;

	wsrc.path = "jobs";
	src.type = BATCHD__V1__SOURCE_TYPE__WORKSPACE;
	src.definition_case = BATCHD__V1__JOB_SOURCE__DEFINITION_WORKSPACE;
	src.workspace = &wsrc;
	cfg.source = &src;
	cfg.type = BATCHD__V1__JOB_TYPE__PYTHON;
	cfg.source_location = (char *)file;
	if (args != NULL)
		cfg.args = (char *)args;
	if (retries >= 0) {
		retry.num_retries_opt_case =
		    BATCHD__V1__RETRY_STRATEGY__NUM_RETRIES_OPT_NUM_RETRIES;
		retry.num_retries = (uint32_t)retries;
		retry.retry_delay_seconds_opt_case =
		    BATCHD__V1__RETRY_STRATEGY__RETRY_DELAY_SECONDS_OPT_RETRY_DELAY_SECONDS;
		retry.retry_delay_seconds = (uint32_t)delay_s;
		cfg.retry_strategy = &retry;
	}
	req.name = (char *)name;
	req.config = &cfg;
	m = must_request(nc, ws, "jobdef.create", &req.base);
	r = batchd__v1__job_definition_reply__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(m),
	    (const uint8_t *)natsMsg_GetData(m));
	if (r == NULL)
		die("jobdef.create: reply does not decode");
	check_error("jobdef.create", r->error);
	snprintf(uuid, BUUID_LEN + 1, "%s", r->job_definition->uuid);
	batchd__v1__job_definition_reply__free_unpacked(r, NULL);
	natsMsg_Destroy(m);
}

/* Create a cluster (auto_resume) in ws; its uuid into uuid. */
void
bench_cluster(natsConnection *nc, const char *ws, const char *name,
    char *uuid)
{
	Batchd__V1__CreateClusterRequest	 req =
	    BATCHD__V1__CREATE_CLUSTER_REQUEST__INIT;
	Batchd__V1__ClusterConfig		 cc =
	    BATCHD__V1__CLUSTER_CONFIG__INIT;
	Batchd__V1__ClusterReply		*r;
	natsMsg					*m;

	cc.instance_type = "local";
	cc.workers_quantity = 1;
	cc.version = "3";
	req.name = (char *)name;
	req.config = &cc;
	req.auto_resume_opt_case =
	    BATCHD__V1__CREATE_CLUSTER_REQUEST__AUTO_RESUME_OPT_AUTO_RESUME;
	req.auto_resume = 1;
	m = must_request(nc, ws, "cluster.create", &req.base);
	r = batchd__v1__cluster_reply__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(m),
	    (const uint8_t *)natsMsg_GetData(m));
	if (r == NULL)
		die("cluster.create: reply does not decode");
	check_error("cluster.create", r->error);
	snprintf(uuid, BUUID_LEN + 1, "%s", r->cluster->uuid);
	batchd__v1__cluster_reply__free_unpacked(r, NULL);
	natsMsg_Destroy(m);
}

/* Submit a run of def on cluster; its uuid into run, its status back. */
int
bench_submit(natsConnection *nc, const char *ws, const char *def,
    const char *cluster, char *run)
{
	Batchd__V1__SubmitJobRunRequest	 req =
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__INIT;
	Batchd__V1__JobRunReply		*r;
	natsMsg				*m;
	int				 st;

	req.job_definition_uuid = (char *)def;
	req.cluster_uuid = (char *)cluster;
	m = must_request(nc, ws, "run.submit", &req.base);
	r = batchd__v1__job_run_reply__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(m),
	    (const uint8_t *)natsMsg_GetData(m));
	if (r == NULL)
		die("run.submit: reply does not decode");
	check_error("run.submit", r->error);
	snprintf(run, BUUID_LEN + 1, "%s", r->job_run->uuid);
	st = (int)r->job_run->status;
	batchd__v1__job_run_reply__free_unpacked(r, NULL);
	natsMsg_Destroy(m);
	return st;
}

/* run.get: the run's status and reason. */
void
bench_run_get(natsConnection *nc, const char *ws, const char *run,
    int *status, int *reason)
{
	Batchd__V1__GetJobRunRequest	 req = BATCHD__V1__GET_JOB_RUN_REQUEST__INIT;
	Batchd__V1__JobRunReply		*r;
	natsMsg				*m;

	req.uuid = (char *)run;
	m = must_request(nc, ws, "run.get", &req.base);
	r = batchd__v1__job_run_reply__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(m),
	    (const uint8_t *)natsMsg_GetData(m));
	if (r == NULL)
		die("run.get: reply does not decode");
	check_error("run.get", r->error);
	*status = (int)r->job_run->status;
	*reason = (int)r->job_run->reason;
	batchd__v1__job_run_reply__free_unpacked(r, NULL);
	natsMsg_Destroy(m);
}

/* A packed SubmitJobRunRequest, malloc'd; its length in *len. */
uint8_t *
bench_submit_payload(const char *def, const char *cluster, size_t *len)
{
	Batchd__V1__SubmitJobRunRequest	 req =
	    BATCHD__V1__SUBMIT_JOB_RUN_REQUEST__INIT;
	uint8_t				*p;

	req.job_definition_uuid = (char *)def;
	req.cluster_uuid = (char *)cluster;
	*len = batchd__v1__submit_job_run_request__get_packed_size(&req);
	p = emalloc(*len);
	batchd__v1__submit_job_run_request__pack(&req, p);
	return p;
}

/* ------------------------------------------------------------ collector */

struct collector {
	pthread_mutex_t	  mtx;
	pthread_cond_t	  cond;
	struct seen	 *v;
	size_t		  n, cap;
	natsSubscription *status_sub, *logs_sub;
	ZSTD_DCtx	 *dz;		/* the logs thread's */
	uint8_t		 *out;		/* a chunk's data decoded */
	size_t		  outcap;
};

/* Under mtx: the record of run, created if new. */
static struct seen *
seen_get(struct collector *c, const char *run)
{
	size_t	i;

	for (i = c->n; i > 0; i--)
		if (strcmp(c->v[i - 1].run, run) == 0)
			return &c->v[i - 1];
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 256 : c->cap * 2;
		c->v = erealloc(c->v, c->cap * sizeof *c->v);
	}
	memset(&c->v[c->n], 0, sizeof c->v[c->n]);
	snprintf(c->v[c->n].run, sizeof c->v[c->n].run, "%s", run);
	return &c->v[c->n++];
}

/* cnats thread: a status event; note RUNNING and the end. */
static void
on_status(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
	struct collector		*c = arg;
	Batchd__V1__JobRunStatusEvent	*ev;
	struct seen			*s;
	int64_t				 now = mono_ns();

	(void)nc;
	(void)sub;
	ev = batchd__v1__job_run_status_event__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(m),
	    (const uint8_t *)natsMsg_GetData(m));
	natsMsg_Destroy(m);
	if (ev == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	s = seen_get(c, ev->run_uuid);
	if (ev->status == BATCHD__V1__JOB_RUN_STATUS__RUNNING &&
	    s->t_running == 0)
		s->t_running = now;
	if ((ev->status == BATCHD__V1__JOB_RUN_STATUS__SUCCEEDED ||
	    ev->status == BATCHD__V1__JOB_RUN_STATUS__FAILED ||
	    ev->status == BATCHD__V1__JOB_RUN_STATUS__CANCELLED) &&
	    s->t_terminal == 0) {
		s->t_terminal = now;
		s->status = (int)ev->status;
		if (ev->usage != NULL) {
			s->wall_ms = ev->usage->wall_ms;
			s->cpu_us = ev->usage->user_cpu_us +
			    ev->usage->system_cpu_us;
		}
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mtx);
	batchd__v1__job_run_status_event__free_unpacked(ev, NULL);
}

/*
 * cnats thread: a LogChunk; decode it as a subscriber would (a ZSTD one
 * into c->out), count stdout bytes, check offsets. 0, or -1 if its data
 * does not decode to its size.
 */
static int
decode(struct collector *c, const Batchd__V1__LogChunk *ch, size_t *len)
{
	size_t	n;

	*len = ch->data.len;
	if (ch->encoding == BATCHD__V1__LOG_ENCODING__IDENTITY)
		return 0;
	if (ch->encoding != BATCHD__V1__LOG_ENCODING__ZSTD)
		return -1;
	if (ch->size > c->outcap)
		c->out = erealloc(c->out, c->outcap = ch->size);
	n = ZSTD_decompressDCtx(c->dz, c->out, c->outcap, ch->data.data,
	    ch->data.len);
	if (ZSTD_isError(n) || n != ch->size)
		return -1;
	*len = n;
	return 0;
}

static void
on_log(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
	struct collector	*c = arg;
	Batchd__V1__LogChunk	*ch;
	struct seen		*s;
	size_t			 len;
	int64_t			 now = mono_ns();
	int			 bad;

	(void)nc;
	(void)sub;
	ch = batchd__v1__log_chunk__unpack(NULL,
	    (size_t)natsMsg_GetDataLength(m),
	    (const uint8_t *)natsMsg_GetData(m));
	natsMsg_Destroy(m);
	if (ch == NULL)
		return;
	if (ch->stream != BATCHD__V1__LOG_STREAM__STDOUT) {
		batchd__v1__log_chunk__free_unpacked(ch, NULL);
		return;
	}
	bad = decode(c, ch, &len) == -1;
	pthread_mutex_lock(&c->mtx);
	s = seen_get(c, ch->run_uuid);
	s->wire += ch->data.len;
	if (bad)
		s->gaps++;
	else if (len > 0) {
		if (s->t_first == 0)
			s->t_first = now;
		if (ch->offset != s->next_off)
			s->gaps++;
		if (ch->offset + len > s->next_off) {
			s->bytes += ch->offset + len -
			    (ch->offset > s->next_off ? ch->offset :
			    s->next_off);
			s->next_off = ch->offset + len;
		}
	}
	if (ch->eof && s->t_eof == 0)
		s->t_eof = now;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mtx);
	batchd__v1__log_chunk__free_unpacked(ch, NULL);
}

/* Subscribe to ws's status events and log chunks on nc. */
struct collector *
collector_start(natsConnection *nc, const char *ws)
{
	struct collector	*c;
	char			 subject[256];
	natsStatus		 s;

	c = emalloc(sizeof *c);
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->mtx, NULL);
	pthread_cond_init(&c->cond, NULL);
	if ((c->dz = ZSTD_createDCtx()) == NULL)
		die("ZSTD_createDCtx: out of memory");
	snprintf(subject, sizeof subject, "batchd.v1.%s.status.>", ws);
	if ((s = natsConnection_Subscribe(&c->status_sub, nc, subject,
	    on_status, c)) != NATS_OK)
		die("subscribe %s: %s", subject, natsStatus_GetText(s));
	snprintf(subject, sizeof subject, "batchd.v1.%s.logs.>", ws);
	if ((s = natsConnection_Subscribe(&c->logs_sub, nc, subject,
	    on_log, c)) != NATS_OK)
		die("subscribe %s: %s", subject, natsStatus_GetText(s));
	natsSubscription_SetPendingLimits(c->status_sub, -1, -1);
	natsSubscription_SetPendingLimits(c->logs_sub, -1, -1);
	if ((s = natsConnection_Flush(nc)) != NATS_OK)
		die("flush: %s", natsStatus_GetText(s));
	return c;
}

/* Wait for pred on run's record (copied into out either way). */
int
collector_wait(struct collector *c, const char *run,
    int (*pred)(const struct seen *), int64_t timeout_ms, struct seen *out)
{
	struct timespec	 dl;
	struct seen	*s;
	int		 rc = -1;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->mtx);
	for (;;) {
		s = seen_get(c, run);
		if (pred(s)) {
			*out = *s;
			rc = 0;
			break;
		}
		if (pthread_cond_timedwait(&c->cond, &c->mtx, &dl) ==
		    ETIMEDOUT) {
			*out = *seen_get(c, run);
			break;
		}
	}
	pthread_mutex_unlock(&c->mtx);
	return rc;
}

/* Messages cnats dropped on the collector's subscriptions. */
uint64_t
collector_dropped(struct collector *c)
{
	int64_t	a = 0, b = 0;

	natsSubscription_GetDropped(c->status_sub, &a);
	natsSubscription_GetDropped(c->logs_sub, &b);
	return (uint64_t)(a + b);
}

/* Unsubscribe and free. */
void
collector_stop(struct collector *c)
{
	natsSubscription_Unsubscribe(c->status_sub);
	natsSubscription_Unsubscribe(c->logs_sub);
	natsSubscription_Destroy(c->status_sub);
	natsSubscription_Destroy(c->logs_sub);
	pthread_mutex_destroy(&c->mtx);
	pthread_cond_destroy(&c->cond);
	ZSTD_freeDCtx(c->dz);
	free(c->out);
	free(c->v);
	free(c);
}

/* ------------------------------------------------------------ processes */

/*
 * posix_spawn argv with stdin /dev/null, stdout fd (or a new pipe whose
 * read end goes to *rfd), stderr inherited, and the environment batchd
 * gives jobs (PATH, HOME, LANG), so both sides start the same way.
 */
pid_t
spawn_direct(char *const argv[], int fd, int *rfd)
{
	static char			*env[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp",
		"LANG=C.UTF-8", NULL
	};
	posix_spawn_file_actions_t	 fa;
	pid_t				 pid;
	int				 p[2] = { -1, -1 }, rc;

	if (fd < 0) {
		if (pipe2(p, O_CLOEXEC) == -1)
			die("pipe: %s", strerror(errno));
		fd = p[1];
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		die("posix_spawn %s: %s", argv[0], strerror(rc));
	if (p[1] != -1) {
		close(p[1]);
		*rfd = p[0];
	}
	return pid;
}

/* The first python3 on batchd's job PATH. */
const char *
python_path(void)
{
	static const char	*cands[] = {
		"/usr/local/bin/python3", "/usr/bin/python3", "/bin/python3"
	};
	size_t			 i;

	for (i = 0; i < sizeof cands / sizeof cands[0]; i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	die("python3 not found on /usr/local/bin:/usr/bin:/bin");
}
